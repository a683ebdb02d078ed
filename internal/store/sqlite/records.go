package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

func unix(t time.Time) int64 { return columns.Time(t) }

func now() time.Time { return time.Now().UTC() }

// AddDistro registers d; store.ErrExists if the name is taken.
func (d *DB) AddDistro(ctx context.Context, x store.Distro) error {
	if x.Created.IsZero() {
		x.Created = now()
	}
	if x.Kind == "" {
		x.Kind = store.SourceDir
	}
	values, err := columns.DistroValues(x)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO distros (`+columns.Distro+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, values...)
	if isUnique(err) {
		return fmt.Errorf("distro %q: %w", x.Name, store.ErrExists)
	}
	return err
}

// Distro returns the distro called name.
func (d *DB) Distro(ctx context.Context, name string) (store.Distro, error) {
	x, err := columns.ScanDistro(d.db.QueryRowContext(ctx, `SELECT `+columns.Distro+` FROM distros WHERE name = ?`, name))
	return x, notFound(err, fmt.Sprintf("distro %q", name))
}

// Distros returns every distro by name.
func (d *DB) Distros(ctx context.Context) ([]store.Distro, error) {
	return queryAll(ctx, d.db, columns.ScanDistro, `SELECT `+columns.Distro+` FROM distros ORDER BY name`)
}

// RemoveDistro deletes the distro; store.ErrInUse while a profile uses it.
func (d *DB) RemoveDistro(ctx context.Context, name string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM distros WHERE name = ?`, name)
	if isForeignKey(err) {
		return fmt.Errorf("distro %q: %w by a profile", name, store.ErrInUse)
	}
	return affected(res, err, fmt.Sprintf("distro %q", name))
}

// AddProfile registers p; its distro must exist.
func (d *DB) AddProfile(ctx context.Context, p store.Profile) error {
	return d.writeProfile(ctx, p, false)
}

// PutProfile creates or replaces the profile called p.Name.
func (d *DB) PutProfile(ctx context.Context, p store.Profile) error {
	return d.writeProfile(ctx, p, true)
}

func (d *DB) writeProfile(ctx context.Context, p store.Profile, replace bool) error {
	if p.Created.IsZero() {
		p.Created = now()
	}
	if p.RepoProtocol == "" {
		p.RepoProtocol = store.RepoHTTP
	}
	values, err := columns.ProfileValues(p)
	if err != nil {
		return err
	}
	q := `INSERT INTO profiles (` + columns.Profile + `) VALUES (?,?,?,?,?,?,?,?)`
	if replace {
		q += ` ON CONFLICT(name) DO UPDATE SET distro=excluded.distro, kickstart=excluded.kickstart,
			kernel_args=excluded.kernel_args, repo_protocol=excluded.repo_protocol, vars=excluded.vars,
			password_policy=excluded.password_policy`
	}
	_, err = d.db.ExecContext(ctx, q, values...)
	switch {
	case isUnique(err):
		return fmt.Errorf("profile %q: %w", p.Name, store.ErrExists)
	case isForeignKey(err):
		return fmt.Errorf("distro %q: %w", p.Distro, store.ErrNotFound)
	}
	return err
}

// Profile returns the profile called name.
func (d *DB) Profile(ctx context.Context, name string) (store.Profile, error) {
	p, err := columns.ScanProfile(d.db.QueryRowContext(ctx, `SELECT `+columns.Profile+` FROM profiles WHERE name = ?`, name))
	return p, notFound(err, fmt.Sprintf("profile %q", name))
}

// Profiles returns every profile by name.
func (d *DB) Profiles(ctx context.Context) ([]store.Profile, error) {
	return queryAll(ctx, d.db, columns.ScanProfile, `SELECT `+columns.Profile+` FROM profiles ORDER BY name`)
}

