package firewall

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestTestdataCaptures (root): the JSON rule sets the simulation tests read
// are what nft prints for testdata/nft/*.nft (and, for iptables-nft.json,
// for an iptables-restore through the nf_tables backend), and the
// iptables-save files are what iptables-save prints after restoring them.
// -update rewrites the JSON from this host's nft.
func TestTestdataCaptures(t *testing.T) {
	requireRoot(t, "nft", "iptables-restore")
	sources, err := filepath.Glob(filepath.Join("testdata", "nft", "*.nft"))
	if err != nil {
		t.Fatal(err)
	}
	sources = append(sources, filepath.Join("testdata", "iptables", "debian-raw-drop.save"))
	for _, src := range sources {
		name := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
		if strings.HasSuffix(src, ".save") {
			name = "iptables-nft"
		}
		t.Run(name, func(t *testing.T) {
			ns := newNS(t)
			// Ingress chains need their devices to exist.
			ns.run(t, nil, "ip", "link", "add", "br0", "type", "veth", "peer", "name", "dummy1")
			data, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(src, ".save") {
				ns.run(t, data, "iptables-restore")
			} else {
				ns.run(t, data, "nft", "-f", "-")
			}
			got := ns.run(t, nil, "nft", "-j", "list", "ruleset")
			golden := filepath.Join("testdata", "nft", name+".json")
			if *update {
				var v any
				if err := json.Unmarshal([]byte(got), &v); err != nil {
					t.Fatal(err)
				}
				out, _ := json.MarshalIndent(v, "", " ")
				if err := os.WriteFile(golden, append(out, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if a, b := nftObjects(t, got), nftObjects(t, readTestdata(t, "nft/"+name+".json")); !reflect.DeepEqual(a, b) {
				t.Errorf("%s is not what this nft prints for %s (go test -update rewrites it):\n%s", golden, src, got)
			}
		})
	}

	saves, err := filepath.Glob(filepath.Join("testdata", "iptables", "*.save"))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range saves {
		t.Run(filepath.Base(src), func(t *testing.T) {
			ns := newNS(t)
			want := readTestdata(t, "iptables/"+filepath.Base(src))
			ns.run(t, []byte(want), "iptables-restore")
			if got := stripSave(ns.run(t, nil, "iptables-save")); got != stripSave(want) {
				t.Errorf("iptables-save prints, after restoring %s:\n%s", src, got)
			}
		})
	}
}

// nftObjects decodes a rule set without its metainfo (nft's version).
func nftObjects(t *testing.T, s string) []any {
	t.Helper()
	var doc struct {
		Nftables []map[string]any `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	var out []any
	for _, obj := range doc.Nftables {
		if _, ok := obj["metainfo"]; !ok {
			out = append(out, obj)
		}
	}
	return out
}
