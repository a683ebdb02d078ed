package validate_test

import (
	"fmt"

	"kickstand/internal/kickstart/validate"
)

func ExampleCheck() {
	text := `text
url --url=http://10.0.0.1/distros/rocky9/
autopart --type=btrfs
part /boot --size=1024
rootpw changeme
%post
echo done
`
	for _, p := range validate.Check(text, validate.Options{}) {
		fmt.Println(p)
	}
	// Output:
	// line 3: autopart --type=btrfs is not supported on RHEL: use lvm, plain or thinp
	// line 3: autopart conflicts with part on line 4: use one partitioning method, autopart or part/logvol/volgroup/raid
	// line 5: warning: rootpw password is plaintext: whoever can read the kickstart can read it; give a hash from `openssl passwd -6` with --iscrypted
	// line 6: %post has no %end: add %end after its last line
}
