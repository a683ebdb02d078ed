package validate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// ks joins lines into a kickstart.
func ks(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// want is one expected problem: its line and a part of its message.
type want struct {
	line int
	has  string
}

// badKickstarts each hold exactly the problems listed, in order.
var badKickstarts = []struct {
	name string
	text string
	want []want
}{
	// Commands.
	{"unknown command", ks("text", "instal"), []want{{2, "unknown command instal"}}},
	{"typo hint", ks("autopartt"), []want{{1, "unknown command autopartt: did you mean autopart?"}}},
	{"package outside %packages", ks("@core"), []want{{1, "belong between %packages and %end"}}},
	{"removed install", ks("install", "url --url=http://10.0.0.1/os/"), []want{{1, "install was removed: delete it"}}},
	{"removed upgrade", ks("upgrade"), []want{{1, "upgrade with leapp"}}},
	{"removed device", ks("device --opts=aic152x=0x340"), []want{{1, "device was removed"}}},
	{"dmraid and multipath", ks("dmraid --name=x --dev=sda", "multipath --name=mp"), []want{{1, "dmraid was removed"}, {2, "multipath was removed"}}},

	// Options.
	{"unknown option with hint", ks("autopart --typo=lvm"), []want{{1, "autopart has no option --typo: did you mean --type?"}}},
	{"unknown option", ks("zerombr --everything"), []want{{1, "zerombr has no option --everything: remove it"}}},
	{"single dash option", ks("part / -grow --size=1"), []want{{1, "part has no option -grow: did you mean --grow?"}}},
	{"removed option", ks("bootloader --upgrade"), []want{{1, "bootloader --upgrade was removed in RHEL 9"}}},
	{"removed ignoredisk --interactive", ks("ignoredisk --interactive"), []want{
		{1, "ignoredisk --interactive was removed"}, {1, "ignoredisk needs --drives or --only-use"}}},
	{"removed part --active", ks("part /boot --size=512 --active"), []want{{1, "part --active was removed"}}},
	{"removed harddrive --biospart", ks("harddrive --biospart=82p2 --dir=/tree"), []want{
		{1, "harddrive --biospart was removed"}, {1, "harddrive needs --partition"}}},
	{"value missing at end", ks("network --hostname"), []want{{1, "network --hostname needs a value: write --hostname=VALUE"}}},
	{"value missing before option", ks("network --hostname --activate"), []want{{1, "network --hostname needs a value"}}},
	{"flag given a value", ks("autopart --encrypted=yes --passphrase=x"), []want{{1, "autopart --encrypted takes no value"}}},
	{"autopart btrfs", ks("autopart --type=btrfs"), []want{{1, "autopart --type=btrfs is not supported on RHEL: use lvm, plain or thinp"}}},
	{"autopart bad type", ks("autopart --type zfs"), []want{{1, "autopart --type=zfs is not valid: use one of lvm, plain, partition, thinp"}}},
	{"bootloader location", ks("bootloader --location=mbrr"), []want{{1, "use one of mbr, partition, none, boot"}}},
	{"bootproto", ks("network --bootproto=dhcpp --device=eth0"), []want{{1, "network --bootproto=dhcpp is not valid: use one of dhcp, bootp, static, query, ibft"}}},
	{"onboot", ks("network --bootproto=dhcp --onboot=maybe"), []want{{1, "network --onboot=maybe is not a yes/no value"}}},
	{"size with unit", ks("part / --size=10G"), []want{{1, "part --size=10G is not a whole number"}}},
	{"part btrfs", ks("part / --fstype=btrfs --size=1024"), []want{{1, "part --fstype=btrfs is not supported on RHEL"}}},
	{"part unknown fstype", ks("part / --fstype=zfs --size=1024"), []want{{1, "part --fstype=zfs is not valid"}}},
	{"luks version", ks("autopart --encrypted --luks-version=luks3"), []want{{1, "use one of luks1, luks2"}}},
	{"snapshot when", ks("snapshot vg/root --name=pre --when=later"), []want{{1, "snapshot --when=later is not valid: use one of pre-install, post-install"}}},

	// Arguments.
	{"part without mount point", ks("part --size=100"), []want{{1, "part needs a mount point"}}},
	{"part bad mount point", ks("part home --size=1"), []want{{1, `part mount point "home" is not valid`}}},
	{"part btrfs member", ks("part btrfs.01 --size=1"), []want{{1, "part btrfs.01: btrfs is not supported"}}},
	{"autopart takes none", ks("autopart lvm"), []want{{1, `autopart takes no arguments: remove "lvm"`}}},
	{"lang needs one", ks("lang"), []want{{1, "lang needs one language"}}},
	{"lang takes one", ks(`lang "en_US.UTF-8" de_DE`), []want{{1, `lang takes only one language, e.g. lang en_US.UTF-8: remove "de_DE"`}}},
	{"zerombr yes", ks("zerombr yes"), []want{{1, `zerombr takes no arguments: remove "yes"`}}},
	{"mount needs two", ks("mount /dev/sdb1"), []want{{1, "mount needs a device and a mount point"}}},
	{"mount --reformat takes the next word", ks("mount --reformat /dev/sdb1 /data"), []want{{1, "mount needs a device and a mount point"}}},
	{"mount mkfsoptions", ks(`mount /dev/sdb1 /data "--mkfsoptions=-m 0"`), []want{{1, "mount --mkfsoptions needs --reformat"}}},
	{"realm leave", ks("realm leave example.com"), []want{{1, "realm leave is not valid: use join"}}},
	{"nvdimm action", ks("nvdimm configure --namespace=namespace0.0"), []want{{1, "nvdimm configure is not valid: use reconfigure or use"}}},

	// Required and exclusive options.
	{"user needs name", ks("user --groups=wheel --lock"), []want{{1, "user needs --name"}}},
	{"url needs a source", ks("url --proxy=http://proxy:3128"), []want{{1, "url needs --url, --mirrorlist or --metalink"}}},
	{"url takes one source", ks("url --url=http://a/ --mirrorlist=http://b/"), []want{{1, "url takes only one of --url, --mirrorlist or --metalink, got --url and --mirrorlist"}}},
	{"repo needs a name", ks("repo --cost=10"), []want{{1, "repo needs --name"}}},
	{"repo takes one source", ks("repo --name=x --baseurl=http://a/ --metalink=http://b/"), []want{{1, "repo takes only one of --baseurl, --mirrorlist or --metalink"}}},
	{"keyboard needs a layout", ks("keyboard --switch=grp:alt_shift_toggle"), []want{{1, "keyboard needs --vckeymap or --xlayouts"}}},
	{"eula needs agreed", ks("eula"), []want{{1, "eula needs --agreed"}}},
	{"sshkey needs user and key", ks("sshkey"), []want{{1, "sshkey needs one quoted public key"}, {1, "sshkey needs --username"}}},

	{"timesource needs a source", ks("timesource --nts"), []want{{1, "timesource needs --ntp-server, --ntp-pool or --ntp-disable"}}},
	{"services needs a list", ks("services"), []want{{1, "services needs --enabled or --disabled"}}},
	{"raid needs device and level", ks("raid / raid.01 raid.02"), []want{{1, "raid needs --device"}, {1, "raid needs --level"}}},
	{"logvol needs vg and name", ks("logvol / --size=1024"), []want{{1, "logvol needs --vgname"}, {1, "logvol needs --name"}}},
	{"fcoe needs nic", ks("fcoe --dcb"), []want{{1, "fcoe needs --nic"}}},

	// Passwords.
	{"rootpw without password", ks("rootpw --iscrypted"), []want{{1, "rootpw needs a password hash (rootpw --iscrypted HASH) or --lock"}}},

	// Commands that exclude each other.
	{"autopart and part", ks("autopart", "part / --size=1024"), []want{{1, "autopart conflicts with part on line 2: use one partitioning method"}}},
	{"autopart after reqpart", ks("reqpart", "autopart --type=lvm"), []want{{2, "autopart conflicts with reqpart on line 1"}}},
	{"autopart and volgroup", ks("volgroup vg0 pv.01", "logvol / --vgname=vg0 --name=root --size=1", "autopart"), []want{{3, "autopart conflicts with volgroup on line 1"}}},
	{"mount and part", ks("part /boot --size=1024", "mount /dev/sdb1 /data"), []want{{2, "mount conflicts with part on line 1"}}},

	// Sections.
	{"unterminated section", ks("text", "%post", "echo done"), []want{{2, "%post has no %end: add %end after its last line"}}},
	{"stray %end", ks("text", "%end"), []want{{2, "%end without an open section"}}},
	{"nested section", ks("%pre", "echo one", "%post", "echo two", "%end"), []want{{3, "%post starts inside %pre opened on line 1: end %pre with %end first"}}},
	{"unknown section", ks("%poste", "echo", "%end"), []want{{1, "unknown section %poste: did you mean %post?"}}},
	{"unknown section without hint", ks("%scripts", "%end"), []want{{1, "unknown section %scripts in RHEL 9: use %addon, %anaconda, %certificate"}}},
	{"script option typo", ks("%post --nochroots", "%end"), []want{{1, "%post has no option --nochroots: did you mean --nochroot?"}}},
	{"nochroot on pre", ks("%pre --nochroot", "%end"), []want{{1, "%pre has no option --nochroot: remove it"}}},
	{"onerror log needs value", ks("%onerror --log", "%end"), []want{{1, "%onerror --log needs a value"}}},
	{"packages removed option", ks("%packages --nobase", "%end"), []want{{1, "%packages --nobase was removed in RHEL 9"}}},
	{"packages default and nocore", ks("%packages --default --nocore", "%end"), []want{{1, "%packages takes only one of --default or --nocore"}}},
	{"packages retries", ks("%packages --retries=many", "%end"), []want{{1, "%packages --retries=many is not a whole number"}}},
	{"addon without name", ks("%addon --enable", "%end"), []want{{1, "%addon needs the addon's name first"}}},
	{"body is not parsed but its end is", ks("%post", "instal everything", "%end", "instal"), []want{{4, "unknown command instal"}}},

	// Includes without a resolver.
	{"include without path", ks("%include"), []want{{1, "%include needs a file path"}}},
	// Without a resolver, includes are not followed and not refused: anaconda
	// fetches URLs, and only the installer knows its files.
	{"include of a file that cannot be checked", ks("%include /srv/ks/common.ks"), nil},
	{"ksappend of a URL that cannot be checked", ks("%ksappend http://10.0.0.1/common.ks"), nil},

	// Tokenising.
	{"unclosed quote", ks(`bootloader --append="console=ttyS0`), []want{{1, "a quote is not closed"}}},
	{"line continuation", ks(`network --bootproto=static \`, "  --ip=10.0.0.5"), []want{
		{1, `a trailing \ does not continue`}, {2, "unknown command --ip=10.0.0.5: options belong on the same line as their command"}}},
	{"package exclusion outside %packages", ks("-plymouth"), []want{{1, "belong between %packages and %end"}}},
	{"hash inside a word", ks("rootpw --iscrypted $6$ab#cd"), []want{{1, `"#" inside a word starts a comment`}}},
	{"several problems in line order", ks("lang", "autopart --typo", "%post"), []want{
		{1, "lang needs"}, {2, "autopart has no option --typo"}, {3, "%post has no %end"}}},
}

func TestCheckBadKickstarts(t *testing.T) {
	for _, tc := range badKickstarts {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, Check(tc.text, Options{}), tc.want)
		})
	}
}

func expect(t *testing.T, got []Problem, wants []want) {
	t.Helper()
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Line == wants[i].line && strings.Contains(got[i].Message, wants[i].has)
	}
	if !ok {
		t.Errorf("got:\n%s\nwant:\n%s", listProblems(got), listWants(wants))
	}
}

func listProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "\t%s\n", p)
	}
	return b.String()
}

func listWants(ws []want) string {
	var b strings.Builder
	for _, w := range ws {
		fmt.Fprintf(&b, "\tline %d: …%s…\n", w.line, w.has)
	}
	return b.String()
}

func TestProblemString(t *testing.T) {
	if got := (Problem{Line: 12, Message: "autopart conflicts with part on line 14"}).String(); got != "line 12: autopart conflicts with part on line 14" {
		t.Errorf("String() = %q", got)
	}
}

func TestCheckNoProblemsIsNil(t *testing.T) {
	if got := Check(ks("text", "autopart"), Options{}); got != nil {
		t.Errorf("Check = %#v, want nil", got)
	}
}

func TestPasswordPolicy(t *testing.T) {
	text := ks("rootpw changeme", "user --name=admin --password=changeme", "sshpw --username=admin secret")
	got := Check(text, Options{})
	expect(t, got, []want{{1, "rootpw password is plaintext"}, {2, "user --password is plaintext"}, {3, "sshpw password is plaintext"}})
	if len(Errors(got)) != 0 {
		t.Errorf("plaintext passwords are errors by default: %v", got)
	}
	got = Check(text, Options{Passwords: PasswordsRefuse})
	if len(Errors(got)) != 3 || !strings.Contains(got[0].Message, "openssl passwd -6") {
		t.Errorf("with the refuse policy: %v, want 3 errors saying how to hash", got)
	}
}

// files is an Options.Include over a map, failing like a missing file.
func files(m map[string]string) func(string) (string, error) {
	return func(path string) (string, error) {
		text, ok := m[path]
		if !ok {
			return "", errors.New("no such file")
		}
		return text, nil
	}
}

func TestInclude(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		files map[string]string
		want  []want
	}{
		{"problem inside included text",
			ks("text", "%include /srv/ks/common.ks"),
			map[string]string{"/srv/ks/common.ks": ks("lang en_US.UTF-8", "autopart --typo")},
			[]want{{2, "in /srv/ks/common.ks line 2: autopart has no option --typo"}}},
		{"include returns an error",
			ks("%include /srv/ks/missing.ks"), map[string]string{},
			[]want{{1, "%include /srv/ks/missing.ks is not checked: no such file; the installer must be able to read it"}}},
		{"a file from %pre is fine without a resolver",
			ks("%include /tmp/part-include", "%include /run/install/net"), nil, nil},
		{"a file from %pre is fine when it does not resolve",
			ks("%include /tmp/part-include", "%include /run/../tmp/net"), map[string]string{}, nil},
		{"a file from %pre is not read from this host even when it is there",
			ks("%include /tmp/part-include"),
			map[string]string{"/tmp/part-include": ks("part / --fstype=btrfs")},
			nil},
		{"a relative include is read beside the file that includes it",
			ks("%include common.ks"),
			map[string]string{"/srv/ks/common.ks": ks("%include parts/disk.ks"), "/srv/ks/parts/disk.ks": ks("autopart --typo")},
			[]want{{1, "in /srv/ks/common.ks line 1: in /srv/ks/parts/disk.ks line 1: autopart has no option --typo"}}},
		{"ksappend is followed too",
			ks("%ksappend http://10.0.0.1/extra.ks"),
			map[string]string{"http://10.0.0.1/extra.ks": ks("instal")},
			[]want{{1, "in http://10.0.0.1/extra.ks line 1: unknown command instal"}}},
		{"nested includes name every file",
			ks("text", "", "%include /a.ks"),
			map[string]string{"/a.ks": ks("# a", "%include /b.ks"), "/b.ks": ks("lang")},
			[]want{{3, "in /a.ks line 2: in /b.ks line 1: lang needs one language"}}},
		{"a command repeated across files",
			ks("lang en_US.UTF-8", "%include /srv/lang.ks"),
			map[string]string{"/srv/lang.ks": ks("lang de_DE.UTF-8")},
			[]want{{2, "in /srv/lang.ks line 1: lang appears again (first on line 1)"}}},
		{"a conflict names the included line",
			ks("autopart", "%include /srv/part-include"),
			map[string]string{"/srv/part-include": ks("", "part / --size=1024")},
			[]want{{1, "autopart conflicts with part on line 2 of /srv/part-include (included on line 2)"}}},
		{"include loop",
			ks("%include /a.ks"),
			map[string]string{"/a.ks": ks("%include /b.ks"), "/b.ks": ks("%include /a.ks")},
			[]want{{1, "in /a.ks line 1: in /b.ks line 1: %include /a.ks includes itself through a loop"}}},
		{"included text continues an open section",
			ks("%post", "%include /srv/post-body.sh", "%end"),
			map[string]string{"/srv/post-body.sh": ks("echo hello", "%end", "%post --nochroot", "echo bye")},
			nil},
		{"a section left open by an include",
			ks("%include /srv/post.ks"),
			map[string]string{"/srv/post.ks": ks("%post", "echo")},
			[]want{{1, "in /srv/post.ks line 1: %post has no %end"}}},
		{"include inside %packages",
			ks("%packages", "%include /srv/pkgs.txt", "%end"),
			map[string]string{"/srv/pkgs.txt": ks("@^minimal-environment", "vim-enhanced")},
			nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Path: "/srv/ks/top.ks"}
			if tc.files != nil {
				opt.Include = files(tc.files)
			}
			expect(t, Check(tc.text, opt), tc.want)
		})
	}
}

func TestIncludeDepthIsBounded(t *testing.T) {
	deeper := func(path string) (string, error) { return "%include " + path + "/x\n", nil }
	got := Check("%include /k\n", Options{Include: deeper})
	if len(got) != 1 || got[0].Line != 1 || !strings.Contains(got[0].Message, "nested more than 8 deep") {
		t.Errorf("got:\n%s", listProblems(got))
	}
}

func TestIncludeFanOutIsBounded(t *testing.T) {
	fanOut := func(path string) (string, error) {
		return fmt.Sprintf("%%include %s/a\n%%include %s/b\n", path, path), nil
	}
	got := Check("%include /k\n", Options{Include: fanOut})
	if len(got) == 0 || !strings.Contains(got[len(got)-1].Message, "one include too many") {
		t.Errorf("got:\n%s", listProblems(got))
	}
}

// TestValidCorpus checks real-world-style RHEL 9 family kickstarts.
func TestValidCorpus(t *testing.T) {
	paths, err := filepath.Glob("testdata/valid/*.ks")
	if err != nil || len(paths) < 8 {
		t.Fatalf("want at least 8 kickstarts in testdata/valid, got %d (%v)", len(paths), err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) { expectValid(t, path) })
	}
}

// TestProjectTemplate checks the kickstarts that the project's own default
// template renders (the golden files of package kickstart).
func TestProjectTemplate(t *testing.T) {
	paths, err := filepath.Glob("../testdata/*.ks")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden kickstarts in ../testdata (%v)", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			expectValid(t, path)
			// The built-in template serves every release kickstand knows.
			text, _ := os.ReadFile(path)
			for _, v := range Versions {
				if got := Check(string(text), Options{Version: v}); got != nil {
					t.Errorf("%s on %s:\n%s", path, v, listProblems(got))
				}
			}
		})
	}
}

func expectValid(t *testing.T, path string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := Check(string(text), Options{})
	if errs := Errors(got); errs != nil {
		t.Errorf("%s:\n%s", path, listProblems(errs))
	}
	// The warnings anaconda gives (pykickstart's, checked with its
	// ksvalidator) are listed beside the file.
	want, err := os.ReadFile(path + ".warnings")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if got := listProblems(Warnings(got)); got != string(want) {
		t.Errorf("%s warnings:\n%s\nwant (%s.warnings):\n%s", path, got, path, want)
	}
}

func FuzzCheck(f *testing.F) {
	paths, _ := filepath.Glob("testdata/valid/*.ks")
	golden, _ := filepath.Glob("../testdata/*.ks")
	for _, path := range append(paths, golden...) {
		text, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(text))
	}
	for _, tc := range badKickstarts {
		f.Add(tc.text)
	}
	// Included text is a line of the path's own name, so the fuzzer can
	// reach nesting, loops and sections that span files.
	include := func(path string) (string, error) {
		if strings.HasPrefix(path, "/missing") {
			return "", errors.New("no such file")
		}
		return strings.TrimPrefix(path, "/") + "\n%include " + path + "x\n", nil
	}
	// Lines hidden from a check that splits at LF only (anaconda splits
	// with Python's str.splitlines).
	f.Add("text\n# a comment\u2028%pre\nreboot\n")
	f.Add("bootloader --location=mbr\x1c%post --interpreter=/bin/sh\r\nreboot\r%end\n")
	f.Fuzz(func(t *testing.T, text string) {
		lines := len(pythonSplitLines(text))
		// Any line break anaconda knows counts as a LF: the problems of text
		// and of text with plain LFs are the same.
		plain := strings.Join(pythonSplitLines(text), "\n")
		for _, opt := range []Options{{}, {Include: include, Passwords: PasswordsRefuse, Version: RHEL8}} {
			problems := Check(text, opt)
			for _, p := range problems {
				if p.Line < 1 || p.Line > lines {
					t.Fatalf("%s: line out of 1..%d", p, lines)
				}
				if p.Message == "" {
					t.Fatalf("line %d: empty message", p.Line)
				}
			}
			if again := Check(plain, opt); !reflect.DeepEqual(again, problems) {
				t.Fatalf("problems %v, but with plain line breaks %v", problems, again)
			}
		}
	})
}

// pythonSplitLines is Python's str.splitlines for the fuzz target, except
// that like strings.Split it keeps the empty line after a final break, and
// bytes that are not UTF-8 stay as they are.
func pythonSplitLines(s string) []string {
	var lines []string
	var line strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch r {
		case '\r', '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			if r == '\r' && strings.HasPrefix(s[n:], "\n") {
				n++
			}
			lines = append(lines, line.String())
			line.Reset()
		default:
			line.WriteString(s[:n])
		}
		s = s[n:]
	}
	return append(lines, line.String())
}

// TestAnacondaLineBreaks: anaconda ends a line at every line break of
// Python's str.splitlines, so a section behind one is a section.
func TestAnacondaLineBreaks(t *testing.T) {
	for _, text := range []string{
		"text\n# a comment\u2028%pre\nreboot\n",
		"text\nlang en_US\x1c%pre\n",
		"text\nlang en_US\r%pre\n",
		"text\nlang en_US\u0085%post\n",
	} {
		problems := Check(text, Options{})
		if len(problems) != 1 || !strings.Contains(problems[0].Message, "has no %end") {
			t.Errorf("Check(%q) = %v, want the section without %%end", text, problems)
		}
	}
	if problems := Check("text\r\nlang en_US\r\nreboot\r\n", Options{}); problems != nil {
		t.Errorf("Check(CR LF) = %v", problems)
	}
}
