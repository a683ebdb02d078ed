package validate

import (
	"strings"
	"testing"
)

// constructs are the constructs of issue 9 and the differences between
// versions, each with its verdict per version: "E" when anaconda stops on
// it (an error), "W" when it only warns, "ok" when neither. The verdicts
// are pykickstart 3.74's (its parser with warnings recorded, as anaconda
// runs it), except where kickstand warns about more than pykickstart does
// (a plaintext password, a command or an installation source given twice):
// those are warnings here and nothing there, never errors; and where
// anaconda's own list of sections is narrower than pykickstart's
// (%certificate is not in RHEL 8's anaconda).
var constructs = []struct {
	name, text                   string
	rhel8, rhel9, rhel10, fedora string
}{
	{"allowssh", "rootpw --iscrypted --allow-ssh $6$x\n", "E", "ok", "ok", "ok"},
	{"ambig", "firewall --e\n", "E", "E", "E", "E"},
	{"auth", "auth --enableshadow --passalgo=sha512\n", "W", "W", "E", "E"},
	{"autostep", "autostep\n", "ok", "W", "E", "E"},
	{"bootc", "bootc --source-imgref=quay.io/x\n", "E", "E", "ok", "ok"},
	{"btrfs", "btrfs / --subvol --name=root fedora\n", "W", "W", "E", "ok"},
	{"btrfspart", "part btrfs.01 --size=1\nbtrfs / btrfs.01\n", "E", "E", "E", "ok"},
	{"cert", "%certificate --filename=ca.pem --dir=/etc/pki/ca-trust/source/anchors\n-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n%end\n", "E", "ok", "ok", "ok"},
	{"certnofile", "%certificate --dir=/etc/pki\nabc\n%end\n", "E", "E", "E", "E"},
	{"device", "device --opts=aic152x=0x340 aic7xxx\n", "W", "E", "E", "E"},
	{"disable", "bootloader --disable\n", "ok", "ok", "ok", "ok"},
	{"firstboot", "firstboot --enable --reconfig\n", "ok", "ok", "ok", "ok"},
	{"fstypebtrfs", "part / --fstype=btrfs --size=1\n", "E", "E", "E", "ok"},
	{"hibernation", "autopart --hibernation\n", "E", "E", "ok", "ok"},
	{"ignorebroken", "%packages --ignorebroken\n%end\n", "E", "E", "E", "ok"},
	{"ignoregroups", "repo --name=x --baseurl=http://a/ --ignoregroups=true\n", "ok", "W", "E", "E"},
	{"instlangs", "%packages --instLangs=en\n%end\n", "ok", "W", "E", "W"},
	{"instlangs2", "%packages --inst-langs=en\n%end\n", "E", "ok", "ok", "ok"},
	{"ipv4dns", "network --device=eth0 --ipv4-dns-search=example.com\n", "E", "ok", "ok", "ok"},
	{"iscr", "rootpw --iscr $6$abc$def\n", "ok", "ok", "ok", "ok"},
	{"isutc", "timezone Europe/Berlin --isUtc\n", "ok", "W", "E", "W"},
	{"langtwice", "lang en_US\nlang de_DE\n", "W", "W", "W", "W"},
	{"loglevel", "logging --level=info\n", "ok", "W", "E", "E"},
	{"method", "method\n", "W", "W", "E", "E"},
	{"mkfs", "part / --mkfsoptions \"-m bigtime=0,inobtcount=0\" --grow --size=1\n", "ok", "ok", "ok", "ok"},
	{"module", "module --name=nodejs --stream=18\n", "ok", "ok", "W", "W"},
	{"nettwice", "network --device=eth0 --bootproto=dhcp\nnetwork --device=eth0 --hostname=x\n", "W", "W", "W", "W"},
	{"nontp", "timezone Europe/Berlin --nontp\n", "ok", "W", "E", "W"},
	{"ntpservers", "timezone Europe/Berlin --ntpservers=a,b\n", "ok", "W", "E", "W"},
	{"parttwice", "part / --size=1\npart / --size=2\n", "W", "W", "W", "W"},
	{"plain", "rootpw --plain secret\n", "W", "W", "W", "W"},
	{"rdp", "rdp --username=a --password=b\n", "E", "E", "ok", "ok"},
	{"rebootshut", "reboot\nshutdown\n", "W", "W", "W", "W"},
	{"reponame", "repo --name=AppStream\n", "ok", "ok", "ok", "ok"},
	{"rhsm", "rhsm --organization=x --activation-key=y\n", "ok", "ok", "ok", "E"},
	{"sdboot", "bootloader --sdboot\n", "E", "E", "ok", "ok"},
	{"selinux2", "selinux --enforcing --disabled\n", "W", "W", "W", "W"},
	{"textcmd", "text\ncmdline\n", "W", "W", "W", "W"},
	{"timesource", "timesource --ntp-server=a\n", "E", "ok", "ok", "ok"},
	{"traceback", "%traceback\necho\n%end\n", "ok", "W", "W", "W"},
	{"urlcdrom", "url --url=http://a/\ncdrom\n", "W", "W", "W", "W"},
	{"vnc", "vnc --password=x\n", "ok", "ok", "W", "W"},
	{"weak", "%packages --excludeWeakdeps\n%end\n", "ok", "W", "E", "W"},
	{"zerombryes", "zerombr yes\n", "E", "E", "E", "E"}}

