package validate

import (
	"maps"
	"slices"
	"sync"
)

// table is the syntax of one version: the commands it parses, the ones it
// accepts with a warning and no effect, the ones it refuses, its sections.
type table struct {
	version    Version
	commands   map[string]*spec
	deprecated map[string]string // command → the warning after its name
	removed    map[string]string // command → the error after its name
	sections   map[string]*spec
	// sectionDeprecated: section → the warning after its name.
	sectionDeprecated map[string]string
}

var (
	tablesOnce sync.Once
	tables     map[Version]*table
)

// tableFor returns the syntax of v, built once.
func tableFor(v Version) *table {
	tablesOnce.Do(func() {
		tables = map[Version]*table{}
		for _, v := range Versions {
			tables[v] = buildTable(v)
		}
	})
	if t, ok := tables[v]; ok {
		return t
	}
	return tables[RHEL9]
}

// buildTable is RHEL 9's syntax (commands.go, storage.go, sections.go)
// changed to what v has, from pykickstart's handlers of each version.
func buildTable(v Version) *table {
	t := &table{
		version:           v,
		commands:          cloneSpecs(joinTables(generalCommands, storageCommands)),
		deprecated:        maps.Clone(deprecatedCommands),
		removed:           maps.Clone(removedCommands),
		sections:          cloneSpecs(sections),
		sectionDeprecated: map[string]string{"%traceback": "is deprecated: use %onerror"},
	}
	switch v {
	case RHEL8:
		patchRHEL8(t)
	case RHEL10:
		patchLater(t)
		patchRHEL10(t)
	case Fedora:
		patchLater(t)
		patchFedora(t)
	}
	return t
}

// cloneSpecs copies every spec, so that a version's changes stay its own;
// two names for one spec (part, partition) stay one.
func cloneSpecs(in map[string]*spec) map[string]*spec {
	copies := map[*spec]*spec{}
	out := map[string]*spec{}
	for name, s := range in {
		c, ok := copies[s]
		if !ok {
			dup := *s
			dup.options = slices.Clone(s.options)
			dup.rules = slices.Clone(s.rules)
			c = &dup
			copies[s] = c
		}
		out[name] = c
	}
	return out
}

// options returns the specs of the named commands or sections.
func (t *table) specs(names ...string) []*spec {
	var out []*spec
	seen := map[*spec]bool{}
	for _, n := range names {
		s := t.commands[n]
		if s == nil {
			s = t.sections[n]
		}
		if s != nil && !seen[s] {
			out = append(out, s)
			seen[s] = true
		}
	}
	return out
}

// dropOption makes name unknown to the named commands.
func (t *table) dropOption(name string, commands ...string) {
	for _, s := range t.specs(commands...) {
		s.options = slices.DeleteFunc(s.options, func(o option) bool { return slices.Contains(o.names, name) })
	}
}

// addOption gives the named commands o.
func (t *table) addOption(o option, commands ...string) {
	for _, s := range t.specs(commands...) {
		s.options = append(s.options, o)
	}
}

// changeOption edits the option name of the named commands.
func (t *table) changeOption(name string, edit func(*option), commands ...string) {
	for _, s := range t.specs(commands...) {
		if o := s.option(name); o != nil {
			edit(o)
		}
	}
}

// deprecateOption makes name a warning in the named commands.
func (t *table) deprecateOption(name, warning string, commands ...string) {
	t.changeOption(name, func(o *option) { o.deprecated = warning }, commands...)
}

// removeOption makes name an error that says what to do instead.
func (t *table) removeOption(name, todo string, commands ...string) {
	t.changeOption(name, func(o *option) { *o = gone(name, todo) }, commands...)
}

// deprecate makes a command a warning with no effect.
func (t *table) deprecate(command, warning string) {
	delete(t.commands, command)
	delete(t.removed, command)
	t.deprecated[command] = warning
}

// remove makes a command an error.
func (t *table) remove(command, why string) {
	delete(t.commands, command)
	delete(t.deprecated, command)
	t.removed[command] = why
}

// add makes a command known.
func (t *table) add(command string, s *spec) {
	delete(t.deprecated, command)
	delete(t.removed, command)
	t.commands[command] = s
}

// deprecatedCommands are the commands RHEL 9 parses but ignores, with a
// warning, as anaconda does.
var deprecatedCommands = map[string]string{
	"autostep":   "is deprecated and has no effect: remove it",
	"btrfs":      "is deprecated and has no effect (RHEL has no btrfs): use part or logvol with --fstype=xfs or ext4",
	"method":     "is deprecated and has no effect: use url, nfs, cdrom, harddrive or liveimg directly",
	"auth":       "will be deprecated and has no effect (RHEL 9 has no authconfig): use authselect",
	"authconfig": "will be deprecated and has no effect (RHEL 9 has no authconfig): use authselect",
}

