package cli

import (
	"reflect"

	"github.com/spf13/pflag"

	"bytes"
	"context"
	"encoding/json"
	"kickstand/internal/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cliEnv struct {
	t    *testing.T
	data string
	tree string
}

func newCLI(t *testing.T) *cliEnv {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, f := range []string{"images/pxeboot/vmlinuz", "images/pxeboot/initrd.img", "images/install.img"} {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755)
		os.WriteFile(filepath.Join(tree, f), []byte(f), 0o644)
	}
	os.WriteFile(filepath.Join(tree, ".treeinfo"), []byte("[general]\nfamily = Rocky Linux\nversion = 9.6\narch = x86_64\n[stage2]\nmainimage = images/install.img\n"), 0o644)
	return &cliEnv{t: t, data: filepath.Join(dir, "data"), tree: tree}
}

// run runs kickstand with args and returns stdout, stderr and the exit code.
func (c *cliEnv) run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := Run(context.Background(), append(args, "--data-dir", c.data), &out, &errb)
	return out.String(), errb.String(), code
}

func (c *cliEnv) ok(args ...string) string {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("kickstand %v: exit %d: %s", args, code, errs)
	}
	return out
}

func (c *cliEnv) fails(want string, args ...string) {
	c.t.Helper()
	out, errs, code := c.run(args...)
	if code == 0 {
		c.t.Fatalf("kickstand %v succeeded: %s", args, out)
	}
	if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.HasPrefix(errs, "kickstand: ") || !strings.Contains(errs, want) {
		c.t.Fatalf("kickstand %v: stderr %q, want one line containing %q", args, errs, want)
	}
}

func (c *cliEnv) setup() {
	c.ok("distro", "import", "rocky9", c.tree)
	c.ok("profile", "add", "web", "--distro", "rocky9", "--kernel-args", "console=ttyS0")
	c.ok("machine", "add", "52:54:00:12:34:56", "--profile", "web", "--hostname", "node1", "--ip", "10.0.0.5", "--var", "timezone=Europe/Berlin")
}

