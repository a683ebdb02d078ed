// Package columns is how the SQL stores keep kickstand's records in table
// columns: the column lists, the values written and the reading back. The
// SQLite and PostgreSQL stores share it, so that a record reads the same
// from either and moves from one to the other unchanged.
package columns

import (
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"time"

	"kickstand/internal/events"
	"kickstand/internal/store"
)

// Row is a result row: *sql.Row, *sql.Rows, pgx.Row and pgx.Rows.
type Row interface{ Scan(dest ...any) error }

// Time is t as stored: nanoseconds since 1970, so that times come back
// exactly as written.
func Time(t time.Time) int64 { return t.UnixNano() }

// FromTime is a stored time; 0 is the zero time (never).
func FromTime(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Distro lists a distro's columns, in the order of DistroValues and ScanDistro.
const Distro = `name, family, version, arch, source, kernel, initrd, stage2, created, kind, size, mtime, checksum, variants`

// DistroValues are x's columns (see Distro); x.Created and x.Kind must be set.
func DistroValues(x store.Distro) ([]any, error) {
	variants, err := json.Marshal(x.Variants)
	if err != nil {
		return nil, err
	}
	var mtime int64
	if !x.ModTime.IsZero() {
		mtime = Time(x.ModTime)
	}
	return []any{x.Name, x.Family, x.Version, x.Arch, x.Source, x.Kernel, x.Initrd, x.Stage2, Time(x.Created),
		string(x.Kind), x.Size, mtime, x.Checksum, string(variants)}, nil
}

// ScanDistro reads a row of the Distro columns.
func ScanDistro(row Row) (store.Distro, error) {
	var x store.Distro
	var created, mtime int64
	var kind, variants string
	err := row.Scan(&x.Name, &x.Family, &x.Version, &x.Arch, &x.Source, &x.Kernel, &x.Initrd, &x.Stage2, &created,
		&kind, &x.Size, &mtime, &x.Checksum, &variants)
	if err != nil {
		return x, err
	}
	x.Kind, x.Created, x.ModTime = store.SourceKind(kind), FromTime(created), FromTime(mtime)
	if err := json.Unmarshal([]byte(variants), &x.Variants); err != nil {
		return x, fmt.Errorf("distro %s variants: %w", x.Name, err)
	}
	return x, nil
}

// Profile lists a profile's columns, in the order of ProfileValues and ScanProfile.
const Profile = `name, distro, kickstart, kernel_args, created, repo_protocol, vars, password_policy`

// ProfileValues are p's columns (see Profile); p.Created and
// p.RepoProtocol must be set.
func ProfileValues(p store.Profile) ([]any, error) {
	vars, err := json.Marshal(nonNil(p.Vars))
	if err != nil {
		return nil, err
	}
	return []any{p.Name, p.Distro, p.Kickstart, p.KernelArgs, Time(p.Created), p.RepoProtocol, string(vars), p.PasswordPolicy}, nil
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// ScanProfile reads a row of the Profile columns.
func ScanProfile(row Row) (store.Profile, error) {
	var p store.Profile
	var created int64
	var vars string
	err := row.Scan(&p.Name, &p.Distro, &p.Kickstart, &p.KernelArgs, &created, &p.RepoProtocol, &vars, &p.PasswordPolicy)
	if err != nil {
		return p, err
	}
	p.Created = FromTime(created)
	if err := json.Unmarshal([]byte(vars), &p.Vars); err != nil {
		return p, fmt.Errorf("profile %s vars: %w", p.Name, err)
	}
	return p, nil
}

// Machine lists a machine's columns as read, in the order of ScanMachine
// (a machine without a profile has a NULL one).
const Machine = `mac, COALESCE(profile, ''), hostname, ip, vars, state, token, created, updated, uuid, network, seen`

// MachineWrite lists the columns MachineValues gives, in its order.
const MachineWrite = `mac, profile, hostname, ip, vars, state, token, created, updated, uuid, network, seen`

// MachineValues are m's columns as written (see MachineWrite); m.Created,
// m.Updated and m.State must be set.
func MachineValues(m store.Machine) ([]any, error) {
	vars, err := json.Marshal(m.Vars)
	if err != nil {
		return nil, err
	}
	network, err := json.Marshal(m.Network)
	if err != nil {
		return nil, err
	}
	var profile any // NULL: discovered
	if m.Profile != "" {
		profile = m.Profile
	}
	ip := ""
	if m.IP.IsValid() {
		ip = m.IP.String()
	}
	var seen int64
	if !m.Seen.IsZero() {
		seen = Time(m.Seen)
	}
	return []any{m.MAC.String(), profile, m.Hostname, ip, string(vars), string(m.State), m.Token,
		Time(m.Created), Time(m.Updated), m.UUID, string(network), seen}, nil
}

// ScanMachine reads a row of the Machine columns.
func ScanMachine(row Row) (store.Machine, error) {
	var m store.Machine
	var mac, ip, vars, state, network string
	var created, updated, seen int64
	if err := row.Scan(&mac, &m.Profile, &m.Hostname, &ip, &vars, &state, &m.Token, &created, &updated,
		&m.UUID, &network, &seen); err != nil {
		return m, err
	}
	var err error
	if m.MAC, err = net.ParseMAC(mac); err != nil {
		return m, fmt.Errorf("machine %q: %w", mac, err)
	}
	if ip != "" {
		if m.IP, err = netip.ParseAddr(ip); err != nil {
			return m, fmt.Errorf("machine %s ip: %w", mac, err)
		}
	}
	if err := json.Unmarshal([]byte(vars), &m.Vars); err != nil {
		return m, fmt.Errorf("machine %s vars: %w", mac, err)
	}
	if err := json.Unmarshal([]byte(network), &m.Network); err != nil {
		return m, fmt.Errorf("machine %s network: %w", mac, err)
	}
	m.State = store.State(state)
	m.Created, m.Updated, m.Seen = FromTime(created), FromTime(updated), FromTime(seen)
	return m, nil
}

// Event lists an event's columns, in the order of ScanEvent.
const Event = `id, mac, time, kind, detail, fields`

// ScanEvent reads a row of the Event columns.
func ScanEvent(row Row) (store.Event, error) {
	var e store.Event
	var mac, kind, fields string
	var t int64
	if err := row.Scan(&e.ID, &mac, &t, &kind, &e.Detail, &fields); err != nil {
		return e, err
	}
	e.Time, e.Kind = FromTime(t), events.Kind(kind)
	if err := DecodeFields(fields, &e.Fields); err != nil {
		return e, fmt.Errorf("event %d: %w", e.ID, err)
	}
	var err error
	e.MAC, err = net.ParseMAC(mac)
	return e, err
}

// ReadyEvent readies ev to be stored: a zero Time is now. It returns ev's
// fields as stored (EncodeFields).
func ReadyEvent(ev *store.Event) (fields string, err error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	return EncodeFields(ev.Fields)
}

// EncodeFields is an event's fields as stored: "" when there are none.
func EncodeFields(f events.Fields) (string, error) {
	b, err := json.Marshal(f)
	if err != nil || string(b) == "{}" {
		return "", err
	}
	return string(b), nil
}

// DecodeFields reads fields as EncodeFields wrote them into f.
func DecodeFields(fields string, f *events.Fields) error {
	if fields == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(fields), f); err != nil {
		return fmt.Errorf("fields: %w", err)
	}
	return nil
}

// Token lists an API token's columns, in the order of ScanToken.
const Token = `id, name, hash, read_only, created, last_used`

// ScanToken reads a row of the Token columns.
func ScanToken(row Row) (store.APIToken, error) {
	var t store.APIToken
	var created, used int64
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.ReadOnly, &created, &used); err != nil {
		return t, err
	}
	t.Created, t.LastUsed = FromTime(created), FromTime(used)
	return t, nil
}

