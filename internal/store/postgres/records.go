package postgres

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// AddDistro registers x; store.ErrExists if the name is taken.
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
	_, err = d.pool.Exec(ctx, `INSERT INTO distros (`+columns.Distro+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`, values...)
	if isUnique(err) {
		return fmt.Errorf("distro %q: %w", x.Name, store.ErrExists)
	}
	return err
}

// Distro returns the distro called name.
func (d *DB) Distro(ctx context.Context, name string) (store.Distro, error) {
	x, err := columns.ScanDistro(d.pool.QueryRow(ctx, `SELECT `+columns.Distro+` FROM distros WHERE name = $1`, name))
	return x, notFound(err, fmt.Sprintf("distro %q", name))
}

// Distros returns every distro by name.
func (d *DB) Distros(ctx context.Context) ([]store.Distro, error) {
	return queryAll(ctx, d.pool, columns.ScanDistro, `SELECT `+columns.Distro+` FROM distros ORDER BY name`)
}

// RemoveDistro deletes the distro; store.ErrInUse while a profile uses it.
func (d *DB) RemoveDistro(ctx context.Context, name string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM distros WHERE name = $1`, name)
	if isForeignKey(err) {
		return fmt.Errorf("distro %q: %w by a profile", name, store.ErrInUse)
	}
	return affected(tag, err, fmt.Sprintf("distro %q", name))
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
	q := `INSERT INTO profiles (` + columns.Profile + `) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`
	if replace {
		q += ` ON CONFLICT (name) DO UPDATE SET distro=excluded.distro, kickstart=excluded.kickstart,
			kernel_args=excluded.kernel_args, repo_protocol=excluded.repo_protocol, vars=excluded.vars,
			password_policy=excluded.password_policy`
	}
	_, err = d.pool.Exec(ctx, q, values...)
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
	p, err := columns.ScanProfile(d.pool.QueryRow(ctx, `SELECT `+columns.Profile+` FROM profiles WHERE name = $1`, name))
	return p, notFound(err, fmt.Sprintf("profile %q", name))
}

// Profiles returns every profile by name.
func (d *DB) Profiles(ctx context.Context) ([]store.Profile, error) {
	return queryAll(ctx, d.pool, columns.ScanProfile, `SELECT `+columns.Profile+` FROM profiles ORDER BY name`)
}

