package app

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kickstand/internal/boot"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/inventory"
	"kickstand/internal/store"
	"kickstand/internal/store/sqlite"
)

func kickstartStore(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.AddDistro(ctx, store.Distro{Name: "rocky9", Family: "Rocky Linux", Version: "9.6", Source: t.TempDir()})
	return db
}

// Variables resolve machine > profile > server defaults; a machine's static
// network reaches the network line; snippets come from the snippets directory.
func TestRenderKickstartVariablesAndNetwork(t *testing.T) {
	ctx := context.Background()
	db := kickstartStore(t)
	db.AddProfile(ctx, store.Profile{Name: "web", Distro: "rocky9", Vars: map[string]string{"timezone": "Europe/Berlin", "disk": "vda"}})
	mac, _ := store.ParseMAC("52:54:00:00:00:21")
	m := store.Machine{MAC: mac, Profile: "web", Hostname: "web1", State: store.StateNew, Token: "tok",
		Vars: map[string]string{"disk": "nvme0n1"},
		Network: store.Network{Address: netip.MustParsePrefix("10.1.2.3/23"), Gateway: netip.MustParseAddr("10.1.2.1"),
			DNS: []netip.Addr{netip.MustParseAddr("10.1.2.2")}}}
	snippets := t.TempDir()
	os.WriteFile(filepath.Join(snippets, "partitioning.ks"), []byte("ignoredisk --only-use={{ var \"disk\" }}\nautopart --type=plain\n"), 0o644)
	ks, _, _, err := inventory.RenderKickstart(ctx, db, m, "", inventory.Site{BaseURL: "http://10.0.0.1", SnippetsDir: snippets})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"timezone Europe/Berlin --utc\n",                         // the profile's
		"ignoredisk --only-use=nvme0n1\nautopart --type=plain\n", // the machine's disk, the directory's snippet
		"lang en_US.UTF-8\n",                                     // the server default
		"network --bootproto=static --device=link --ip=10.1.2.3 --netmask=255.255.254.0 --gateway=10.1.2.1 --nameserver=10.1.2.2 --activate --onboot=yes --hostname=web1\n",
		"http://10.0.0.1/phone-home/tok",
	} {
		if !strings.Contains(string(ks), want) {
			t.Errorf("kickstart lacks %q:\n%s", want, ks)
		}
	}
}

// A kickstart anaconda would refuse is not served: an *inventory.InvalidError naming
// the line, a kickstart-invalid event, and a 500 rather than a broken install.
func TestInvalidKickstartIsNotServed(t *testing.T) {
	ctx := context.Background()
	db := kickstartStore(t)
	bad := "text\nurl --url={{ .RepoURL }}\nrootpw hunter2\nautopart\npart / --size=1000\n"
	db.AddProfile(ctx, store.Profile{Name: "bad", Distro: "rocky9", Kickstart: bad})
	plain := "text\nurl --url={{ .RepoURL }}\nrootpw hunter2\nautopart\n"
	db.AddProfile(ctx, store.Profile{Name: "strict", Distro: "rocky9", Kickstart: plain, PasswordPolicy: "refuse"})
	mac, _ := store.ParseMAC("52:54:00:00:00:22")
	db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "bad", State: store.StateNew, Token: "tok-bad"})
	m, _ := db.Machine(ctx, mac)

	// Only errors refuse; the plaintext rootpw is a warning.
	_, _, warnings, err := inventory.RenderKickstart(ctx, db, m, "", inventory.Site{BaseURL: "http://10.0.0.1"})
	var invalid *inventory.InvalidError
	if !errors.As(err, &invalid) || len(invalid.Problems) != 1 || invalid.Problems[0].Line != 4 {
		t.Fatalf("err = %v; want autopart with part (line 4)", err)
	}
	if len(warnings) != 1 || warnings[0].Line != 3 {
		t.Fatalf("warnings = %v; want the plaintext rootpw (line 3)", warnings)
	}
	if _, err := inventory.CheckProfile(ctx, db, store.Profile{Name: "new", Distro: "rocky9", Kickstart: bad}, inventory.Site{}); !errors.As(err, &invalid) {
		t.Errorf("CheckProfile of a bad template: %v", err)
	}
	// A variable only its machines will set: checked when they are added.
	if _, err := inventory.CheckProfile(ctx, db, store.Profile{Name: "roles", Distro: "rocky9", Kickstart: "text\n# {{ var \"role\" }}\n"}, inventory.Site{}); err != nil {
		t.Errorf("a profile whose template needs a machine variable: %v", err)
	}
	// The password policy: a warning by default, an error that says how
	// to hash where the profile or the server refuses plaintext.
	ok := store.Profile{Name: "plain", Distro: "rocky9", Kickstart: plain}
	if w, err := inventory.CheckProfile(ctx, db, ok, inventory.Site{}); err != nil || len(w) != 1 {
		t.Errorf("a plaintext rootpw by default: %v, %v; want one warning", w, err)
	}
	if _, err := inventory.CheckProfile(ctx, db, ok, inventory.Site{PasswordPolicy: "refuse"}); !errors.As(err, &invalid) || !strings.Contains(err.Error(), "openssl passwd -6") {
		t.Errorf("a plaintext rootpw with --password-policy refuse: %v", err)
	}
	strict, _ := db.Profile(ctx, "strict")
	if _, err := inventory.CheckProfile(ctx, db, strict, inventory.Site{PasswordPolicy: "warn"}); !errors.As(err, &invalid) {
		t.Errorf("a profile that refuses plaintext, on a server that warns: %v", err)
	}
	ok.PasswordPolicy = "warn"
	if _, err := inventory.CheckProfile(ctx, db, ok, inventory.Site{PasswordPolicy: "refuse"}); err != nil {
		t.Errorf("a profile that allows plaintext, on a server that refuses: %v", err)
	}

	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, bus: events.New(0), peers: newNeighbours("")}
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	if _, err := a.kickstart(ctx, "tok-bad", netip.MustParseAddr("10.0.0.50")); err == nil || errors.Is(err, httpd.ErrNotFound) {
		t.Fatalf("an invalid kickstart was served (or 404ed): %v", err)
	}
	evs, _ := db.Events(ctx, mac)
	if len(evs) == 0 || evs[len(evs)-1].Kind != "kickstart-invalid" || !strings.Contains(evs[len(evs)-1].Detail, "line 4:") {
		t.Errorf("timeline after the refused kickstart: %+v", evs)
	}
	if m, _ := db.Machine(ctx, mac); m.State != store.StateNew {
		t.Errorf("a refused kickstart moved the machine to %s", m.State)
	}
	// A kickstart with warnings only is served, and its warnings are an
	// event of the timeline.
	db.AddProfile(ctx, ok)
	warned, _ := store.ParseMAC("52:54:00:00:00:23")
	db.PutMachine(ctx, store.Machine{MAC: warned, Profile: "plain", State: store.StateNew, Token: "tok-warned"})
	if _, err := a.kickstart(ctx, "tok-warned", netip.MustParseAddr("10.0.0.51")); err != nil {
		t.Fatalf("a kickstart with warnings only was not served: %v", err)
	}
	evs, _ = db.Events(ctx, warned)
	if len(evs) != 2 || evs[0].Kind != "kickstart-warnings" || !strings.Contains(evs[0].Detail, "line 3: warning: rootpw password is plaintext") || evs[1].Kind != "kickstart" {
		t.Errorf("timeline of a kickstart with warnings: %+v", evs)
	}
}
