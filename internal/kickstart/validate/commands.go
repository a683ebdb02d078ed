package validate

import (
	"maps"
	"slices"
	"strings"
)

// The command tables are anaconda's RHEL 9 commands (pykickstart's RHEL9
// handler), written from Red Hat's "Kickstart commands and options
// reference" for RHEL 9 and pykickstart's documentation; tableFor changes
// them for the other versions. Deprecated commands and options are
// accepted with a warning, as anaconda only logs them.

// generalCommands are the commands that do not lay out disks.
var generalCommands = map[string]*spec{
	"authselect": {freeform: true}, // options belong to authselect(8)
	"cdrom":      {},
	"cmdline":    {},
	"driverdisk": {
		options: []option{text("--source"), text("--biospart")},
		args:    argRange{0, 1, "one partition holding the driver disk"},
		repeats: true,
	},
	"eula": {
		options: []option{flag("--agreed", "--agree", "--accepted", "--accept")},
		rules:   []rule{need("--agreed")},
	},
	"fcoe": {
		options: []option{text("--nic"), flag("--dcb"), flag("--autovlan")},
		repeats: true,
		rules:   []rule{need("--nic")},
	},
	"firewall": {
		options: []option{
			flag("--enabled", "--enable"), flag("--disabled", "--disable"),
			text("--port"), text("--trust"), text("--service"), text("--remove-service"),
			flag("--ftp"), flag("--http"), flag("--smtp"), flag("--ssh"), flag("--use-system-defaults"),
		},
		rules: []rule{lastWins("--enabled", "--disabled")},
	},
	"firstboot": {
		options: []option{flag("--enable", "--enabled"), flag("--disable", "--disabled"), flag("--reconfig")},
		rules:   []rule{lastWins("--enable", "--disable")},
	},
	"graphical": {options: []option{flag("--non-interactive")}},
	"group": {
		options: []option{text("--name"), number("--gid")},
		repeats: true,
		rules:   []rule{need("--name")},
	},
	"halt": {options: rebootOptions},
	"harddrive": {
		options: []option{text("--partition"), text("--dir"), gone("--biospart", "name the partition with --partition")},
		rules:   []rule{need("--partition", "--dir")},
	},
	"hmc": {},
	"ignoredisk": {
		options: []option{text("--drives"), text("--only-use"), gone("--interactive", "remove it")},
		rules:   []rule{exactlyOne("--drives", "--only-use")},
	},
	"iscsi": {
		options: []option{
			text("--target"), text("--ipaddr"), text("--port"), text("--iface"),
			text("--user"), text("--password"), text("--reverse-user"), text("--reverse-password"),
		},
		repeats: true,
		rules:   []rule{need("--ipaddr")},
	},
	"iscsiname": {args: argRange{1, 1, "one iSCSI initiator name"}},
	"keyboard": {
		options: []option{text("--vckeymap"), text("--xlayouts"), text("--switch")},
		args:    argRange{0, 1, "one keyboard layout"},
		rules:   []rule{keyboardRule},
	},
	"lang": {
		options: []option{text("--addsupport")},
		args:    argRange{1, 1, "one language, e.g. lang en_US.UTF-8"},
	},
	"liveimg": {
		options: []option{text("--url"), text("--proxy"), text("--checksum"), flag("--noverifyssl")},
		rules:   []rule{need("--url")},
	},
	"logging": {
		options: []option{text("--host"), number("--port"),
			deprecated(oneOf("--level", "debug", "info", "warning", "error", "critical"), "is deprecated and has no effect: remove it")},
	},
	"mediacheck": {},
	"module": {
		options: []option{text("--name"), text("--stream"), flag("--disable")},
		repeats: true,
		rules:   []rule{need("--name")},
	},
	"network": {options: networkOptions, repeats: true, rules: []rule{lastWins("--activate", "--no-activate")}},
	"nfs": {
		options: []option{text("--server"), text("--dir"), text("--opts")},
		rules:   []rule{need("--server", "--dir")},
	},
	"nvdimm": {
		options: []option{text("--namespace"), text("--blockdevs"), oneOf("--mode", "sector"), number("--sectorsize")},
		args:    argRange{1, 1, "an action, reconfigure or use"},
		repeats: true,
		rules:   []rule{firstArgIn("reconfigure", "use")},
	},
	"ostreecontainer": {
		options: []option{text("--stateroot"), text("--remote"), text("--url"), text("--transport"), flag("--no-signature-verification")},
		rules:   []rule{need("--url")},
	},
	"ostreesetup": {
		options: []option{text("--osname"), text("--remote"), text("--url"), text("--ref"), flag("--nogpg")},
		rules:   []rule{need("--osname", "--url", "--ref")},
	},
	"poweroff": {options: rebootOptions},
	"realm":    {freeform: true, rules: []rule{firstArgIn("join")}}, // options after join belong to realm(8)
	"reboot":   {options: rebootOptions},
	"repo": {
		options: []option{
			text("--name"), text("--baseurl"), text("--mirrorlist"), text("--metalink"),
			number("--cost"), text("--excludepkgs"), text("--includepkgs"), deprecated(boolean("--ignoregroups"), "is deprecated and has no effect: remove it"),
			text("--proxy"), flag("--noverifyssl"), flag("--install"),
			text("--sslcacert"), text("--sslclientcert"), text("--sslclientkey"),
		},
		repeats: true,
		rules:   []rule{need("--name"), atMostOne("--baseurl", "--mirrorlist", "--metalink")},
	},
	"rescue": {
		options: []option{flag("--nomount"), flag("--romount")},
		rules:   []rule{atMostOne("--nomount", "--romount")},
	},
	"rhsm": {
		options: []option{
			text("--organization"), text("--activation-key"), flag("--connect-to-insights"),
			text("--proxy"), text("--server-hostname"), text("--rhsm-baseurl"),
		},
	},
	"rootpw": {
		options: []option{flag("--iscrypted"), flag("--plaintext"), flag("--lock"), flag("--allow-ssh")},
		args:    argRange{0, 1, "one password"},
		rules:   []rule{rootpwRule},
	},
	"selinux": {
		options: []option{flag("--enforcing"), flag("--permissive"), flag("--disabled")},
		rules:   []rule{lastWins("--enforcing", "--permissive", "--disabled")},
	},
	"services": {
		options: []option{text("--enabled"), text("--disabled")},
		rules:   []rule{atLeastOne("--enabled", "--disabled")},
	},
	"shutdown": {options: rebootOptions},
	"skipx":    {},
	"sshkey": {
		options: []option{text("--username")},
		args:    argRange{1, 1, `one quoted public key, e.g. sshkey --username=root "ssh-ed25519 AAAA... me@host"`},
		repeats: true,
		rules:   []rule{need("--username")},
	},
	"sshpw": {
		options: []option{text("--username"), flag("--iscrypted"), flag("--plaintext"), flag("--lock"), flag("--sshkey")},
		args:    argRange{1, 1, "one password, or a quoted key with --sshkey"},
		repeats: true,
		rules:   []rule{need("--username"), lastWins("--iscrypted", "--plaintext"), sshpwRule},
	},
	"syspurpose": {options: []option{text("--role"), text("--sla"), text("--usage"), text("--addon")}},
	"text":       {options: []option{flag("--non-interactive")}},
	"timesource": {
		options: []option{text("--ntp-server"), text("--ntp-pool"), flag("--ntp-disable"), flag("--nts")},
		repeats: true,
		rules:   []rule{exactlyOne("--ntp-server", "--ntp-pool", "--ntp-disable")},
	},
	"timezone": {
		options: []option{
			flag("--utc"),
			deprecated(flag("--isUtc"), "will be deprecated: write --utc"),
			deprecated(flag("--nontp"), "will be deprecated: use timesource --ntp-disable"),
			deprecated(text("--ntpservers"), "will be deprecated: use timesource --ntp-server"),
		},
		args:  argRange{0, 1, "one time zone, e.g. timezone Europe/Berlin --utc"},
		rules: []rule{timezoneRule},
	},
	"updates": {args: argRange{0, 1, "one URL of an updates image"}},
	"url": {
		options: []option{text("--url"), text("--mirrorlist"), text("--metalink"), text("--proxy"), flag("--noverifyssl")},
		rules:   []rule{exactlyOne("--url", "--mirrorlist", "--metalink")},
	},
	"user": {
		options: []option{
			text("--name"), text("--gecos"), text("--groups"), text("--homedir"), text("--shell"),
			text("--password"), flag("--iscrypted"), flag("--plaintext"), flag("--lock"),
			number("--uid"), number("--gid"),
		},
		repeats: true,
		rules:   []rule{need("--name"), userPasswordRule},
	},
	"vnc":     {options: []option{text("--password"), text("--connect")}},
	"xconfig": {options: []option{text("--defaultdesktop"), flag("--startxonboot")}},
	"zfcp": {
		options: []option{text("--devnum"), text("--wwpn"), text("--fcplun")},
		repeats: true,
		rules:   []rule{need("--devnum")},
	},
	"zipl": {
		options: []option{flag("--secure-boot"), flag("--no-secure-boot"), flag("--force-secure-boot")},
		rules:   []rule{lastWins("--secure-boot", "--no-secure-boot", "--force-secure-boot")},
	},
}