func TestConstructsByVersion(t *testing.T) {
	for _, c := range constructs {
		for _, v := range Versions {
			want := map[Version]string{RHEL8: c.rhel8, RHEL9: c.rhel9, RHEL10: c.rhel10, Fedora: c.fedora}[v]
			got := Check(c.text, Options{Version: v})
			verdict := "ok"
			switch {
			case Errors(got) != nil:
				verdict = "E"
			case got != nil:
				verdict = "W"
			}
			if verdict != want {
				t.Errorf("%s on %s: %s, want %s\n%s%s", c.name, v, verdict, want, listProblems(got), strings.TrimSpace(c.text))
			}
		}
	}
}

// The messages of the constructs: what anaconda says, and what to do.
func TestConstructMessages(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version Version
		text    string
		want    []want
	}{
		{"a beginning of an option", RHEL9, ks("bootloader --disable", "rootpw --iscr $6$x"), nil},
		{"an ambiguous beginning", RHEL9, ks("firewall --e"), []want{{1, "firewall --e is ambiguous: it could be --enabled or --enable; write the option in full"}}},
		{"a value that begins with a dash", RHEL9, ks(`part / --mkfsoptions "-m bigtime=0,inobtcount=0" --grow --size=1`), nil},
		{"a dash value that is a word of its own", RHEL9, ks("part / --mkfsoptions -m --size=1"), []want{{1, "part --mkfsoptions needs a value"}, {1, "part has no option -m"}}},
		{"plaintext root password", RHEL9, ks("rootpw --plain secret"), []want{{1, "rootpw password is plaintext: whoever can read the kickstart can read it"}}},
		{"halt and reboot are one command", RHEL9, ks("reboot", "shutdown"), []want{{2, "shutdown conflicts with reboot on line 1: anaconda does the last one"}}},
		{"a once-only command twice", RHEL9, ks("lang en_US", "lang de_DE"), []want{{2, "lang appears again (first on line 1): anaconda uses the last one"}}},
		{"a mount point twice", RHEL9, ks("part / --size=1", "part / --size=2"), []want{{2, `a partition with mount point "/" is defined again (first on line 1)`}}},
		{"a network device twice", RHEL9, ks("network --device=eth0 --bootproto=dhcp", "network --device=eth0 --hostname=h"), []want{{2, `a network device named "eth0" is defined again`}}},
		{"a repository of the install tree", RHEL9, ks("repo --name=AppStream"), nil},
		{"%certificate", RHEL9, ks("%certificate --filename=ca.pem --dir=/etc/pki/ca-trust/source/anchors", "-----BEGIN CERTIFICATE-----", "%end"), nil},
		{"firstboot reconfig", RHEL9, ks("firstboot --enable --reconfig"), nil},
		{"timezone --isUtc", RHEL9, ks("timezone Europe/Berlin --isUtc"), []want{{1, "timezone --isUtc will be deprecated: write --utc"}}},
		{"timezone --isUtc removed", RHEL10, ks("timezone Europe/Berlin --isUtc"), []want{{1, "timezone has no option --isUtc"}}},
		{"%packages --instLangs", RHEL9, ks("%packages --instLangs=en", "%end"), []want{{1, "%packages --instLangs will be deprecated: write --inst-langs"}}},
		{"logging --level", RHEL9, ks("logging --level=info"), []want{{1, "logging --level is deprecated and has no effect"}}},
		{"logging --level removed", RHEL10, ks("logging --level=info"), []want{{1, "logging --level was removed in RHEL 10: remove it"}}},
		{"auth on RHEL 9", RHEL9, ks("auth --enableshadow"), []want{{1, "auth will be deprecated and has no effect (RHEL 9 has no authconfig): use authselect"}}},
		{"auth on RHEL 10", RHEL10, ks("auth --enableshadow"), []want{{1, "auth was removed: use authselect"}}},
		{"autopart --hibernation on RHEL 9", RHEL9, ks("autopart --hibernation"), []want{{1, "autopart has no option --hibernation"}}},
		{"%packages --ignorebroken on RHEL 9", RHEL9, ks("%packages --ignorebroken", "%end"), []want{{1, "%packages has no option --ignorebroken"}}},
		{"%packages --ignorebroken on Fedora", Fedora, ks("%packages --ignorebroken", "%end"), nil},
		{"timesource on RHEL 8", RHEL8, ks("timesource --ntp-server=a"), []want{{1, "unknown command timesource"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expect(t, Check(tc.text, Options{Version: tc.version}), tc.want)
		})
	}
}

func TestVersions(t *testing.T) {
	for in, want := range map[string]Version{"rhel8": RHEL8, "RHEL9": RHEL9, "10": RHEL10, "fedora": Fedora, "F43": Fedora} {
		if v, err := ParseVersion(in); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, v, err, want)
		}
	}
	if _, err := ParseVersion("rhel7"); err == nil {
		t.Error("ParseVersion accepted rhel7")
	}
	for _, tc := range []struct {
		family, version string
		want            Version
		ok              bool
	}{
		{"Rocky Linux", "9.6", RHEL9, true},
		{"AlmaLinux", "8.10", RHEL8, true},
		{"Red Hat Enterprise Linux", "10.0", RHEL10, true},
		{"CentOS Stream", "10", RHEL10, true},
		{"Fedora", "41", Fedora, true},
		{"Debian", "12", RHEL9, false},
	} {
		if v, ok := VersionFor(tc.family, tc.version); v != tc.want || ok != tc.ok {
			t.Errorf("VersionFor(%q, %q) = %v, %v; want %v, %v", tc.family, tc.version, v, ok, tc.want, tc.ok)
		}
	}
}
