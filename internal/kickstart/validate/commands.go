package validate

import (
	"maps"
	"slices"
	"strings"
)

// commands is anaconda's RHEL 9 command table (pykickstart's RHEL9 handler),
// written from Red Hat's "Kickstart commands and options reference" for
// RHEL 9 and pykickstart's documentation. Deprecated commands and options
// are accepted, as anaconda only logs a warning for them.
var commands = joinTables(generalCommands, storageCommands)

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
		rules: []rule{atMostOne("--enabled", "--disabled")},
	},
	"firstboot": {
		options: []option{flag("--enable", "--enabled"), flag("--disable", "--disabled"), flag("--reconfig")},
		rules:   []rule{atMostOne("--enable", "--disable", "--reconfig")},
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
		options: []option{text("--host"), number("--port"), oneOf("--level", "debug", "info", "warning", "error", "critical")},
	},
	"mediacheck": {},
	"module": {
		options: []option{text("--name"), text("--stream"), flag("--disable")},
		repeats: true,
		rules:   []rule{need("--name")},
	},
	"network": {options: networkOptions, repeats: true, rules: []rule{atMostOne("--activate", "--no-activate")}},
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
			number("--cost"), text("--excludepkgs"), text("--includepkgs"), boolean("--ignoregroups"),
			text("--proxy"), flag("--noverifyssl"), flag("--install"),
			text("--sslcacert"), text("--sslclientcert"), text("--sslclientkey"),
		},
		repeats: true,
		rules:   []rule{need("--name"), exactlyOne("--baseurl", "--mirrorlist", "--metalink")},
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
		rules:   []rule{atMostOne("--enforcing", "--permissive", "--disabled")},
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
		rules:   []rule{need("--username"), atMostOne("--iscrypted", "--plaintext")},
	},
	"syspurpose": {options: []option{text("--role"), text("--sla"), text("--usage"), text("--addon")}},
	"text":       {options: []option{flag("--non-interactive")}},
	"timesource": {
		options: []option{text("--ntp-server"), text("--ntp-pool"), flag("--ntp-disable"), flag("--nts")},
		repeats: true,
		rules:   []rule{exactlyOne("--ntp-server", "--ntp-pool", "--ntp-disable")},
	},
	"timezone": {
		options: []option{flag("--utc", "--isUtc"), flag("--nontp"), text("--ntpservers")},
		args:    argRange{0, 1, "one time zone, e.g. timezone Europe/Berlin --utc"},
		rules:   []rule{timezoneRule},
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
		rules:   []rule{atMostOne("--secure-boot", "--no-secure-boot", "--force-secure-boot")},
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
	"auth":                 "is not supported on RHEL 9, which has no authconfig: use authselect",
	"authconfig":           "is not supported on RHEL 9, which has no authconfig: use authselect",
	"autostep":             "was removed in RHEL 9: delete it",
	"btrfs":                "is not supported on RHEL 9: use part or logvol with --fstype=xfs or ext4",
	"device":               "was removed in RHEL 9: drivers load automatically; use driverdisk or the inst.dd boot option for extra ones",
	"deviceprobe":          "was removed in RHEL 9: delete it",
	"dmraid":               "was removed in RHEL 9: firmware RAID is found automatically; delete it",
	"install":              "was removed in RHEL 9: delete it, an installation source (url, nfs, cdrom, harddrive, liveimg) is enough",
	"interactive":          "was removed: delete it, and leave out a command to be asked for it",
	"key":                  "was removed: delete it, and register with rhsm instead",
	"langsupport":          "was removed: use lang --addsupport",
	"lilo":                 "was removed: use bootloader",
	"lilocheck":            "was removed: delete it",
	"method":               "was removed in RHEL 9: use url, nfs, cdrom, harddrive or liveimg directly",
	"monitor":              "was removed: delete it",
	"mouse":                "was removed: delete it",
	"multipath":            "was removed in RHEL 9: multipath devices are found automatically; delete it",
	"pwpolicy":             "belongs in an %anaconda section and is deprecated in RHEL 9: delete it, or set the policy in the anaconda configuration",
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

func commandNames() []string {
	return slices.Sorted(maps.Keys(commands))
}

func keyboardRule(c *call, _ Options) []string {
	if len(c.args) == 0 && !c.has("--vckeymap") && !c.has("--xlayouts") {
		return []string{"keyboard needs --vckeymap or --xlayouts, e.g. keyboard --vckeymap=us --xlayouts=us"}
	}
	return nil
}

func timezoneRule(c *call, _ Options) []string {
	if len(c.args) == 0 && len(c.opts) == 0 {
		return []string{"timezone needs a time zone, e.g. timezone Europe/Berlin --utc"}
	}
	return nil
}

// plaintextWhy says why a plaintext password is refused, and what to do.
const plaintextWhy = "is plaintext in a file served over HTTP: give a hash from `openssl passwd -6` with --iscrypted"

func rootpwRule(c *call, opt Options) []string {
	var out []string
	if c.has("--iscrypted") && c.has("--plaintext") {
		out = append(out, "rootpw takes only one of --iscrypted or --plaintext: keep one")
	}
	switch {
	case len(c.args) == 0 && !c.has("--lock"):
		out = append(out, "rootpw needs a password hash (rootpw --iscrypted HASH) or --lock")
	case len(c.args) > 0 && !c.has("--iscrypted") && !c.has("--lock") && !opt.AllowPlaintextRootpw:
		out = append(out, "rootpw password "+plaintextWhy+", or use --lock")
	}
	return out
}

func userPasswordRule(c *call, opt Options) []string {
	var out []string
	if c.has("--iscrypted") && c.has("--plaintext") {
		out = append(out, "user takes only one of --iscrypted or --plaintext: keep one")
	}
	if c.has("--password") && !c.has("--iscrypted") && !opt.AllowPlaintextRootpw {
		out = append(out, "user --password "+plaintextWhy)
	}
	return out
}

// firstArgIn requires the first argument to be one of words.
func firstArgIn(words ...string) rule {
	return func(c *call, _ Options) []string {
		if len(c.args) == 0 {
			if c.name == "realm" {
				return []string{"realm needs join: write realm join DOMAIN"}
			}
			return nil // the argument count is reported already
		}
		if !slices.Contains(words, c.args[0]) {
			return []string{c.name + " " + c.args[0] + " is not valid: use " + strings.Join(words, " or ")}
		}
		return nil
	}
}
