package validate

import (
	"slices"
	"strconv"
	"strings"
)

const btrfsWhy = "is not supported on RHEL: use xfs or ext4"

// fstype is --fstype as blivet on RHEL knows it, by type or by name; btrfs
// is refused there (Fedora has it). pykickstart takes any value: one blivet
// does not know stops the install when storage is set up, so an unknown one
// is a warning (the list may lag blivet's).
var fstype = option{
	names: []string{"--fstype"}, kind: choiceKind, fold: true, open: true,
	choices: []string{
		"xfs", "ext4", "ext3", "ext2", "vfat", "swap", "efi", "biosboot", "prepboot",
		"appleboot", "macefi", "hfs", "hfs+", "lvmpv", "mdmember", "ntfs", "iso9660", "tmpfs",
		"gfs2", "jfs", "reiserfs", "luks", "stratis",
		// blivet's display names, which it takes too.
		"ppc prep boot", "bios boot", "efi system partition", "apple bootstrap", "linux hfs+ esp",
		"physical volume (lvm)", "software raid",
	},
}.refusing("btrfs", btrfsWhy)

// encryption is the LUKS options shared by every command that can encrypt.
var encryption = []option{
	flag("--encrypted"), text("--passphrase"), text("--escrowcert"), flag("--backuppassphrase"),
	text("--cipher"), oneOf("--luks-version", "luks1", "luks2"),
	oneOf("--pbkdf", "argon2i", "argon2id", "pbkdf2"),
	number("--pbkdf-memory"), number("--pbkdf-time"), number("--pbkdf-iterations"),
}

// formatting is the file system options shared by part, logvol and raid.
var formatting = []option{
	fstype, text("--fsoptions"), text("--fsprofile"), text("--mkfsoptions"), text("--label"), flag("--noformat"),
}

func withOptions(lists ...[]option) []option {
	var all []option
	for _, l := range lists {
		all = append(all, l...)
	}
	return all
}

// partFstype is --fstype as part knows it: also spelled --type.
var partFstype = func() option {
	o := fstype
	o.names = []string{"--fstype", "--type"}
	return o
}()

var partitionSpec = &spec{
	options: withOptions(encryption, []option{partFstype}, formatting[1:], []option{
		number("--size"), number("--maxsize"), flag("--grow"), flag("--recommended"), flag("--hibernation"),
		text("--ondisk", "--ondrive"), text("--onpart", "--usepart"), text("--onbiosdisk"),
		flag("--asprimary"), flag("--resize"),
		gone("--active", "remove it, the installer marks the boot partition itself"),
	}),
	args:    argRange{1, 1, "a mount point such as /, /boot, swap, biosboot, pv.01 or raid.01"},
	repeats: true,
	rules:   []rule{mountPointRule},
}

