//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// kickstand runs the CLI against one data directory.
type kickstand struct {
	bin     string
	dataDir string
}

func (k *kickstand) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := k.try(args...)
	if err != nil {
		t.Fatalf("kickstand %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// try runs the CLI and returns its combined output and error, for polling.
func (k *kickstand) try(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append(args, "--data-dir", k.dataDir)
	out, err := exec.CommandContext(ctx, k.bin, args...).CombinedOutput()
	return string(out), err
}

// machineRecord is the part of `kickstand machine show MAC -o json` the test reads.
type machineRecord struct {
	MAC      string         `json:"mac"`
	Profile  string         `json:"profile"`
	Hostname string         `json:"hostname"`
	State    string         `json:"state"`
	Events   []machineEvent `json:"events"`
}

type machineEvent struct {
	Time   any    `json:"time"` // RFC 3339 text or a number: printed as given
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

func (k *kickstand) machine(t *testing.T, mac string) machineRecord {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, k.bin, "machine", "show", mac, "-o", "json", "--data-dir", k.dataDir).Output()
	if err != nil {
		t.Fatalf("kickstand machine show %s -o json: %v\n%s", mac, err, stderrOf(err))
	}
	var m machineRecord
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("kickstand machine show %s -o json: %v\n%s", mac, err, out)
	}
	return m
}

func (m machineRecord) hasEventKind(kind string) bool {
	for _, e := range m.Events {
		if strings.Contains(strings.ToLower(e.Kind), kind) {
			return true
		}
	}
	return false
}

// hasEvent reports whether the timeline has an event of kind whose detail
// contains detail.
func (m machineRecord) hasEvent(kind, detail string) bool {
	for _, e := range m.Events {
		if e.Kind == kind && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// columnTitle finds the column titles of a table the CLI prints: words joined by single
// spaces ("KERNEL ARGS"); tabwriter puts at least two between columns.
var columnTitle = regexp.MustCompile(`\S+(?: \S+)*`)

// parseTable reads a table printed with text/tabwriter: every cell starts where its
// column's title starts, and cells may hold spaces ("Rocky Linux", "8.1 MiB"), so
// the columns are cut at the titles' positions, not at blanks. Each row maps a
// title to its cell.
func parseTable(text string) ([]map[string]string, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 0 || strings.TrimSpace(lines[0]) == "" {
		return nil, fmt.Errorf("no table in %q", text)
	}
	header := lines[0]
	starts := columnTitle.FindAllStringIndex(header, -1)
	var rows []map[string]string
	for _, line := range lines[1:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		row := map[string]string{}
		for i, s := range starts {
			end := len(line)
			if i+1 < len(starts) {
				end = min(starts[i+1][0], len(line))
			}
			cell := ""
			if s[0] < end {
				cell = strings.TrimSpace(line[s[0]:end])
			}
			row[header[s[0]:s[1]]] = cell
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// listRow returns the row named name of `kickstand KIND list` (distro, profile).
func (k *kickstand) listRow(kind, name string) (map[string]string, error) {
	out, err := k.try(kind, "list")
	if err != nil {
		return nil, fmt.Errorf("kickstand %s list: %w\n%s", kind, err, out)
	}
	rows, err := parseTable(out)
	if err != nil {
		return nil, fmt.Errorf("kickstand %s list: %w", kind, err)
	}
	for _, row := range rows {
		if row["NAME"] == name {
			return row, nil
		}
	}
	return nil, fmt.Errorf("kickstand %s list has no %s:\n%s", kind, name, out)
}

// wantDistro waits up to timeout for `kickstand distro list` to show name, then
// checks its KIND and STATUS, and returns the row.
func (k *kickstand) wantDistro(t *testing.T, name, kind, status string, timeout time.Duration) map[string]string {
	t.Helper()
	var row map[string]string
	err := waitFor(timeout, 500*time.Millisecond, func() error {
		var err error
		row, err = k.listRow("distro", name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if row["KIND"] != kind || row["STATUS"] != status {
		t.Errorf("kickstand distro list: %s has KIND %q STATUS %q, want %q and %q (row %v)",
			name, row["KIND"], row["STATUS"], kind, status, row)
	}
	return row
}
