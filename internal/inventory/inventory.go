// Package inventory is kickstand's distros, profiles and machines: every
// create, update, delete, reinstall and import is checked and written here,
// once. The command line, apply and the REST API all call it; none of them
// validates on its own.
package inventory

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"kickstand/internal/store"
)

// Inventory is the domain layer over a store.
type Inventory struct {
	Store store.Store
	// Site is the server side of kickstarts: where snippets are, the
	// password policy, and the URLs a rendered kickstart carries.
	Site Site
	// SiteOf, if set, is asked for the Site each time instead: a server
	// whose default distro (served at pub/) can change while it runs.
	SiteOf func(context.Context) Site
	// Progress, if set, receives the progress of an ISO's one-time checksum.
	Progress io.Writer
	// Recorded, if set, is told of every event written to a machine's
	// timeline here (registered, edited, reinstall), with the machine's
	// state after it: the server's live event stream.
	Recorded func(ev store.Event, state store.State)
}

// site is the Site kickstarts are rendered for now.
func (inv *Inventory) site(ctx context.Context) Site {
	if inv.SiteOf != nil {
		return inv.SiteOf(ctx)
	}
	return inv.Site
}

// record appends ev to its machine's timeline.
func (inv *Inventory) record(ctx context.Context, ev store.Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	state, err := inv.Store.Record(ctx, ev, "")
	if err == nil && inv.Recorded != nil {
		inv.Recorded(ev, state)
	}
	return err
}

// putMachine writes m and returns it as stored (with the times the store
// gave it).
func (inv *Inventory) putMachine(ctx context.Context, m store.Machine) (store.Machine, error) {
	if err := inv.Store.PutMachine(ctx, m); err != nil {
		return m, err
	}
	return inv.Store.Machine(ctx, m.MAC)
}

// Kind is what sort of failure an Error is.
type Kind int

// The kinds of Error.
const (
	// Invalid is a value that cannot be used (HTTP 400).
	Invalid Kind = iota
	// NotFound is a name or MAC that names nothing (HTTP 404).
	NotFound
	// Conflict is a write that clashes with what exists (HTTP 409).
	Conflict
)

// Error is a refused operation: what is wrong, which field of the request
// it is about ("" for none), and what to do, in Msg.
type Error struct {
	Kind  Kind
	Field string
	Msg   string
	Err   error // the underlying error, if any
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func invalid(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *Error {
	return &Error{Kind: NotFound, Msg: fmt.Sprintf(format, args...), Err: store.ErrNotFound}
}

func conflict(format string, args ...any) *Error {
	return &Error{Kind: Conflict, Msg: fmt.Sprintf(format, args...)}
}

// inField makes err, if it is an Invalid *Error without a field, about
// field; other errors are returned as they are.
func inField(field string, err error) error {
	var e *Error
	if errors.As(err, &e) && e.Kind == Invalid && e.Field == "" {
		e.Field = field
	}
	return err
}

// NewToken returns a random, URL-safe secret: a machine's kickstart and
// phone-home token.
func NewToken() string {
	b := make([]byte, 20)
	rand.Read(b) // crypto/rand.Read never fails on Linux
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// CheckName refuses names that would not be safe in URLs and file names.
func CheckName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return invalid("name", "%s name %q: use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)", kind, name)
	}
	return nil
}
