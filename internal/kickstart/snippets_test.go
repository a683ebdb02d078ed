package kickstart

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/kickstart/validate"
)

var static = Network{Static: true, Address: "10.0.0.5", Netmask: "255.255.255.0", Gateway: "10.0.0.1",
	DNS: []string{"10.0.0.2", "10.0.0.3"}, Device: "eno1"}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// The default template for each family of the RHEL 8/9/10 line, with DHCP
// and with a static network; every one passes anaconda's RHEL 9 syntax check.
func TestDefaultTemplateByFamily(t *testing.T) {
	families := []struct{ file, family, version string }{
		{"rocky-9", "Rocky Linux", "9.6"},
		{"rocky-8", "Rocky Linux", "8.10"},
		{"alma-9", "AlmaLinux", "9.5"},
		{"rhel-10", "Red Hat Enterprise Linux", "10.0"},
		{"centos-stream-9", "CentOS Stream", "9"},
		{"fedora-42", "Fedora", "42"},
	}
	for _, f := range families {
		for _, netw := range []string{"dhcp", "static"} {
			d := data(nil)
			d.Family, d.Version = f.family, f.version
			if netw == "static" {
				d.Network = static
			}
			got, err := Render("default", DefaultTemplate, d, nil)
			if err != nil {
				t.Fatal(err)
			}
			name := "family-" + f.file + "-" + netw + ".ks"
			golden(t, name, got)
			if problems := validate.Check(string(got), validate.Options{}); problems != nil {
				t.Errorf("%s does not pass validation: %v", name, problems)
			}
		}
	}
}

// Every built-in snippet, rendered alone.
func TestBuiltinSnippetsGolden(t *testing.T) {
	for _, tc := range []struct {
		snippet, file string
		network       Network
		hostname      string
		vars          map[string]string
	}{
		{"network", "snippet-network-dhcp.ks", Network{}, "node1", nil},
		{"network", "snippet-network-dhcp-nohostname.ks", Network{}, "", nil},
		{"network", "snippet-network-static.ks", static, "node1", nil},
		{"network", "snippet-network-static-minimal.ks", Network{Static: true, Address: "10.0.0.5", Netmask: "255.255.0.0"}, "", nil},
		{"partitioning", "snippet-partitioning.ks", Network{}, "", nil},
		{"phone-home", "snippet-phone-home.ks", Network{}, "", nil},
		{"phone-home", "snippet-phone-home-logs-always.ks", Network{}, "", map[string]string{"send_logs": "always"}},
		{"phone-home", "snippet-phone-home-logs-never.ks", Network{}, "", map[string]string{"send_logs": "never"}},
		{"send-logs", "snippet-send-logs.ks", Network{}, "", nil},
	} {
		d := data(map[string]string{"disk": "nvme0n1", "autopart_type": "plain"})
		maps.Copy(d.Vars, tc.vars)
		d.Network, d.Hostname = tc.network, tc.hostname
		text := `{{ snippet "` + tc.snippet + `" }}` + "\n"
		if tc.snippet == "send-logs" {
			// Shell lines: a script section's body. (Golden files are
			// kickstarts that package validate checks.)
			text = "%onerror\n" + text + "%end\n"
		}
		got, err := Render(tc.file, text, d, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		golden(t, tc.file, got)
		if tc.snippet != "phone-home" {
			continue
		}
		// The sections alone are a kickstart that anaconda would take.
		if problems := validate.Check(string(got), validate.Options{}); problems != nil {
			t.Errorf("%s does not pass validation: %v", tc.file, problems)
		}
	}
	if len(Builtins) != 4 {
		t.Errorf("built-in snippets %v: a new one needs a golden case here", Builtins)
	}
}

// A snippets directory adds snippets and replaces built-ins; snippets may
// include snippets; a missing one or a loop is an error that says so.
func TestSnippetsDirectory(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "motd.ks"), []byte("%post\necho {{ .Hostname }} > /etc/motd\n%end\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "partitioning.ks.tmpl"), []byte("part / --fstype=xfs --size=1 --grow --ondisk={{ var \"disk\" }}\n{{ snippet \"bootloader\" }}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bootloader.ks"), []byte("bootloader --location=mbr\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "loop.ks"), []byte(`{{ snippet "loop" }}`), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a snippet"), 0o644)
	snippets, err := LoadSnippets(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := snippets["README"]; ok {
		t.Error("a file not named NAME.ks became a snippet")
	}
	got, err := Render("t", "{{ snippet \"partitioning\" }}\n{{ snippet \"motd\" }}\n{{ snippet \"network\" }}\n", data(nil), snippets)
	if err != nil {
		t.Fatal(err)
	}
	want := "part / --fstype=xfs --size=1 --grow --ondisk=sda\nbootloader --location=mbr\n%post\necho node1 > /etc/motd\n%end\nnetwork --bootproto=dhcp --device=link --activate --hostname=node1\n"
	if string(got) != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Render("t", `{{ snippet "nope" }}`, data(nil), snippets); err == nil || !strings.Contains(err.Error(), `snippet "nope" does not exist`) {
		t.Errorf("missing snippet: %v", err)
	}
	if _, err := Render("t", `{{ snippet "loop" }}`, data(nil), snippets); err == nil || !strings.Contains(err.Error(), "nest deeper") {
		t.Errorf("snippet loop: %v", err)
	}
	if s, err := LoadSnippets(filepath.Join(dir, "missing")); err != nil || len(s) != len(Builtins) {
		t.Errorf("a missing snippets directory: %d snippets, %v", len(s), err)
	}
	// A link to a snippet kept elsewhere counts; two files for one name do not.
	elsewhere := filepath.Join(t.TempDir(), "shared.ks")
	os.WriteFile(elsewhere, []byte("services --enabled=chronyd\n"), 0o644)
	os.Symlink(elsewhere, filepath.Join(dir, "services.ks"))
	if s, err := LoadSnippets(dir); err != nil || s["services"] != "services --enabled=chronyd\n" {
		t.Errorf("a linked snippet: %q, %v", s["services"], err)
	}
	os.WriteFile(filepath.Join(dir, "motd.ks.tmpl"), []byte("x"), 0o644)
	if _, err := LoadSnippets(dir); err == nil || !strings.Contains(err.Error(), "remove one") {
		t.Errorf("motd.ks and motd.ks.tmpl: %v, want an error", err)
	}
	os.Remove(filepath.Join(dir, "motd.ks.tmpl"))
	os.WriteFile(filepath.Join(dir, "broken.ks"), []byte("{{ if }}"), 0o644)
	broken, _ := LoadSnippets(dir)
	if err := Parse("t", "text\n", broken); err == nil || !strings.Contains(err.Error(), "snippet broken") {
		t.Errorf("a broken snippet: %v", err)
	}
}
