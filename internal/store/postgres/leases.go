package postgres

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/jackc/pgx/v5"

	"kickstand/internal/store"
	"kickstand/internal/store/columns"
)

// Leases returns every lease.
func (d *DB) Leases(ctx context.Context) ([]store.Lease, error) {
	return queryAll(ctx, d.pool, columns.ScanLease, `SELECT `+columns.Lease+` FROM leases ORDER BY ip`)
}

// PutLease records l, replacing the MAC's previous lease and any other lease of its address.
func (d *DB) PutLease(ctx context.Context, l store.Lease) error {
	return d.SaveLeases(ctx, []store.Lease{l}, nil)
}

// RemoveLease deletes the MAC's lease, if any.
func (d *DB) RemoveLease(ctx context.Context, mac net.HardwareAddr) error {
	return d.SaveLeases(ctx, nil, []net.HardwareAddr{mac})
}

// SaveLeases stores put and deletes the leases of remove in one
// transaction of two statements, whatever the batch's size, sent in one
// round trip: one deletes every row in the way (the MACs' leases, the
// addresses' leases, the removed), one inserts the batch from arrays. The unique address is the
// database's to keep: of two servers writing one address to two MACs at
// once, the second waits for the first and then finds the row in its way;
// it runs again and replaces it, as a later PutLease does.
func (d *DB) SaveLeases(ctx context.Context, put []store.Lease, remove []net.HardwareAddr) error {
	if len(put) == 0 && len(remove) == 0 {
		return nil
	}
	rows := leaseArrays(lastWins(put))
	gone := make([]string, 0, len(rows.macs)+len(remove))
	gone = append(gone, rows.macs...)
	for _, mac := range remove {
		gone = append(gone, mac.String())
	}
	return d.batchTx(ctx, true, func(b *pgx.Batch) {
		b.Queue(customPlans)
		b.Queue(`DELETE FROM leases WHERE mac = ANY($1) OR ip = ANY($2)`, gone, rows.ips)
		if len(rows.macs) > 0 {
			b.Queue(insertLeases, rows.macs, rows.ips, rows.expires, rows.hostnames)
		}
	})
}

// customPlans has the transaction's statements planned for their arrays,
// each time: a plan cached while the table was small scans the table, for
// every MAC and address in the batch, however large it has grown (64
// leases took 5 ms of a few thousand rows, and more as it grew).
const customPlans = `SET LOCAL plan_cache_mode = force_custom_plan`

// insertLeases inserts the leases of a leaseRows.
const insertLeases = `INSERT INTO leases (` + columns.Lease + `)
	SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`

// leaseRows are leases as the columns' arrays that insertLeases takes.
type leaseRows struct {
	macs, ips, hostnames []string
	expires              []int64
}

func leaseArrays(ls []store.Lease) leaseRows {
	var r leaseRows
	for _, l := range ls {
		r.add(l)
	}
	return r
}

func (r *leaseRows) add(l store.Lease) {
	r.macs, r.ips = append(r.macs, l.MAC.String()), append(r.ips, l.IP.String())
	r.expires, r.hostnames = append(r.expires, unix(l.Expires)), append(r.hostnames, text(l.Hostname))
}

// lastWins is put as if its leases were written one by one in order: a
// lease replaces an earlier one of its MAC or of its address.
func lastWins(put []store.Lease) []store.Lease {
	if len(put) < 2 {
		return put
	}
	byMAC := make(map[string]int, len(put))
	byIP := make(map[string]int, len(put))
	kept := make([]bool, len(put))
	for i, l := range put {
		mac, ip := l.MAC.String(), l.IP.String()
		if j, ok := byMAC[mac]; ok {
			kept[j] = false
		}
		if j, ok := byIP[ip]; ok && kept[j] {
			kept[j] = false
			delete(byMAC, put[j].MAC.String())
		}
		byMAC[mac], byIP[ip], kept[i] = i, i, true
	}
	out := make([]store.Lease, 0, len(put))
	for i, l := range put {
		if kept[i] {
			out = append(out, l)
		}
	}
	return out
}

// ClaimLeases is SaveLeases for servers that share the pool (full mode
// on one database): a lease whose address another MAC holds, unexpired
// at now, is not stored, and that holder's lease is returned instead.
// The holders' rows are locked until the commit; of two servers claiming
// one free address at once, the second's INSERT meets the first's row,
// and its transaction runs again and finds it held.
func (d *DB) ClaimLeases(ctx context.Context, put []store.Lease, remove []net.HardwareAddr, now time.Time) ([]store.Lease, error) {
	put = lastWins(put)
	ips := make([]string, len(put))
	for i, l := range put {
		ips[i] = l.IP.String()
	}
	gone := make([]string, len(remove))
	for i, mac := range remove {
		gone[i] = mac.String()
	}
	var held []store.Lease
	err := d.inTx(ctx, true, func(tx pgx.Tx) error {
		held = held[:0]
		if _, err := tx.Exec(ctx, customPlans); err != nil {
			return err
		}
		if len(gone) > 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM leases WHERE mac = ANY($1)`, gone); err != nil {
				return err
			}
		}
		if len(put) == 0 {
			return nil
		}
		holders, err := queryAll(ctx, tx, columns.ScanLease,
			`SELECT `+columns.Lease+` FROM leases WHERE ip = ANY($1) AND expires > $2 FOR UPDATE`, ips, unix(now))
		if err != nil {
			return err
		}
		byIP := make(map[netip.Addr]store.Lease, len(holders))
		for _, h := range holders {
			byIP[h.IP] = h
		}
		var kept leaseRows
		for _, l := range put {
			if h, ok := byIP[l.IP]; ok && !bytes.Equal(h.MAC, l.MAC) {
				held = append(held, h)
				continue
			}
			kept.add(l)
		}
		if len(kept.macs) == 0 {
			return nil
		}
		// Only rows that may go: the MACs' own, and expired ones at the
		// addresses. A holder that committed after the SELECT above stays,
		// and the INSERT then meets it: the transaction runs again.
		if _, err := tx.Exec(ctx, `DELETE FROM leases WHERE mac = ANY($1) OR (ip = ANY($2) AND expires <= $3)`,
			kept.macs, kept.ips, unix(now)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, insertLeases, kept.macs, kept.ips, kept.expires, kept.hostnames)
		return err
	})
	if err != nil {
		return nil, err
	}
	return held, nil
}
