package app

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"kickstand/internal/boot"
	"kickstand/internal/events"
	"kickstand/internal/httpd"
	"kickstand/internal/store"
)

// The kickstart sends what the log endpoint takes (names from its list,
// no more than its cap), and the logs of one token are one install: after
// the report that ends it, the old token sends nothing, and the next
// install's logs are apart.
func TestInstallLogs(t *testing.T) {
	ctx := context.Background()
	db := webStore(t)
	mac, _ := store.ParseMAC("52:54:00:00:00:0a")
	db.PutMachine(ctx, store.Machine{MAC: mac, Profile: "web", State: store.StateNew, Token: "token-a"})
	log := slog.New(slog.DiscardHandler)
	a := &App{log: log, store: db, bus: events.New(0), peers: newNeighbours("")}
	a.machines = &machines{store: db, unknown: boot.UnknownMenu, baseURL: "http://10.0.0.1", log: log}
	client := netip.MustParseAddr("10.0.0.10")

	ks, err := a.kickstart(ctx, "token-a", client)
	if err != nil {
		t.Fatal(err)
	}
	sent := regexp.MustCompile(`tail -c (\d+) .*curl .* http://10\.0\.0\.1/phone-home/token-a/log/`).FindSubmatch(ks)
	if sent == nil {
		t.Fatalf("the kickstart sends no logs:\n%s", ks)
	}
	if n, _ := strconv.Atoi(string(sent[1])); n <= 0 || n > httpd.MaxLogBytes {
		t.Errorf("the kickstart sends the last %s bytes of a log, the server takes %d", sent[1], httpd.MaxLogBytes)
	}
	for _, f := range regexp.MustCompile(`(/tmp|/run/install)/([a-z.-]+)`).FindAllSubmatch(ks, -1) {
		if name := string(f[2]); name != "kickstand-pre.log" && !slices.Contains(httpd.LogNames, name) {
			t.Errorf("the kickstart sends %s, which the server refuses (httpd.LogNames)", f[0])
		}
	}

	send := func(token, name, body string) error {
		return a.installLog(ctx, token, httpd.Log{Name: name, Body: []byte(body), Client: client})
	}
	if err := send("token-a", "anaconda.log", "first install"); err != nil {
		t.Fatal(err)
	}
	if err := send("nobody", "anaconda.log", "x"); !errors.Is(err, httpd.ErrNotFound) {
		t.Fatalf("an unknown token: %v, want httpd.ErrNotFound", err)
	}
	if err := a.phoneHome(ctx, "token-a", httpd.Report{State: "failed", Client: client}); err != nil {
		t.Fatal(err)
	}
	if err := send("token-a", "anaconda.log", "late"); !errors.Is(err, httpd.ErrNotFound) {
		t.Fatalf("the token of an ended install: %v, want httpd.ErrNotFound", err)
	}
	m, _ := db.Machine(ctx, mac)
	if err := send(m.Token, "anaconda.log", "second install"); err != nil {
		t.Fatal(err)
	}
	logs, err := db.InstallLogs(ctx, mac)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 2 || string(logs[0].Body) != "first install" || string(logs[1].Body) != "second install" ||
		logs[0].Install == logs[1].Install || logs[0].Install == "token-a" {
		t.Fatalf("logs = %+v, want one per install, under keys that are not the tokens", logs)
	}
}