// RemoveProfile deletes the profile; store.ErrInUse while a machine uses it.
func (d *DB) RemoveProfile(ctx context.Context, name string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM profiles WHERE name = $1`, name)
	if isForeignKey(err) {
		return fmt.Errorf("profile %q: %w by a machine", name, store.ErrInUse)
	}
	return affected(tag, err, fmt.Sprintf("profile %q", name))
}

// PutMachine creates or replaces the machine with m's MAC (its creation
// time and when it was last seen stay as they were).
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
	m.Seen = time.Time{}
	values, err := columns.MachineValues(m)
	if err != nil {
		return err
	}
	_, err = d.pool.Exec(ctx, `INSERT INTO machines (`+columns.MachineWrite+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (mac) DO UPDATE SET profile=excluded.profile, hostname=excluded.hostname,
		ip=excluded.ip, vars=excluded.vars, state=excluded.state, token=excluded.token, updated=excluded.updated,
		uuid=excluded.uuid, network=excluded.network
		RETURNING `+d.notifyMachine("machines.mac"), values...)
	switch {
	case isForeignKey(err):
		return fmt.Errorf("profile %q: %w", m.Profile, store.ErrNotFound)
	case isUnique(err) && violated(err) == "machines_ip":
		// The inventory checks first; this is the race it cannot see:
		// another server reserving the address at the same moment.
		return fmt.Errorf("ip %s is reserved for another machine: %w", m.IP, store.ErrExists)
	case isUnique(err):
		return fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return err
}

// Machine returns the machine with that MAC.
func (d *DB) Machine(ctx context.Context, mac net.HardwareAddr) (store.Machine, error) {
	m, err := columns.ScanMachine(d.pool.QueryRow(ctx, `SELECT `+columns.Machine+` FROM machines WHERE mac = $1`, mac.String()))
	return m, notFound(err, fmt.Sprintf("machine %s", mac))
}

// MachineByToken returns the machine whose secret token is token.
func (d *DB) MachineByToken(ctx context.Context, token string) (store.Machine, error) {
	m, err := columns.ScanMachine(d.pool.QueryRow(ctx, `SELECT `+columns.Machine+` FROM machines WHERE token = $1`, token))
	return m, notFound(err, "machine with that token")
}

// MachineByIP returns the machine whose reserved address is ip.
func (d *DB) MachineByIP(ctx context.Context, ip netip.Addr) (store.Machine, error) {
	m, err := columns.ScanMachine(d.pool.QueryRow(ctx,
		`SELECT `+columns.Machine+` FROM machines WHERE ip = $1 AND ip <> '' LIMIT 1`, ip.String()))
	return m, notFound(err, fmt.Sprintf("machine with address %s", ip))
}

// Machines returns every machine by MAC.
func (d *DB) Machines(ctx context.Context) ([]store.Machine, error) {
	return queryAll(ctx, d.pool, columns.ScanMachine, `SELECT `+columns.Machine+` FROM machines ORDER BY mac`)
}

// SetToken replaces the machine's token.
func (d *DB) SetToken(ctx context.Context, mac net.HardwareAddr, token string) error {
	if token == "" {
		return fmt.Errorf("machine %s: empty token", mac)
	}
	tag, err := d.pool.Exec(ctx, `UPDATE machines SET token = $1, updated = $2 WHERE mac = $3 RETURNING `+d.notifyMachine("mac"),
		token, unix(now()), mac.String())
	if isUnique(err) {
		return fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return affected(tag, err, fmt.Sprintf("machine %s", mac))
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
	err := d.inTx(ctx, false, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO machines (`+columns.MachineWrite+`)
			VALUES ($1, NULL, '', '', 'null', $2, $3, $4, $4, '', '{}', $5) ON CONFLICT (mac) DO NOTHING
			RETURNING `+d.notifyMachine("mac"),
			m.MAC.String(), string(m.State), m.Token, unix(t), unix(m.Seen))
		if err != nil {
			return err
		}
		added = tag.RowsAffected() > 0
		if !added {
			return nil
		}
		// Over the cap, the discovered machines seen longest ago go.
		return d.removeMachines(ctx, tx, `SELECT mac FROM machines WHERE profile IS NULL ORDER BY seen DESC, mac OFFSET $1`, keep)
	})
	if isUnique(err) {
		return false, fmt.Errorf("machine token: %w", store.ErrExists)
	}
	return added, err
}

// removeMachines deletes the machines the query selects, then their
// events. Machines first: a Record of one of them holds its row until its
// event is in, so the events are deleted after it, and a Record that comes
// later finds no machine and writes no event.
func (d *DB) removeMachines(ctx context.Context, tx pgx.Tx, selectMACs string, args ...any) error {
	_, err := d.removeMachinesCount(ctx, tx, selectMACs, args...)
	return err
}

func (d *DB) removeMachinesCount(ctx context.Context, tx pgx.Tx, selectMACs string, args ...any) (int64, error) {
	rows, err := tx.Query(ctx, `DELETE FROM machines WHERE mac IN (`+selectMACs+`) RETURNING mac, `+d.notifyMachine("mac"), args...)
	if err != nil {
		return 0, err
	}
	macs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var mac string
		return mac, row.Scan(&mac, nil)
	})
	if err != nil || len(macs) == 0 {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM events WHERE mac = ANY($1)`, macs); err != nil {
		return 0, err
	}
	_, err = tx.Exec(ctx, `DELETE FROM install_logs WHERE mac = ANY($1)`, macs)
	return int64(len(macs)), err
}

// AddInstallLog keeps l, replacing the same log of the same install, and
// then only the logs of the machine's keep newest installs.
func (d *DB) AddInstallLog(ctx context.Context, l store.InstallLog, keep int) error {
	if err := columns.ReadyInstallLog(&l); err != nil {
		return err
	}
	mac := l.MAC.String()
	return d.inTx(ctx, false, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM install_logs WHERE mac = $1 AND install = $2 AND name = $3`,
			mac, l.Install, l.Name); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO install_logs (mac, install, name, created, body)
			SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM machines WHERE mac = $1)`,
			mac, l.Install, l.Name, unix(l.Created), l.Body)
		if err := affected(tag, err, fmt.Sprintf("machine %s", l.MAC)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM install_logs WHERE mac = $1 AND install NOT IN
			(SELECT install FROM install_logs WHERE mac = $1 GROUP BY install ORDER BY max(id) DESC LIMIT $2)`, mac, keep)
		return err
	})
}

// InstallLogs returns the machine's install logs, oldest first.
func (d *DB) InstallLogs(ctx context.Context, mac net.HardwareAddr) ([]store.InstallLog, error) {
	return queryAll(ctx, d.pool, columns.ScanInstallLog,
		`SELECT `+columns.InstallLog+` FROM install_logs WHERE mac = $1 ORDER BY id`, mac.String())
}

// PruneInstallLogs deletes the install logs created before before.
func (d *DB) PruneInstallLogs(ctx context.Context, before time.Time) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM install_logs WHERE created < $1`, unix(before))
	return tag.RowsAffected(), err
}

// PruneDiscovered deletes discovered machines not seen since before, with
// their events.
func (d *DB) PruneDiscovered(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := d.inTx(ctx, false, func(tx pgx.Tx) error {
		var err error
		n, err = d.removeMachinesCount(ctx, tx, `SELECT mac FROM machines WHERE profile IS NULL AND seen < $1`, unix(before))
		return err
	})
	return n, err
}

// RemoveMachine deletes the machine, its events and its lease.
func (d *DB) RemoveMachine(ctx context.Context, mac net.HardwareAddr) error {
	return d.inTx(ctx, false, func(tx pgx.Tx) error {
		n, err := d.removeMachinesCount(ctx, tx, `$1`, mac.String())
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("machine %s: %w", mac, store.ErrNotFound)
		}
		_, err = tx.Exec(ctx, `DELETE FROM leases WHERE mac = $1`, mac.String())
		return err
	})
}

// Events returns the machine's timeline, oldest first.
func (d *DB) Events(ctx context.Context, mac net.HardwareAddr) ([]store.Event, error) {
	return queryAll(ctx, d.pool, columns.ScanEvent,
		`SELECT `+columns.Event+` FROM events WHERE mac = $1 ORDER BY time, id`, mac.String())
}

// PruneEvents deletes the events older than before.
func (d *DB) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM events WHERE time < $1`, unix(before))
	return tag.RowsAffected(), err
}

// TrimEvents keeps the newest keep events of every machine.
func (d *DB) TrimEvents(ctx context.Context, keep int) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM (
			SELECT id, row_number() OVER (PARTITION BY mac ORDER BY time DESC, id DESC) AS newer
			FROM events WHERE mac IN (SELECT mac FROM events GROUP BY mac HAVING count(*) > $1)) ranked
		WHERE newer > $1)`, keep)
	return tag.RowsAffected(), err
}