func TestContractHappyPath(t *testing.T) {
	c := newCLI(t)
	c.setup()
	if out := c.ok("distro", "list"); !strings.Contains(out, "rocky9") || !strings.Contains(out, "Rocky Linux") || !strings.Contains(out, "9.6") {
		t.Fatalf("distro list:\n%s", out)
	}
	if out := c.ok("profile", "list"); !strings.Contains(out, "web") || !strings.Contains(out, "console=ttyS0") {
		t.Fatalf("profile list:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(c.ok("machine", "show", "52-54-00-12-34-56", "-o", "json")), &m); err != nil {
		t.Fatal(err)
	}
	if m["mac"] != "52:54:00:12:34:56" || m["profile"] != "web" || m["hostname"] != "node1" || m["state"] != "new" {
		t.Fatalf("machine show json = %v", m)
	}
	evs, ok := m["events"].([]any)
	if !ok || len(evs) != 1 {
		t.Fatalf("events = %v", m["events"])
	}
	ev := evs[0].(map[string]any)
	for _, k := range []string{"time", "kind", "detail"} {
		if _, ok := ev[k]; !ok {
			t.Fatalf("event lacks %q: %v", k, ev)
		}
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(c.ok("machine", "list", "-o", "json")), &list); err != nil || len(list) != 1 || list[0]["state"] != "new" {
		t.Fatalf("machine list json = %v, %v", list, err)
	}
	ks := c.ok("kickstart", "render", "52:54:00:12:34:56", "--server-ip", "10.0.0.1")
	for _, want := range []string{"url --url=http://10.0.0.1/distros/rocky9/", "timezone Europe/Berlin", "--hostname=node1", "http://10.0.0.1/phone-home/"} {
		if !strings.Contains(ks, want) {
			t.Errorf("rendered kickstart lacks %q", want)
		}
	}
	c.ok("machine", "remove", "52:54:00:12:34:56")
	c.fails("not known", "machine", "show", "52:54:00:12:34:56")
}

func TestBadInputIsOneLineAndWritesNothing(t *testing.T) {
	c := newCLI(t)
	c.setup()
	c.fails("bad MAC", "machine", "add", "52:54:00", "--profile", "web")
	c.fails("profile nope does not exist", "machine", "add", "52:54:00:00:00:01", "--profile", "nope")
	c.fails("--ip", "machine", "add", "52:54:00:00:00:01", "--profile", "web", "--ip", "300.1.1.1")
	c.fails("--hostname", "machine", "add", "52:54:00:00:00:01", "--profile", "web", "--hostname", "bad_name!")
	c.fails("--var", "machine", "add", "52:54:00:00:00:01", "--profile", "web", "--var", "novalue")
	c.fails("already registered", "machine", "add", "52:54:00:12:34:56", "--profile", "web")
	c.fails("distro nope does not exist", "profile", "add", "p2", "--distro", "nope")
	c.fails("already exists", "profile", "add", "web", "--distro", "rocky9")
	c.fails("already exists", "distro", "import", "rocky9", c.tree)
	c.fails("not a RHEL-family install tree", "distro", "import", "empty", t.TempDir())
	c.fails("no such file", "distro", "import", "gone", "/nonexistent/tree")
	c.fails("distro name", "distro", "import", "../evil", c.tree)
	c.fails("unknown flag", "machine", "list", "--bogus")
	c.fails("unknown command", "frobnicate")
	c.fails("want text or json", "machine", "list", "-o", "yaml")
	bad := filepath.Join(t.TempDir(), "bad.ks")
	os.WriteFile(bad, []byte("{{ if }}"), 0o644)
	c.fails("kickstart template", "profile", "add", "p3", "--distro", "rocky9", "--kickstart", bad)
	c.fails("--dhcp full needs --dhcp-range", "serve", "--dhcp", "full")
	c.fails("--unknown", "serve", "--unknown", "sometimes")

	var list []map[string]any
	json.Unmarshal([]byte(c.ok("machine", "list", "-o", "json")), &list)
	if len(list) != 1 {
		t.Fatalf("failed commands left machines behind: %v", list)
	}
	if out := c.ok("profile", "list"); strings.Count(out, "\n") != 2 {
		t.Fatalf("failed commands left profiles behind:\n%s", out)
	}
	if out := c.ok("distro", "list"); strings.Count(out, "\n") != 2 {
		t.Fatalf("failed commands left distros behind:\n%s", out)
	}
}

func TestCustomKickstartIsCopiedIntoTheStore(t *testing.T) {
	c := newCLI(t)
	c.ok("distro", "import", "rocky9", c.tree)
	ks := filepath.Join(t.TempDir(), "my.ks")
	os.WriteFile(ks, []byte("# mine for {{ .Hostname }}\nurl --url={{ .RepoURL }}\n"), 0o644)
	c.ok("profile", "add", "mine", "--distro", "rocky9", "--kickstart", ks)
	os.Remove(ks)
	c.ok("machine", "add", "52:54:00:00:00:02", "--profile", "mine", "--hostname", "h2")
	out := c.ok("kickstart", "render", "52:54:00:00:00:02", "--server-ip", "10.0.0.1", "--http-port", "8080")
	if out != "# mine for h2\nurl --url=http://10.0.0.1:8080/distros/rocky9/\n" {
		t.Fatalf("render = %q", out)
	}
}

func TestServeFlagsWinOverConfigFile(t *testing.T) {
	fromFile := config.Default()
	fromFile.DHCP, fromFile.HTTPPort, fromFile.ISOs = "full", 8080, []string{"a.iso"}
	flags := config.Default()
	flags.DHCP, flags.HTTPPort, flags.DHCPDNS = "off", 9090, []string{"10.0.0.53"}
	set := map[string]bool{"dhcp": true, "dhcp-dns": true}
	overlay(&fromFile, &flags, func(name string) bool { return set[name] })
	if fromFile.DHCP != "off" || fromFile.HTTPPort != 8080 || len(fromFile.ISOs) != 1 || fromFile.DHCPDNS[0] != "10.0.0.53" {
		t.Fatalf("overlay = %+v", fromFile)
	}
	// Every serve flag must name a config field, or overlay would drop it.
	cmd := (&env{}).serveCmd()
	fields := map[string]bool{}
	typ := reflect.TypeOf(config.Config{})
	for i := range typ.NumField() {
		fields[typ.Field(i).Tag.Get("yaml")] = true
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && f.Name != "debug" && !fields[f.Name] {
			t.Errorf("serve flag --%s has no config field with yaml:%q", f.Name, f.Name)
		}
	})
}
