package validate

import (
	"maps"
	"slices"
	"strings"
)

// scriptOptions are the header options every script section takes.
var scriptOptions = []option{flag("--erroronfail"), text("--interpreter"), text("--log", "--logfile")}

var scriptSpec = &spec{options: scriptOptions}

// sections are the %sections anaconda knows on RHEL 9 (tableFor changes
// them for other versions). Their bodies are not checked: scripts belong to
// their interpreter, packages to dnf.
var sections = map[string]*spec{
	"%pre":         scriptSpec,
	"%pre-install": scriptSpec,
	"%post":        {options: withOptions(scriptOptions, []option{flag("--nochroot")})},
	"%onerror":     scriptSpec,
	"%traceback":   scriptSpec, // deprecated in favour of %onerror: a warning
	"%packages": {
		options: []option{
			flag("--default"), flag("--excludedocs"), flag("--ignoremissing"),
			flag("--nocore"), flag("--multilib"), flag("--exclude-weakdeps"), text("--inst-langs"),
			{names: []string{"--excludeWeakdeps"}, kind: flagKind, deprecated: "will be deprecated: write --exclude-weakdeps"},
			{names: []string{"--instLangs"}, kind: textKind, deprecated: "will be deprecated: write --inst-langs"},
			number("--timeout"), number("--retries"),
			gone("--nobase", "remove it, @base is not installed by default any more"),
			gone("--resolvedeps", "remove it, dependencies are always resolved"),
			gone("--ignoredeps", "remove it, dependencies are always resolved"),
		},
		repeats: true,
		rules:   []rule{packagesRule},
	},
	// A CA certificate for the installer and the installed system (the
	// body is the PEM text).
	"%certificate": {
		options: []option{text("--filename"), text("--dir"), text("--type")},
		repeats: true,
		rules:   []rule{need("--filename")},
	},
	// Addon options belong to the addon, so only the name is checked.
	"%addon":    {freeform: true, rules: []rule{addonRule}},
	"%anaconda": {freeform: true},
}

func (t *table) sectionNames() []string {
	return slices.Sorted(maps.Keys(t.sections))
}

func packagesRule(c *call, _ Options) []finding {
	if c.has("--default") && c.has("--nocore") {
		return errs("%packages takes only one of --default or --nocore: keep one")
	}
	return nil
}

func addonRule(c *call, _ Options) []finding {
	if len(c.args) == 0 || strings.HasPrefix(c.args[0], "-") {
		return errs("%addon needs the addon's name first, e.g. %addon com_redhat_kdump --enable")
	}
	return nil
}