// AddAPIToken records t.
func (d *DB) AddAPIToken(ctx context.Context, t store.APIToken) error {
	if t.ID == "" || t.Name == "" || t.Hash == "" {
		return fmt.Errorf("api token needs an ID, a name and a hash")
	}
	if t.Created.IsZero() {
		t.Created = now()
	}
	_, err := d.pool.Exec(ctx, `INSERT INTO api_tokens (id, name, hash, read_only, created) VALUES ($1,$2,$3,$4,$5)`,
		t.ID, t.Name, t.Hash, t.ReadOnly, unix(t.Created))
	if isUnique(err) {
		return fmt.Errorf("api token %q: %w", t.Name, store.ErrExists)
	}
	return err
}

// APIToken returns the token with that ID.
func (d *DB) APIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := columns.ScanToken(d.pool.QueryRow(ctx, `SELECT `+columns.Token+` FROM api_tokens WHERE id = $1`, id))
	return t, notFound(err, "api token")
}

// APITokens returns every token by name.
func (d *DB) APITokens(ctx context.Context) ([]store.APIToken, error) {
	return queryAll(ctx, d.pool, columns.ScanToken, `SELECT `+columns.Token+` FROM api_tokens ORDER BY name`)
}

// RemoveAPIToken deletes the token called name.
func (d *DB) RemoveAPIToken(ctx context.Context, name string) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM api_tokens WHERE name = $1`, name)
	return affected(tag, err, fmt.Sprintf("api token %q", name))
}

// UsedAPIToken notes that the token was used at.
func (d *DB) UsedAPIToken(ctx context.Context, id string, at time.Time) error {
	_, err := d.pool.Exec(ctx, `UPDATE api_tokens SET last_used = $1 WHERE id = $2`, unix(at), id)
	return err
}

// querier is the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func queryAll[T any](ctx context.Context, q querier, scan func(columns.Row) (T, error), sql string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (T, error) { return scan(row) })
	if len(out) == 0 {
		return nil, err // as the SQLite store: none is nil
	}
	return out, err
}