// patchRHEL8 turns RHEL 9's syntax into RHEL 8's.
func patchRHEL8(t *table) {
	for _, c := range []string{"device", "deviceprobe", "dmraid", "install", "multipath"} {
		t.deprecate(c, "is deprecated and has no effect: remove it")
	}
	t.add("autostep", &spec{options: []option{flag("--autoscreenshot")}})
	t.deprecated["auth"] = "will be deprecated: use authselect"
	t.deprecated["authconfig"] = "will be deprecated: use authselect"
	delete(t.commands, "timesource")
	delete(t.commands, "ostreecontainer")
	t.changeOption("--upgrade", func(o *option) { *o = flag("--upgrade"); o.deprecated = "is deprecated and has no effect: remove it" }, "bootloader")
	t.changeOption("--biospart", func(o *option) { *o = text("--biospart") }, "harddrive")
	t.changeOption("--interactive", func(o *option) {
		*o = flag("--interactive")
		o.deprecated = "is deprecated and has no effect: remove it"
	}, "ignoredisk")
	t.changeOption("--active", func(o *option) { *o = flag("--active"); o.deprecated = "is deprecated and has no effect: remove it" }, "part")
	t.changeOption("--level", func(o *option) { o.deprecated = "" }, "logging")
	for _, o := range []string{"--ipv4-dns-search", "--ipv6-dns-search", "--ipv4-ignore-auto-dns", "--ipv6-ignore-auto-dns"} {
		t.dropOption(o, "network")
	}
	t.changeOption("--ignoregroups", func(o *option) { o.deprecated = "" }, "repo")
	t.dropOption("--allow-ssh", "rootpw")
	delete(t.sectionDeprecated, "%traceback")
	delete(t.sections, "%certificate") // pykickstart parses it, RHEL 8's anaconda does not
	for _, o := range []string{"--isUtc", "--nontp", "--ntpservers"} {
		t.deprecateOption(o, "", "timezone")
	}
	// RHEL 8's %packages knows only the camel-case spellings.
	t.dropOption("--inst-langs", "%packages")
	t.dropOption("--exclude-weakdeps", "%packages")
	t.deprecateOption("--instLangs", "", "%packages")
	t.deprecateOption("--excludeWeakdeps", "", "%packages")
}

// patchLater turns RHEL 9's syntax into what RHEL 10 and Fedora share.
func patchLater(t *table) {
	for _, c := range []string{"auth", "authconfig"} {
		t.remove(c, "was removed: use authselect")
	}
	t.remove("autostep", "was removed: delete it")
	t.remove("method", "was removed: use url, nfs, cdrom, harddrive or liveimg directly")
	t.deprecate("module", "is deprecated and has no effect: install the packages of the module stream you want")
	t.deprecate("vnc", "is deprecated and has no effect: use rdp")
	t.add("bootc", &spec{options: []option{text("--source-imgref"), text("--stateroot"), text("--target-imgref")},
		rules: []rule{need("--source-imgref")}})
	t.add("rdp", &spec{options: []option{text("--username"), text("--password")}})
	t.addOption(flag("--hibernation"), "autopart")
	t.addOption(flag("--sdboot"), "bootloader")
	t.removeOption("--level", "remove it, anaconda logs everything", "logging")
	t.removeOption("--ignoregroups", "remove it", "repo")
	t.dropOption("--instLangs", "%packages")
	t.dropOption("--excludeWeakdeps", "%packages")
	delete(t.sections, "%anaconda") // gone from anaconda since Fedora 38 and RHEL 10
}

// patchRHEL10 adds what only RHEL 10 has.
func patchRHEL10(t *table) {
	t.remove("btrfs", "was removed: use part or logvol with --fstype=xfs or ext4")
	t.remove("nvdimm", "was removed: delete it")
	t.addOption(text("--flatpak-registry-url"), "rhsm")
	for _, o := range []string{"--teamslaves", "--teamconfig"} {
		t.deprecateOption(o, "is deprecated: use a bond (--bondslaves) instead of a team", "network")
	}
	for _, o := range []string{"--isUtc", "--nontp", "--ntpservers"} {
		t.dropOption(o, "timezone")
	}
}

// patchFedora adds what only Fedora has.
func patchFedora(t *table) {
	delete(t.commands, "rhsm")
	delete(t.commands, "syspurpose")
	t.deprecate("nvdimm", "is deprecated and has no effect: remove it")
	t.add("btrfs", &spec{
		options: []option{text("--data"), text("--metadata"), text("--label"), flag("--noformat"), flag("--useexisting"),
			flag("--subvol"), text("--name"), text("--mkfsoptions")},
		args:    argRange{1, -1, "a mount point and its members"},
		repeats: true,
	})
	t.addOption(text("--hw-passphrase"), "autopart", "part")
	// Fedora has btrfs (its default).
	t.changeOption("--type", func(o *option) { o.choices, o.refuse = append(slices.Clone(o.choices), "btrfs"), nil }, "autopart")
	t.changeOption("--fstype", func(o *option) { o.choices, o.refuse = append(slices.Clone(o.choices), "btrfs"), nil },
		"autopart", "part", "logvol", "raid")
	t.addOption(flag("--ignorebroken"), "%packages")
	t.addOption(option{names: []string{"--instLangs"}, kind: textKind, deprecated: "is deprecated and has no effect: write --inst-langs"}, "%packages")
	t.addOption(option{names: []string{"--excludeWeakdeps"}, kind: flagKind, deprecated: "is deprecated and has no effect: write --exclude-weakdeps"}, "%packages")
	t.deprecateOption("--isUtc", "is deprecated and has no effect: write --utc", "timezone")
	t.deprecateOption("--nontp", "is deprecated and has no effect: use timesource --ntp-disable", "timezone")
	t.deprecateOption("--ntpservers", "is deprecated and has no effect: use timesource --ntp-server", "timezone")
}
