package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// Imported counts the records Import copied.
type Imported struct {
	Distros, Profiles, Machines, Events, InstallLogs, APITokens, Leases int
}

// ErrNotEmpty is returned by Import when the database already holds records.
var ErrNotEmpty = errors.New("the PostgreSQL database already holds an inventory: copy into a new, empty database")

// Import copies everything in from (another store: the SQLite one of an
// installation moving to PostgreSQL) into this database, which must be
// empty, in one transaction: all of it or nothing. Records keep their
// times, tokens and states as they are; events get new IDs, in the order
// of each machine's timeline. Machines and events go by COPY.
func (d *DB) Import(ctx context.Context, from store.Store) (Imported, error) {
	var n Imported
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		n = Imported{}
		var used bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM distros) OR EXISTS (SELECT 1 FROM profiles)
			OR EXISTS (SELECT 1 FROM machines) OR EXISTS (SELECT 1 FROM api_tokens) OR EXISTS (SELECT 1 FROM leases)`).Scan(&used); err != nil {
			return err
		}
		if used {
			return ErrNotEmpty
		}
		steps := []func(context.Context, pgx.Tx, store.Store, *Imported) error{
			importCatalog, importMachines, importTokens, importLeases,
		}
		for _, step := range steps {
			if err := step(ctx, tx, from, &n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Imported{}, fmt.Errorf("store: import: %w", err)
	}
	return n, nil
}

// importCatalog copies the distros, then the profiles that use them.
func importCatalog(ctx context.Context, tx pgx.Tx, from store.Store, n *Imported) error {
	distros, err := from.Distros(ctx)
	if err != nil {
		return err
	}
	for _, x := range distros {
		values, err := columns.DistroValues(x)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distros (`+columns.Distro+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)`, values...); err != nil {
			return fmt.Errorf("distro %q: %w", x.Name, err)
		}
	}
	profiles, err := from.Profiles(ctx)
	if err != nil {
		return err
	}
	for _, p := range profiles {
		values, err := columns.ProfileValues(p)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO profiles (`+columns.Profile+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)`, values...); err != nil {
			return fmt.Errorf("profile %q: %w", p.Name, err)
		}
	}
	n.Distros, n.Profiles = len(distros), len(profiles)
	return nil
}

// importMachines copies the machines, their timelines and install logs.
func importMachines(ctx context.Context, tx pgx.Tx, from store.Store, n *Imported) error {
	machines, err := from.Machines(ctx)
	if err != nil {
		return err
	}
	rows := make([][]any, len(machines))
	for i, m := range machines {
		if rows[i], err = columns.MachineValues(m); err != nil {
			return err
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"machines"}, columnNames(columns.MachineWrite), pgx.CopyFromRows(rows)); err != nil {
		if violated(err) == "machines_ip" {
			return fmt.Errorf("machines: %w: two machines reserve one address, which PostgreSQL refuses; "+
				"give one another (kickstand machine edit MAC --ip ...) and migrate again", err)
		}
		return fmt.Errorf("machines: %w", err)
	}
	n.Machines = len(machines)
	for _, m := range machines {
		evs, err := from.Events(ctx, m.MAC)
		if err != nil {
			return err
		}
		rows := make([][]any, len(evs))
		for i, e := range evs {
			fields, err := columns.EncodeFields(e.Fields)
			if err != nil {
				return err
			}
			rows[i] = []any{e.MAC.String(), unix(e.Time), text(string(e.Kind)), text(e.Detail), fields}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"mac", "time", "kind", "detail", "fields"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("events of %s: %w", m.MAC, err)
		}
		n.Events += len(evs)
		logs, err := from.InstallLogs(ctx, m.MAC)
		if err != nil {
			return err
		}
		rows = make([][]any, len(logs))
		for i, l := range logs {
			rows[i] = []any{l.MAC.String(), l.Install, l.Name, unix(l.Created), l.Body}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"install_logs"}, []string{"mac", "install", "name", "created", "body"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("install logs of %s: %w", m.MAC, err)
		}
		n.InstallLogs += len(logs)
	}
	return nil
}

func importTokens(ctx context.Context, tx pgx.Tx, from store.Store, n *Imported) error {
	tokens, err := from.APITokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		var used int64
		if !t.LastUsed.IsZero() {
			used = unix(t.LastUsed)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO api_tokens (`+columns.Token+`) VALUES ($1,$2,$3,$4,$5,$6)`,
			t.ID, t.Name, t.Hash, t.ReadOnly, unix(t.Created), used); err != nil {
			return fmt.Errorf("api token %q: %w", t.Name, err)
		}
	}
	n.APITokens = len(tokens)
	return nil
}

func importLeases(ctx context.Context, tx pgx.Tx, from store.Store, n *Imported) error {
	leases, err := from.Leases(ctx)
	if err != nil {
		return err
	}
	rows := make([][]any, len(leases))
	for i, l := range leases {
		rows[i] = []any{l.MAC.String(), l.IP.String(), unix(l.Expires), text(l.Hostname)}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"leases"}, columnNames(columns.Lease), pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	n.Leases = len(leases)
	return nil
}

// columnNames splits a column list ("a, b, c") for CopyFrom.
func columnNames(list string) []string {
	var names []string
	for name := range strings.SplitSeq(list, ",") {
		names = append(names, strings.TrimSpace(name))
	}
	return names
}
