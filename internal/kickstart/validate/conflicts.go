package validate

import (
	"fmt"
	"slices"
)

// exclusiveGroups are commands of which a kickstart may use only one.
var exclusiveGroups = []struct {
	members []string
	todo    string
}{
	{[]string{"reboot", "poweroff", "halt", "shutdown"}, "keep one of reboot, poweroff, halt or shutdown"},
	{[]string{"text", "graphical", "cmdline"}, "keep one of text, graphical or cmdline"},
	{[]string{"url", "nfs", "cdrom", "harddrive", "liveimg", "ostreesetup", "ostreecontainer"}, "use one installation source"},
}

// remember records c, reporting a second use of a command that may appear
// once and a second member of an exclusive group.
func (k *checker) remember(c *call, s *spec) {
	if first, ok := k.first[c.name]; ok && !s.repeats {
		k.report(c.at, fmt.Sprintf("%s appears again (first on %s): keep one", c.name, first.at))
	}
	for i, g := range exclusiveGroups {
		if !slices.Contains(g.members, c.name) {
			continue
		}
		if first, ok := k.group[i]; !ok {
			k.group[i] = c
		} else if first.name != c.name {
			k.report(c.at, fmt.Sprintf("%s conflicts with %s on %s: %s", c.name, first.name, first.at, g.todo))
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
