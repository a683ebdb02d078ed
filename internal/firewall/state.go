package firewall

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// StateFile is the name of the file in the state directory that records
// the rules Open added, until they are removed.
const StateFile = "firewall-opened.json"

type stateFile struct {
	Version int         `json:"version"`
	PID     int         `json:"pid"`
	Rules   []addedRule `json:"rules"`
}

// writeState records rules, atomically: a crash leaves the old file or the new.
func writeState(dir string, rules []addedRule) error {
	data, err := json.MarshalIndent(stateFile{Version: 1, PID: os.Getpid(), Rules: rules}, "", "  ")
	if err != nil {
		return fmt.Errorf("firewall: encode state: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("firewall: state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, StateFile+".*")
	if err != nil {
		return fmt.Errorf("firewall: write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("firewall: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("firewall: write state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("firewall: write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, StateFile)); err != nil {
		return fmt.Errorf("firewall: write state: %w", err)
	}
	return syncDir(dir)
}

// readState returns the recorded rules, or nil if there is no state file.
func readState(dir string) ([]addedRule, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("firewall: read state: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("firewall: read state %s: %w", filepath.Join(dir, StateFile), err)
	}
	if st.Version != 1 {
		return nil, fmt.Errorf("firewall: state %s: version %d, want 1", filepath.Join(dir, StateFile), st.Version)
	}
	for _, r := range st.Rules {
		if len(r.Ports) == 0 || r.Proto == "" {
			return nil, fmt.Errorf("firewall: state %s: a rule without ports", filepath.Join(dir, StateFile))
		}
	}
	if st.Rules == nil {
		st.Rules = []addedRule{}
	}
	return st.Rules, nil
}

func removeState(dir string) error {
	err := os.Remove(filepath.Join(dir, StateFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("firewall: remove state: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("firewall: sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("firewall: sync state directory: %w", err)
	}
	return nil
}
