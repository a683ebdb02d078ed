package firewall

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// fakeRunner answers commands from a table keyed by the command line; a
// tool none of whose keys start with its name is not installed.
type fakeRunner struct {
	mu      sync.Mutex
	outputs map[string]fakeResult
	calls   []string
	// hook, if set, answers first; ok=false falls through to outputs.
	hook func(line string) (out string, err error, ok bool)
}

type fakeResult struct {
	out string
	err error
}

func newFake(outputs map[string]string) *fakeRunner {
	f := &fakeRunner{outputs: map[string]fakeResult{}}
	for k, v := range outputs {
		f.outputs[k] = fakeResult{out: v}
	}
	return f
}

func (f *fakeRunner) fail(line string, code int, stderr string) {
	f.outputs[line] = fakeResult{err: &ExitError{Code: code, Stderr: stderr}}
}

func (f *fakeRunner) Run(_ context.Context, _ []byte, name string, args ...string) ([]byte, error) {
	line := commandLine(name, args...)
	f.mu.Lock()
	f.calls = append(f.calls, line)
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if out, err, ok := hook(line); ok {
			return []byte(out), err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.outputs[line]; ok {
		return []byte(r.out), r.err
	}
	for k := range f.outputs {
		if strings.HasPrefix(k, name+" ") || k == name {
			return nil, &ExitError{Code: 1, Stderr: "fake: unexpected command " + line}
		}
	}
	return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
}

func (f *fakeRunner) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
