package validate

import (
	"fmt"
	"slices"
	"strconv"
)

// exclusiveGroups are commands that set one thing: anaconda takes the last
// one given (or, for installation sources, one of them).
var exclusiveGroups = []struct {
	members []string
	todo    string
}{
	{[]string{"reboot", "poweroff", "halt", "shutdown"}, "anaconda does the last one; keep one of reboot, poweroff, halt or shutdown"},
	{[]string{"text", "graphical", "cmdline"}, "anaconda uses the last one; keep one of text, graphical or cmdline"},
	{[]string{"url", "nfs", "cdrom", "harddrive", "liveimg", "ostreesetup", "ostreecontainer", "bootc"},
		"anaconda installs from only one; keep one installation source"},
}

// duplicateKeys name what, for commands that may repeat, must differ
// between two uses (pykickstart warns about the same mount point, device,
// user... defined twice).
var duplicateKeys = map[string]struct {
	what string
	key  func(c *call) (string, bool)
}{
	"part":      {"a partition with mount point", mountPointKey},
	"partition": {"a partition with mount point", mountPointKey},
	"network":   {"a network device named", func(c *call) (string, bool) { return c.last("--device"), true }},
	"user":      {"a user named", optionKey("--name")},
	"group":     {"a group named", optionKey("--name")},
	"repo":      {"a repository named", optionKey("--name")},
	"sshkey":    {"an ssh key of user", optionKey("--username")},
	"sshpw":     {"an ssh password of user", optionKey("--username")},
	"raid":      {"a RAID device", optionKey("--device")},
	"volgroup":  {"a volume group named", func(c *call) (string, bool) { return first(c.args) }},
	"logvol": {"a logical volume", func(c *call) (string, bool) {
		if !c.has("--vgname") || !c.has("--name") {
			return "", false
		}
		return c.last("--vgname") + "/" + c.last("--name"), true
	}},
}

func first(words []string) (string, bool) {
	if len(words) == 0 {
		return "", false
	}
	return words[0], true
}

func mountPointKey(c *call) (string, bool) {
	m, ok := first(c.args)
	return m, ok && m != "swap"
}

func optionKey(name string) func(*call) (string, bool) {
	return func(c *call) (string, bool) { return c.last(name), c.has(name) }
}

// remember records c, warning about a second use of a command that anaconda
// takes once (the last one counts), a second member of an exclusive group,
// and the same thing defined twice.
func (k *checker) remember(c *call, s *spec) {
	if first, ok := k.first[c.name]; ok && !s.repeats {
		k.warn(c.at, fmt.Sprintf("%s appears again (first on %s): anaconda uses the last one; keep one", c.name, first.at))
	}
	for i, g := range exclusiveGroups {
		if !slices.Contains(g.members, c.name) {
			continue
		}
		if first, ok := k.group[i]; !ok {
			k.group[i] = c
		} else if first.name != c.name {
			k.warn(c.at, fmt.Sprintf("%s conflicts with %s on %s: %s", c.name, first.name, first.at, g.todo))
		}
	}
	if d, ok := duplicateKeys[c.name]; ok {
		if key, ok := d.key(c); ok {
			id := c.name + "\x00" + key
			switch first, seen := k.defined[id]; {
			case seen && key == "" && c.name == "network":
				k.warn(c.at, fmt.Sprintf("network without --device appears again (first on %s): both set the device the installer booted from; merge them", first.at))
			case seen:
				k.warn(c.at, fmt.Sprintf("%s %s is defined again (first on %s)", d.what, strconv.Quote(key), first.at))
			default:
				k.defined[id] = c
			}
		}
	}
	if _, ok := k.first[c.name]; !ok {
		k.first[c.name] = c
	}
	k.calls = append(k.calls, c)
}

// checkPartitioning reports autopart and mount used with the commands that
// describe a layout by hand, which anaconda refuses wherever they appear.
func (k *checker) checkPartitioning() {
	manual := []string{"part", "partition", "logvol", "volgroup", "raid", "reqpart"}
	if auto := k.first["autopart"]; auto != nil {
		if other := k.earliest(slices.Concat(manual, []string{"mount"})); other != nil {
			k.report(auto.at, fmt.Sprintf("autopart conflicts with %s on %s: use one partitioning method, autopart or part/logvol/volgroup/raid",
				other.name, other.at))
		}
	}
	if mount := k.first["mount"]; mount != nil {
		if other := k.earliest(manual); other != nil {
			k.report(mount.at, fmt.Sprintf("mount conflicts with %s on %s: use mount alone for existing devices, or describe the whole layout with part/logvol/volgroup/raid",
				other.name, other.at))
		}
	}
}

// earliest is the first command read whose name is one of names.
func (k *checker) earliest(names []string) *call {
	for _, c := range k.calls {
		if slices.Contains(names, c.name) {
			return c
		}
	}
	return nil
}
