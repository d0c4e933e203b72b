package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// ChangePresence: node Change.Node went online or offline (on any
// coordinator of the database); read its presence again.
const ChangePresence ChangeKind = "presence"

// StreamHolds keep which coordinator holds a map stream of which node, so
// that the coordinators of a database agree on who is online: a node is
// online while a live holder holds a stream of it. A holder is this
// store, for its life (one coordinator process); its hold lasts until
// the lease given at its last write or renewal.
type StreamHolds interface {
	// HoldStreams records this holder's streams as of ps (Online: it holds
	// a stream of node ID; false: none) and the nodes' last seen times,
	// renews the hold for lease, and returns each node's presence as now
	// stored: online while any live holder holds a stream of it. Nodes that
	// no longer exist are left out. One transaction.
	HoldStreams(ctx context.Context, ps []Presence, now time.Time, lease time.Duration) ([]Presence, error)
	// RenewStreams renews this holder's hold for lease and lets the holds
	// that lapsed by now go (their nodes go offline unless held
	// elsewhere). lost reports that this holder's own hold had lapsed and
	// was dropped: its streams must be recorded again. It returns the
	// presence of the nodes whose holds went.
	RenewStreams(ctx context.Context, now time.Time, lease time.Duration) (lost bool, changed []Presence, err error)
	// ReleaseStreams drops this holder's hold and streams (a coordinator
	// stopping) and returns the presence of their nodes.
	ReleaseStreams(ctx context.Context, now time.Time) ([]Presence, error)
}

// streamTable implements StreamHolds.
type streamTable struct {
	db *db
	// holder names this store's hold; random per open.
	holder string
}

// onlineExpr is whether node ? (nodes.id) has a stream held by a live
// holder as of ?.
const onlineExpr = `EXISTS (SELECT 1 FROM node_streams s JOIN stream_holders h ON h.holder = s.holder
	WHERE s.node_id = nodes.id AND h.until >= ?)`

// hold renews t's hold until until.
func (t streamTable) hold(ctx context.Context, tx *sql.Tx, until time.Time) (existed bool, err error) {
	res, err := tx.ExecContext(ctx, `UPDATE stream_holders SET until = ? WHERE holder = ?`, until.UnixMicro(), t.holder)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return true, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO stream_holders (holder, until) VALUES (?, ?)`, t.holder, until.UnixMicro())
	return false, err
}

// settle sets node id's online flag from the holds as of now and returns
// its presence; ok is false when the node no longer exists.
func settle(ctx context.Context, tx *sql.Tx, id NodeID, lastSeen, now time.Time) (Presence, bool, error) {
	p := Presence{ID: id}
	var seen sql.NullInt64
	q := `UPDATE nodes SET online = ` + onlineExpr + ` WHERE id = ? RETURNING online, last_seen`
	args := []any{now.UnixMicro(), id}
	if !lastSeen.IsZero() {
		q = `UPDATE nodes SET last_seen = ?, online = ` + onlineExpr + ` WHERE id = ? RETURNING online, last_seen`
		args = append([]any{dbTime(lastSeen)}, args...)
	}
	err := tx.QueryRowContext(ctx, q, args...).Scan(&p.Online, &seen)
	if err == sql.ErrNoRows {
		return p, false, nil
	}
	p.LastSeen = goTime(seen)
	return p, err == nil, err
}

// HoldStreams implements StreamHolds.
func (t streamTable) HoldStreams(ctx context.Context, ps []Presence, now time.Time, lease time.Duration) ([]Presence, error) {
	var out []Presence
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		if _, err := t.hold(ctx, tx, now.Add(lease)); err != nil {
			return err
		}
		for _, p := range ps {
			q := `DELETE FROM node_streams WHERE node_id = ? AND holder = ?`
			if p.Online {
				q = `INSERT INTO node_streams (node_id, holder) VALUES (?, ?) ON CONFLICT DO NOTHING`
			}
			if _, err := tx.ExecContext(ctx, q, p.ID, t.holder); err != nil {
				return err
			}
			got, ok, err := settle(ctx, tx, p.ID, p.LastSeen, now)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, got)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hold %d streams: %w", len(ps), err)
	}
	return out, nil
}

// expire drops the holds lapsed by now and their streams, and settles
// their nodes.
func (t streamTable) expire(ctx context.Context, tx *sql.Tx, now time.Time) ([]Presence, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT s.node_id FROM node_streams s
		JOIN stream_holders h ON h.holder = s.holder WHERE h.until < ?`, now.UnixMicro())
	if err != nil {
		return nil, err
	}
	var ids []NodeID
	for rows.Next() {
		var id NodeID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM node_streams WHERE holder IN
		(SELECT holder FROM stream_holders WHERE until < ?)`, now.UnixMicro()); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM stream_holders WHERE until < ?`, now.UnixMicro()); err != nil {
		return nil, err
	}
	var out []Presence
	for _, id := range ids {
		p, ok, err := settle(ctx, tx, id, time.Time{}, now)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// RenewStreams implements StreamHolds.
func (t streamTable) RenewStreams(ctx context.Context, now time.Time, lease time.Duration) (bool, []Presence, error) {
	var lost bool
	var out []Presence
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if out, err = t.expire(ctx, tx, now); err != nil {
			return err
		}
		existed, err := t.hold(ctx, tx, now.Add(lease))
		lost = !existed
		return err
	})
	if err != nil {
		return false, nil, fmt.Errorf("renew stream holds: %w", err)
	}
	return lost, out, nil
}

// ReleaseStreams implements StreamHolds.
func (t streamTable) ReleaseStreams(ctx context.Context, now time.Time) ([]Presence, error) {
	var out []Presence
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE stream_holders SET until = 0 WHERE holder = ?`, t.holder); err != nil {
			return err
		}
		var err error
		out, err = t.expire(ctx, tx, now)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("release stream holds: %w", err)
	}
	return out, nil
}