// storageCommands are the commands that lay out disks and boot.
var storageCommands = map[string]*spec{
	"autopart": {
		options: withOptions(encryption, []option{
			oneOf("--type", "lvm", "plain", "partition", "thinp").folded().refusing("btrfs", "is not supported on RHEL: use lvm, plain or thinp"),
			fstype, flag("--nolvm"), flag("--nohome"), flag("--noboot"), flag("--noswap"),
		}),
	},
	"bootloader": {
		options: []option{
			text("--append"), oneOf("--location", "mbr", "partition", "none", "boot"), text("--boot-drive"),
			text("--driveorder"), number("--timeout"), text("--default"), flag("--leavebootorder"),
			text("--password"), flag("--iscrypted"), text("--md5pass"),
			flag("--extlinux"), flag("--disabled"), flag("--nombr"),
			gone("--upgrade", "remove it, kickstart only installs"),
		},
	},
	"clearpart": {
		options: []option{
			flag("--all"), flag("--linux"), flag("--none"), text("--list"),
			text("--drives"), flag("--initlabel"), text("--disklabel"), flag("--cdl"),
		},
		rules: []rule{lastWins("--all", "--linux", "--none", "--list")},
	},
	"logvol": {
		options: withOptions(encryption, formatting, []option{
			text("--vgname"), text("--name"), flag("--useexisting"),
			number("--size"), number("--maxsize"), number("--percent"), flag("--grow"),
			flag("--recommended"), flag("--hibernation"), flag("--resize"),
			flag("--thinpool"), flag("--thin"), text("--poolname"), number("--chunksize"), number("--metadatasize"), text("--profile"),
			number("--cachesize"), oneOf("--cachemode", "writeback", "writethrough"), text("--cachepvs"),
		}),
		args:    argRange{1, 1, "a mount point such as /, /var or swap"},
		repeats: true,
		rules:   []rule{need("--vgname", "--name"), mountPointRule},
	},
	"mount": {
		options: []option{maybe("--reformat"), text("--mkfsoptions"), text("--mountoptions")},
		args:    argRange{2, 2, "a device and a mount point, e.g. mount /dev/sdb1 /data"},
		repeats: true,
		rules:   []rule{mountRule},
	},
	"part":      partitionSpec,
	"partition": partitionSpec,
	"raid": {
		options: withOptions(encryption, formatting, []option{
			text("--device"), oneOf("--level", raidLevels...).folded(),
			number("--spares"), number("--chunksize"), flag("--useexisting"),
		}),
		args:    argRange{1, -1, "a mount point and its member partitions, e.g. raid / --device=md0 --level=RAID1 raid.01 raid.02"},
		repeats: true,
		rules:   []rule{need("--device"), raidLevelRule, mountPointRule},
	},
	"reqpart": {options: []option{flag("--add-boot")}},
	"snapshot": {
		options: []option{text("--name"), oneOf("--when", "pre-install", "post-install")},
		args:    argRange{1, 1, "one thin logical volume as VG/LV"},
		repeats: true,
		rules:   []rule{need("--name", "--when")},
	},
	"volgroup": {
		options: []option{flag("--noformat"), flag("--useexisting"), number("--pesize"), number("--reserved-space"), number("--reserved-percent")},
		args:    argRange{1, -1, "a volume group name and its physical volumes, e.g. volgroup vg0 pv.01"},
		repeats: true,
	},
	"zerombr": {},
}

var raidLevels = []string{
	"raid0", "raid1", "raid4", "raid5", "raid6", "raid10",
	"0", "1", "4", "5", "6", "10", "stripe", "mirror", "linear",
}

func raidLevelRule(c *call, _ Options) []finding {
	if !c.has("--level") && !c.has("--useexisting") && !c.has("--noformat") {
		return errs("raid needs --level, e.g. --level=RAID1")
	}
	return nil
}

// mountPointRule checks the mount point of part, logvol and raid.
func mountPointRule(c *call, opt Options) []finding {
	if len(c.args) == 0 {
		return nil // the argument count is reported already
	}
	mnt := c.args[0]
	switch {
	case strings.HasPrefix(mnt, "btrfs.") && opt.Version != Fedora:
		return errs(c.name + " " + mnt + ": btrfs " + btrfsWhy)
	case strings.HasPrefix(mnt, "btrfs."):
	case strings.HasPrefix(mnt, "/") && !strings.ContainsAny(mnt, " \t"):
	case slices.Contains([]string{"swap", "none", "biosboot", "prepboot", "appleboot"}, mnt):
	case strings.HasPrefix(mnt, "pv.") || strings.HasPrefix(mnt, "raid."):
	default:
		return errs(c.name + " mount point " + strconv.Quote(mnt) + " is not valid: use an absolute path such as /home, swap, biosboot, pv.NAME or raid.NAME")
	}
	return nil
}

func mountRule(c *call, _ Options) []finding {
	var out []string
	if len(c.args) == 2 && !strings.EqualFold(c.args[1], "none") && !strings.HasPrefix(c.args[1], "/") {
		out = append(out, "mount mount point "+strconv.Quote(c.args[1])+" is not valid: use an absolute path such as /data, or none")
	}
	if c.has("--mkfsoptions") && !c.has("--reformat") {
		out = append(out, "mount --mkfsoptions needs --reformat: add --reformat=FSTYPE")
	}
	return errs(out...)
}
