package cli

import (
	"fmt"
	"net/http/httptest"
	"reflect"
	"regexp"

	"github.com/spf13/pflag"

	"bytes"
	"context"
	"encoding/json"
	"kickstand/internal/api"
	"kickstand/internal/config"
	"kickstand/internal/inventory"
	"kickstand/internal/store/sqlite"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type cliEnv struct {
	t    *testing.T
	data string
	tree string
	// server and token, when set, run the inventory commands through a
	// kickstand API on the same data directory.
	server, token string
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

// eachMode runs fn with the CLI on its data directory, and again with the
// same commands through the REST API of a server on 127.0.0.1 (on a data
// directory of its own): the CLI behaves and prints the same either way.
func eachMode(t *testing.T, fn func(t *testing.T, c *cliEnv)) {
	t.Run("local", func(t *testing.T) { fn(t, newCLI(t)) })
	t.Run("api", func(t *testing.T) {
		c := newCLI(t)
		token := strings.TrimSpace(c.ok("token", "create", "test"))
		db, err := sqlite.Open(t.Context(), c.data)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		inv := &inventory.Inventory{Store: db, Site: inventory.Site{SnippetsDir: inventory.SnippetsDir(c.data), BaseURL: "http://SERVER"}}
		srv := httptest.NewServer((&api.Server{Inv: inv}).Handler())
		t.Cleanup(srv.Close)
		c.server, c.token = srv.URL, token
		fn(t, c)
	})
}

// remote reports whether args is an inventory command, which goes through
// the API in the api mode.
func remote(args []string) bool {
	switch args[0] {
	case "distro", "profile", "machine", "apply":
		return true
	case "kickstart":
		return len(args) > 1 && args[1] == "render"
	}
	return false
}

// run runs kickstand with args and returns stdout, stderr and the exit code.
func (c *cliEnv) run(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	all := append(args, "--data-dir", c.data)
	if c.server != "" && remote(args) {
		all = append(all, "--server", c.server, "--token", c.token)
	}
	code := Run(context.Background(), all, &out, &errb)
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

func TestContractHappyPath(t *testing.T) { eachMode(t, testContractHappyPath) }

func testContractHappyPath(t *testing.T, c *cliEnv) {
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
	eachMode(t, testBadInputIsOneLineAndWritesNothing)
}

func testBadInputIsOneLineAndWritesNothing(t *testing.T, c *cliEnv) {
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
	eachMode(t, testCustomKickstartIsCopiedIntoTheStore)
}

func testCustomKickstartIsCopiedIntoTheStore(t *testing.T, c *cliEnv) {
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

// The same commands print the same, locally and through the API (times
// and ages aside).
func TestSameOutputBothWays(t *testing.T) {
	script := [][]string{
		{"distro", "list"},
		{"profile", "add", "db", "--distro", "rocky9", "--var", "disk=vda"},
		{"profile", "list"},
		{"profile", "show", "web"},
		{"profile", "show", "web", "-o", "json"},
		{"machine", "add", "52:54:00:00:00:02", "--profile", "db", "--address", "10.0.0.7/24"},
		{"machine", "edit", "52:54:00:00:00:02", "--hostname", "db1", "--var", "k=v"},
		{"machine", "edit", "52:54:00:00:00:02", "--gateway", "192.168.9.9"},
		{"machine", "reinstall", "52:54:00:12:34:56"},
		{"machine", "list"},
		{"machine", "show", "52:54:00:00:00:02"},
		{"machine", "show", "52:54:00:00:00:09"},
		{"kickstart", "render", "52:54:00:00:00:02", "--server-ip", "10.0.0.1"},
		{"kickstart", "render", "--profile", "web", "--server-ip", "10.0.0.1", "--http-port", "8080"},
		{"profile", "remove", "web"},
		{"machine", "remove", "52:54:00:00:00:02"},
		{"profile", "remove", "db"},
	}
	// Times, ages, the test's directories and machines' random tokens differ.
	clock := regexp.MustCompile(`\d\d:\d\d:\d\d(\.\d+)?|\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)|\b\d+(\.\d+)?(ms|s|m)\b`)
	dirs := regexp.MustCompile(`/tmp/TestSameOutputBothWays[a-z]+\d+`)
	tokens := regexp.MustCompile(`/phone-home/[a-z0-9]+`)
	spaces := regexp.MustCompile(`[ \t]+`) // columns as wide as their times
	normal := func(s string) string {
		s = tokens.ReplaceAllString(dirs.ReplaceAllString(clock.ReplaceAllString(s, "T"), "DIR"), "/phone-home/TOKEN")
		return spaces.ReplaceAllString(s, " ")
	}
	outputs := map[string][]string{}
	eachMode(t, func(t *testing.T, c *cliEnv) {
		c.setup()
		for _, args := range script {
			out, errs, code := c.run(args...)
			outputs[t.Name()] = append(outputs[t.Name()], fmt.Sprintf("$ %v\n%s%s(exit %d)\n", args, out, errs, code))
		}
	})
	local, remote := outputs[t.Name()+"/local"], outputs[t.Name()+"/api"]
	if len(local) != len(script) || len(remote) != len(script) {
		t.Fatalf("%d and %d outputs, want %d each", len(local), len(remote), len(script))
	}
	for i := range script {
		a, b := normal(local[i]), normal(remote[i])
		if a != b {
			t.Errorf("local and through the API differ:\n%s\n---\n%s", local[i], remote[i])
		}
	}
}