// RemoveProfile deletes the profile; store.ErrInUse while a machine uses it.
func (d *DB) RemoveProfile(ctx context.Context, name string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM profiles WHERE name = ?`, name)
	if isForeignKey(err) {
		return fmt.Errorf("profile %q: %w by a machine", name, store.ErrInUse)
	}
	return affected(res, err, fmt.Sprintf("profile %q", name))
}

// PutMachine creates or replaces the machine with m's MAC.
func (d *DB) PutMachine(ctx context.Context, m store.Machine) error {
	if len(m.MAC) == 0 || m.Token == "" {
		return fmt.Errorf("machine needs a MAC and a token")
	}
	if _, err := store.ParseState(string(m.State)); err != nil {
		return err
	}
	m.Updated = now()
	if m.Created.IsZero() {
		m.Created = m.Updated
	}
	m.Seen = time.Time{} // Record's to set
	values, err := columns.MachineValues(m)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, `INSERT INTO machines (`+columns.MachineWrite+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(mac) DO UPDATE SET profile=excluded.profile, hostname=excluded.hostname,
		ip=excluded.ip, vars=excluded.vars, state=excluded.state, token=excluded.token, updated=excluded.updated,
		uuid=excluded.uuid, network=excluded.network`, values...)
	switch {
	case isForeignKey(err):
		return fmt.Errorf("profile %q: %w", m.Profile, store.ErrNotFound)
	case isUnique(err):
		return fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return err
}

// Machine returns the machine with that MAC.
func (d *DB) Machine(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	m, err := columns.ScanMachine(d.queryRow(ctx, `SELECT `+columns.Machine+` FROM machines WHERE mac = ?`, mac.String()))
	return m, notFound(err, fmt.Sprintf("machine %s", mac))
}

// MachineByToken returns the machine whose secret token is token.
func (d *DB) MachineByToken(ctx context.Context, token string) (store.Machine, error) {
	m, err := columns.ScanMachine(d.db.QueryRowContext(ctx, `SELECT `+columns.Machine+` FROM machines WHERE token = ?`, token))
	return m, notFound(err, "machine with that token")
}

// MachineByIP returns the machine whose reserved address is ip (an index
// lookup: the DHCP server asks for every address it considers).
func (d *DB) MachineByIP(ctx context.Context, ip netip.Addr) (store.Machine, error) {
	m, err := columns.ScanMachine(d.queryRow(ctx,
		`SELECT `+columns.Machine+` FROM machines INDEXED BY machines_ip WHERE ip = ? AND ip <> '' LIMIT 1`, ip.String()))
	return m, notFound(err, fmt.Sprintf("machine with address %s", ip))
}

// SetToken replaces the machine's token.
func (d *DB) SetToken(ctx context.Context, mac net.HardwareAddr, token string) error {
	if token == "" {
		return fmt.Errorf("machine %s: empty token", mac)
	}
	res, err := d.db.ExecContext(ctx, `UPDATE machines SET token = ?, updated = ? WHERE mac = ?`, token, unix(now()), mac.String())
	if isUnique(err) {
		return fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return affected(res, err, fmt.Sprintf("machine %s", mac))
}

// Discover adds the discovered machine m unless its MAC is known, and keeps
// the newest keep discovered machines.
func (d *DB) Discover(ctx context.Context, m store.Machine, keep int) (bool, error) {
	if m.Profile != "" {
		return false, fmt.Errorf("machine %s: a discovered machine has no profile", m.MAC)
	}
	if len(m.MAC) == 0 || m.Token == "" {
		return false, fmt.Errorf("machine needs a MAC and a token")
	}
	if m.State == "" {
		m.State = store.StateNew
	}
	t := now()
	if m.Seen.IsZero() {
		m.Seen = t
	}
	var added bool
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO machines (mac, profile, hostname, ip, vars, state, token, created, updated, uuid, network, seen)
			VALUES (?, NULL, '', '', 'null', ?, ?, ?, ?, '', '{}', ?) ON CONFLICT(mac) DO NOTHING`,
			m.MAC.String(), string(m.State), m.Token, unix(t), unix(t), unix(m.Seen))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil || n == 0 {
			return err
		}
		added = true
		// Over the cap, the discovered machines seen longest ago go.
		const stale = `SELECT mac FROM machines WHERE profile IS NULL ORDER BY seen DESC, mac LIMIT -1 OFFSET ?`
		for _, table := range []string{"events", "install_logs"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE mac IN (`+stale+`)`, keep); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM machines WHERE mac IN (`+stale+`)`, keep)
		return err
	})
	if isUnique(err) {
		return false, fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return added, err
}

// PruneDiscovered deletes discovered machines not seen since before, with
// their events.
func (d *DB) PruneDiscovered(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		const stale = `SELECT mac FROM machines WHERE profile IS NULL AND seen < ?`
		for _, table := range []string{"events", "install_logs"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE mac IN (`+stale+`)`, unix(before)); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM machines WHERE mac IN (`+stale+`)`, unix(before))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// Machines returns every machine by MAC.
func (d *DB) Machines(ctx context.Context) ([]store.Machine, error) {
	return queryAll(ctx, d.db, columns.ScanMachine, `SELECT `+columns.Machine+` FROM machines ORDER BY mac`)
}

// RemoveMachine deletes the machine, its events, install logs and lease.
func (d *DB) RemoveMachine(ctx context.Context, mac net.HardwareAddr) error {
	// A journaled lease of the machine must not reach the table after it.
	if err := d.flushLeases(ctx); err != nil {
		return err
	}
	return d.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM machines WHERE mac = ?`, mac.String())
		if err := affected(res, err, fmt.Sprintf("machine %s", mac)); err != nil {
			return err
		}
		for _, table := range []string{"events", "install_logs", "leases"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE mac = ?`, mac.String()); err != nil {
				return err
			}
		}
		return nil
	})
}

// Record appends ev and advances the machine toward step, atomically: the
// transaction takes the write lock first (_txlock=immediate), so the state
// read there is the one the update replaces. Concurrent calls share a
// transaction (eventWriter); each gets its own event's result.
//
// ctx ending before Record is called fails it; once ev has joined a batch
// the batch is written whatever becomes of ctx, since the other events in
// it are not the caller's to cancel, and the wait is one or two batches.
func (d *DB) Record(ctx context.Context, ev store.Event, step store.State) (store.State, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	fields, err := columns.ReadyEvent(&ev)
	if err != nil {
		return "", err
	}
	e := batchEvent{ev: ev, mac: ev.MAC.String(), fields: fields, step: step}
	return d.events.record(context.WithoutCancel(ctx), e)
}

// Events returns the machine's timeline, oldest first.
func (d *DB) Events(ctx context.Context, mac net.HardwareAddr) ([]store.Event, error) {
	return queryAll(ctx, d.db, columns.ScanEvent,
		`SELECT `+columns.Event+` FROM events WHERE mac = ? ORDER BY time, id`, mac.String())
}

// PruneEvents deletes the events older than before.
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM events WHERE time < ?`, unix(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// TrimEvents keeps the newest keep events of every machine.
func (d *DB) TrimEvents(ctx context.Context, keep int) (int64, error) {
	macs, err := queryAll(ctx, d.db, func(row columns.Row) (string, error) {
		var mac string
		return mac, row.Scan(&mac)
	}, `SELECT mac FROM events GROUP BY mac HAVING count(*) > ?`, keep)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, mac := range macs {
		res, err := d.db.ExecContext(ctx, `DELETE FROM events WHERE mac = ? AND id NOT IN
			(SELECT id FROM events WHERE mac = ? ORDER BY time DESC, id DESC LIMIT ?)`, mac, mac, keep)
		if err != nil {
			return n, err
		}
		k, err := res.RowsAffected()
		if err != nil {
			return n, err
		}
		n += k
	}
	return n, nil
}

// AddInstallLog keeps l, replacing the same log of the same install, and
// then only the logs of the machine's keep newest installs.
func (d *DB) AddInstallLog(ctx context.Context, l store.InstallLog, keep int) error {
	if err := columns.ReadyInstallLog(&l); err != nil {
		return err
	}
	mac := l.MAC.String()
	return d.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM install_logs WHERE mac = ? AND install = ? AND name = ?`,
			mac, l.Install, l.Name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO install_logs (mac, install, name, created, body)
			SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM machines WHERE mac = ?)`,
			mac, l.Install, l.Name, unix(l.Created), l.Body, mac)
		if err := affected(res, err, fmt.Sprintf("machine %s", l.MAC)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM install_logs WHERE mac = ? AND install NOT IN
			(SELECT install FROM install_logs WHERE mac = ? GROUP BY install ORDER BY max(id) DESC LIMIT ?)`, mac, mac, keep)
		return err
	})
}

// InstallLogs returns the machine's install logs, oldest first.
func (d *DB) InstallLogs(ctx context.Context, mac net.HardwareAddr) ([]store.InstallLog, error) {
	return queryAll(ctx, d.db, columns.ScanInstallLog,
		`SELECT `+columns.InstallLog+` FROM install_logs WHERE mac = ? ORDER BY id`, mac.String())
}

// PruneInstallLogs deletes the install logs created before before.
func (d *DB) PruneInstallLogs(ctx context.Context, before time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM install_logs WHERE created < ?`, unix(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AddAPIToken records t.
func (d *DB) AddAPIToken(ctx context.Context, t store.APIToken) error {
	if t.ID == "" || t.Name == "" || t.Hash == "" {
		return fmt.Errorf("api token needs an ID, a name and a hash")
	}
	if t.Created.IsZero() {
		t.Created = now()
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO api_tokens (id, name, hash, read_only, created) VALUES (?,?,?,?,?)`,
		t.ID, t.Name, t.Hash, t.ReadOnly, unix(t.Created))
	if isUnique(err) {
		return fmt.Errorf("api token %q: %w", t.Name, store.ErrExists)
	}
	return err
}

// APIToken returns the token with that ID.
func (d *DB) APIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := columns.ScanToken(d.db.QueryRowContext(ctx, `SELECT `+columns.Token+` FROM api_tokens WHERE id = ?`, id))
	return t, notFound(err, "api token")
}

// APITokens returns every token by name.
func (d *DB) APITokens(ctx context.Context) ([]store.APIToken, error) {
	return queryAll(ctx, d.db, columns.ScanToken, `SELECT `+columns.Token+` FROM api_tokens ORDER BY name`)
}

// RemoveAPIToken deletes the token called name.
func (d *DB) RemoveAPIToken(ctx context.Context, name string) error {
	res, err := d.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE name = ?`, name)
	return affected(res, err, fmt.Sprintf("api token %q", name))
}

// UsedAPIToken notes that the token was used at.
func (d *DB) UsedAPIToken(ctx context.Context, id string, at time.Time) error {
	_, err := d.db.ExecContext(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, unix(at), id)
	return err
}

// Leases returns every lease.
func (d *DB) Leases(ctx context.Context) ([]store.Lease, error) {
	if err := d.flushLeases(ctx); err != nil {
		return nil, err
	}
	return queryAll(ctx, d.db, columns.ScanLease, `SELECT `+columns.Lease+` FROM leases ORDER BY ip`)
}

// The lease writes: the DHCP server writes a batch of leases for every
// group of concurrent ACKs, with statements prepared once (d.stmt).
const (
	// REPLACE deletes the rows in the way of each new one on either
	// unique column, row by row in order: the MAC's previous lease, and
	// another MAC's lease of the address.
	leaseReplace = `INSERT OR REPLACE INTO leases VALUES `
	leaseRow     = `(?,?,?,?)`
	leaseRemove  = `DELETE FROM leases WHERE mac = ?`
)

// PutLease records l, replacing the MAC's previous lease and any older lease of the same IP.
func (d *DB) PutLease(ctx context.Context, l store.Lease) error {
	return d.SaveLeases(ctx, []store.Lease{l}, nil)
}

// RemoveLease deletes the MAC's lease, if any.
func (d *DB) RemoveLease(ctx context.Context, mac net.HardwareAddr) error {
	return d.SaveLeases(ctx, nil, []net.HardwareAddr{mac})
}

// SaveLeases stores put and deletes the leases of remove (first) in one
// transaction; or, in the process that owns the lease journal, in one
// write to the journal.
func (d *DB) SaveLeases(ctx context.Context, put []store.Lease, remove []net.HardwareAddr) error {
	if len(put) == 0 && len(remove) == 0 {
		return nil
	}
	if d.journal != nil {
		return d.journal.save(put, remove)
	}
	return d.inTx(ctx, func(tx *sql.Tx) error { return d.saveLeases(ctx, tx, put, remove) })
}

// flushLeases moves journaled leases into the table, so that what follows
// reads or changes them there.
func (d *DB) flushLeases(ctx context.Context) error {
	if d.journal == nil {
		return nil
	}
	return d.journal.flush(ctx)
}

// saveLeases is SaveLeases inside tx.
func (d *DB) saveLeases(ctx context.Context, tx *sql.Tx, put []store.Lease, remove []net.HardwareAddr) error {
	if len(remove) > 0 {
		del, err := d.txStmt(ctx, tx, leaseRemove)
		if err != nil {
			return err
		}
		for _, mac := range remove {
			if _, err := del.ExecContext(ctx, mac.String()); err != nil {
				return err
			}
		}
	}
	if len(put) == 0 {
		return nil
	}
	args := make([]any, 0, 4*min(len(put), maxLeaseRows))
	for len(put) > 0 {
		n := leaseRows(len(put))
		replace, err := d.txStmt(ctx, tx, leaseReplaceRows[n])
		if err != nil {
			return err
		}
		args = args[:0]
		for _, l := range put[:n] {
			args = append(args, l.MAC.String(), l.IP.String(), unix(l.Expires), l.Hostname)
		}
		if _, err := replace.ExecContext(ctx, args...); err != nil {
			return err
		}
		put = put[n:]
	}
	return nil
}

// maxLeaseRows is the most leases one INSERT writes. A statement per
// lease cost more than the lease: a batch of 64 in one statement takes
// about half the CPU per lease of 64 statements.
const maxLeaseRows = 64

// leaseReplaceRows holds leaseReplace for 1, 2, 4 ... maxLeaseRows leases
// in one statement, by count: a batch goes in a few of them, so few
// statements are ever prepared.
var leaseReplaceRows = func() map[int]string {
	rows := map[int]string{}
	for n := 1; n <= maxLeaseRows; n *= 2 {
		rows[n] = leaseReplace + strings.Repeat(leaseRow+",", n-1) + leaseRow
	}
	return rows
}()

// leaseRows is how many of left leases the next statement writes: the
// largest count of leaseReplaceRows that fits.
func leaseRows(left int) int {
	n := maxLeaseRows
	for n > left {
		n /= 2
	}
	return n
}

func (d *DB) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func queryAll[T any](ctx context.Context, db *sql.DB, scan func(columns.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}
