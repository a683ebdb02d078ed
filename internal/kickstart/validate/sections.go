package validate

import (
	"maps"
	"slices"
	"strings"
)

// scriptOptions are the header options every script section takes.
var scriptOptions = []option{flag("--erroronfail"), text("--interpreter"), text("--log", "--logfile")}

var scriptSpec = &spec{options: scriptOptions}

// sections are the %sections anaconda knows on RHEL 9. Their bodies are
// not checked: scripts belong to their interpreter, packages to dnf.
var sections = map[string]*spec{
	"%pre":         scriptSpec,
	"%pre-install": scriptSpec,
	"%post":        {options: withOptions(scriptOptions, []option{flag("--nochroot")})},
	"%onerror":     scriptSpec,
	"%traceback":   scriptSpec, // deprecated in favour of %onerror, still accepted
	"%packages": {
		options: []option{
			flag("--default"), flag("--excludedocs"), flag("--ignoremissing"), flag("--ignorebroken"),
			flag("--nocore"), flag("--multilib"), flag("--exclude-weakdeps", "--excludeWeakdeps"),
			text("--inst-langs", "--instLangs"), number("--timeout"), number("--retries"),
			gone("--nobase", "remove it, @base is not installed by default any more"),
			gone("--resolvedeps", "remove it, dependencies are always resolved"),
			gone("--ignoredeps", "remove it, dependencies are always resolved"),
		},
		repeats: true,
		rules:   []rule{packagesRule},
	},
	// Addon options belong to the addon, so only the name is checked.
	"%addon":    {freeform: true, rules: []rule{addonRule}},
	"%anaconda": {freeform: true},
}

func sectionNames() []string {
	return slices.Sorted(maps.Keys(sections))
}

func packagesRule(c *call, _ Options) []string {
	if c.has("--default") && c.has("--nocore") {
		return []string{"%packages takes only one of --default or --nocore: keep one"}
	}
	return nil
}

func addonRule(c *call, _ Options) []string {
	if len(c.args) == 0 || strings.HasPrefix(c.args[0], "-") {
		return []string{"%addon needs the addon's name first, e.g. %addon com_redhat_kdump --enable"}
	}
	return nil
}
