package firewall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// ErrNotInstalled is returned (wrapped) by a Runner when the command does not
// exist on the host: that firewall tool is not present, which is not a failure.
var ErrNotInstalled = errors.New("not installed")

// ExitError is returned by a Runner when the command ran and exited non-zero.
type ExitError struct {
	Code   int
	Stderr string // its standard error, trimmed
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return fmt.Sprintf("exit status %d: %s", e.Code, e.Stderr)
}

// Runner runs one command (no shell) with stdin and returns its standard
// output. It returns an error wrapping ErrNotInstalled when the command does
// not exist, and an *ExitError when it exits non-zero. Tests use fakes.
type Runner interface {
	Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error)
}

// DefaultTimeout bounds one command run by ExecRunner: firewall-cmd waits
// for D-Bus, and a wedged firewalld must not hang kickstand's start.
const DefaultTimeout = 20 * time.Second

// ExecRunner runs commands on this host with os/exec.
type ExecRunner struct {
	// Prefix is put before every command, e.g. {"ip", "netns", "exec", "ns1"}
	// to act inside a network namespace. The command itself is still looked
	// up on this host's PATH first, so a missing tool is ErrNotInstalled.
	Prefix []string
	// Timeout bounds each command. Defaults to DefaultTimeout.
	Timeout time.Duration
}

// Run implements Runner.
func (r ExecRunner) Run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("%s: %w", name, ErrNotInstalled)
	}
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	argv := append(append(append([]string(nil), r.Prefix...), name), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	// A fixed locale: the parsers read English output (firewall-cmd).
	cmd.Env = append(cmd.Environ(), "LC_ALL=C")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w", name, ctx.Err())
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return stdout.Bytes(), &ExitError{Code: exitErr.ExitCode(), Stderr: strings.TrimSpace(stderr.String())}
	}
	return stdout.Bytes(), fmt.Errorf("%s: %w", name, err)
}

// exitCode returns the exit code of err if it is an *ExitError, else -1.
func exitCode(err error) int {
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// commandLine renders name and args for messages.
func commandLine(name string, args ...string) string {
	return strings.TrimSpace(name + " " + strings.Join(args, " "))
}