var rebootOptions = []option{flag("--eject"), flag("--kexec")}

var networkOptions = []option{
	oneOf("--bootproto", "dhcp", "bootp", "static", "query", "ibft"),
	text("--device"), text("--interfacename"), text("--bindto"),
	text("--ip"), text("--netmask"), text("--gateway"), text("--nameserver"), flag("--nodns"),
	text("--ipv6"), text("--ipv6gateway"), flag("--noipv4"), flag("--noipv6"), flag("--nodefroute"),
	text("--hostname"), text("--mtu"), text("--ethtool"), text("--dhcpclass"),
	boolean("--onboot"), flag("--activate"), flag("--no-activate"), flag("--notksdevice"),
	text("--essid"), text("--wepkey"), text("--wpakey"),
	text("--bondslaves"), text("--bondopts"), number("--vlanid"),
	text("--teamslaves"), text("--teamconfig"), text("--bridgeslaves"), text("--bridgeopts"),
	text("--ipv4-dns-search"), text("--ipv6-dns-search"),
	flag("--ipv4-ignore-auto-dns"), flag("--ipv6-ignore-auto-dns"),
}

// removedCommands are commands anaconda rejects on RHEL 9, with what to do
// instead; each message follows the command's name.
var removedCommands = map[string]string{
	"device":               "was removed: drivers load automatically; use driverdisk or the inst.dd boot option for extra ones",
	"deviceprobe":          "was removed: delete it",
	"dmraid":               "was removed: firmware RAID is found automatically; delete it",
	"install":              "was removed: delete it, an installation source (url, nfs, cdrom, harddrive, liveimg) is enough",
	"interactive":          "was removed: delete it, and leave out a command to be asked for it",
	"key":                  "was removed: delete it, and register with rhsm instead",
	"langsupport":          "was removed: use lang --addsupport",
	"lilo":                 "was removed: use bootloader",
	"lilocheck":            "was removed: delete it",
	"monitor":              "was removed: delete it",
	"mouse":                "was removed: delete it",
	"multipath":            "was removed: multipath devices are found automatically; delete it",
	"pwpolicy":             "is not a command: set the password policy in an %anaconda section",
	"unsupported_hardware": "was removed in RHEL 8: delete it",
	"upgrade":              "was removed: kickstart only installs; upgrade with leapp instead",
}

