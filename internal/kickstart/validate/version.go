package validate

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is the kickstart syntax of one family of releases: what
// pykickstart's handler of that name accepts, which is what anaconda on
// that release parses.
type Version int

// The versions kickstand checks against. The zero Version is RHEL9.
const (
	RHEL9  Version = iota // RHEL, Rocky, AlmaLinux, Oracle Linux 9, CentOS Stream 9
	RHEL8                 // RHEL 8 and its rebuilds, CentOS Stream 8
	RHEL10                // RHEL 10 and its rebuilds, CentOS Stream 10
	Fedora                // current Fedora (pykickstart's latest handler)
)

// Versions are the versions, oldest first.
var Versions = []Version{RHEL8, RHEL9, RHEL10, Fedora}

var versionNames = map[Version]string{RHEL8: "rhel8", RHEL9: "rhel9", RHEL10: "rhel10", Fedora: "fedora"}

// String is the version's name as --version takes it.
func (v Version) String() string { return versionNames[v] }

// title is the version as messages name it.
func (v Version) title() string {
	switch v {
	case Fedora:
		return "Fedora"
	}
	return "RHEL " + strings.TrimPrefix(v.String(), "rhel")
}

// ParseVersion returns the version named s (rhel8, rhel9, rhel10, fedora;
// also RHEL9, 9, f43).
func ParseVersion(s string) (Version, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "rhel")
	switch {
	case t == "8":
		return RHEL8, nil
	case t == "9":
		return RHEL9, nil
	case t == "10":
		return RHEL10, nil
	case t == "fedora" || strings.HasPrefix(t, "f") && isNumber(t[1:]):
		return Fedora, nil
	}
	return RHEL9, fmt.Errorf("unknown kickstart version %q: want rhel8, rhel9, rhel10 or fedora", s)
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil && s != ""
}

// VersionFor returns the syntax of a distro from what its .treeinfo says:
// its family ("Rocky Linux", "Red Hat Enterprise Linux", "CentOS Stream",
// "Fedora"...) and version ("9.6", "10", "41"). A family or version it does
// not know is RHEL9's, with ok false.
func VersionFor(family, version string) (v Version, ok bool) {
	f := strings.ToLower(family)
	if strings.Contains(f, "fedora") {
		return Fedora, true
	}
	major, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	switch major {
	case "8":
		return RHEL8, true
	case "9":
		return RHEL9, true
	case "10":
		return RHEL10, true
	}
	return RHEL9, false
}