// Lease lists a lease's columns, in the order of ScanLease.
const Lease = `mac, ip, expires, hostname`

// ScanLease reads a row of the Lease columns.
func ScanLease(row Row) (store.Lease, error) {
	var l store.Lease
	var mac, ip string
	var exp int64
	if err := row.Scan(&mac, &ip, &exp, &l.Hostname); err != nil {
		return l, err
	}
	var err error
	if l.MAC, err = net.ParseMAC(mac); err != nil {
		return l, err
	}
	l.Expires = time.Unix(0, exp).UTC()
	l.IP, err = netip.ParseAddr(ip)
	return l, err
}

// InstallLog lists an install log's columns, in the order of ScanInstallLog.
const InstallLog = `id, mac, install, name, created, body`

// ReadyInstallLog readies l to be stored: it needs a MAC, an install and a
// name; a zero Created is now, and a nil Body empty (the column is NOT NULL).
func ReadyInstallLog(l *store.InstallLog) error {
	if len(l.MAC) == 0 || l.Install == "" || l.Name == "" {
		return fmt.Errorf("install log needs a MAC, an install and a name")
	}
	if l.Created.IsZero() {
		l.Created = time.Now().UTC()
	}
	if l.Body == nil {
		l.Body = []byte{}
	}
	return nil
}

// ScanInstallLog reads a row of the InstallLog columns.
func ScanInstallLog(row Row) (store.InstallLog, error) {
	var l store.InstallLog
	var mac string
	var created int64
	if err := row.Scan(&l.ID, &mac, &l.Install, &l.Name, &created, &l.Body); err != nil {
		return l, err
	}
	l.Created = FromTime(created)
	var err error
	l.MAC, err = net.ParseMAC(mac)
	return l, err
}