func joinTables(tables ...map[string]*spec) map[string]*spec {
	all := map[string]*spec{}
	for _, t := range tables {
		maps.Copy(all, t)
	}
	return all
}

func (t *table) commandNames() []string {
	return slices.Sorted(maps.Keys(t.commands))
}

// deprecated makes o a warning.
func deprecated(o option, warning string) option {
	o.deprecated = warning
	return o
}

func keyboardRule(c *call, _ Options) []finding {
	if len(c.args) == 0 && !c.has("--vckeymap") && !c.has("--xlayouts") {
		return errs("keyboard needs --vckeymap or --xlayouts, e.g. keyboard --vckeymap=us --xlayouts=us")
	}
	return nil
}

func timezoneRule(c *call, _ Options) []finding {
	if len(c.args) == 0 && len(c.opts) == 0 {
		return errs("timezone needs a time zone, e.g. timezone Europe/Berlin --utc")
	}
	return nil
}

// plaintext is what a plaintext password is under the policy: a warning, or
// an error that says how to hash it.
func plaintext(what string, opt Options) finding {
	if opt.Passwords == PasswordsRefuse {
		return finding{Error, what + " is plaintext, which the password policy refuses: give a hash from `openssl passwd -6` with --iscrypted (or --password-policy warn)"}
	}
	return finding{Warning, what + " is plaintext: whoever can read the kickstart can read it; give a hash from `openssl passwd -6` with --iscrypted"}
}

func rootpwRule(c *call, opt Options) []finding {
	out := lastWins("--iscrypted", "--plaintext")(c, opt)
	switch {
	case len(c.args) == 0 && !c.has("--lock"):
		out = append(out, errs("rootpw needs a password hash (rootpw --iscrypted HASH) or --lock")...)
	case len(c.args) > 0 && !c.has("--iscrypted") && !c.has("--lock"):
		out = append(out, plaintext("rootpw password", opt))
	}
	return out
}

func userPasswordRule(c *call, opt Options) []finding {
	out := lastWins("--iscrypted", "--plaintext")(c, opt)
	if c.has("--password") && !c.has("--iscrypted") {
		out = append(out, plaintext("user --password", opt))
	}
	return out
}

func sshpwRule(c *call, opt Options) []finding {
	if len(c.args) > 0 && !c.has("--iscrypted") && !c.has("--sshkey") && !c.has("--lock") {
		return []finding{plaintext("sshpw password", opt)}
	}
	return nil
}

// firstArgIn requires the first argument to be one of words.
func firstArgIn(words ...string) rule {
	return func(c *call, _ Options) []finding {
		if len(c.args) == 0 {
			if c.name == "realm" {
				return errs("realm needs join: write realm join DOMAIN")
			}
			return nil // the argument count is reported already
		}
		if !slices.Contains(words, c.args[0]) {
			return errs(c.name + " " + c.args[0] + " is not valid: use " + strings.Join(words, " or "))
		}
		return nil
	}
}
