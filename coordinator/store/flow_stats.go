package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// FlowTotals are one reporting node's accepted flows over a span of time.
type FlowTotals struct {
	// Node is the reporting node's name.
	Node string
	// Flows sums the records' counts; Bytes their bytes both ways.
	Flows, Bytes float64
	// Peers counts the distinct other ends; Ports the distinct
	// protocol and destination port pairs.
	Peers, Ports float64
}

// FlowUse is one peer and port a reporting node's accepted flows used,
// and when first within the span asked for.
type FlowUse struct {
	Node  string
	Peer  netip.Addr
	Proto uint8
	Port  uint16
	First time.Time
}

// FlowStats are the reads the unusual-traffic job makes of the flow log,
// each over accepted flows only (a denied attempt is someone else's
// doing). The peer of a record is its other end: Src when Inbound, else
// Dst.
type FlowStats interface {
	// FlowsAfter returns up to limit records (denied ones too) with IDs
	// above after, in ID order. IDs grow in commit order: every write
	// holds the one writer lock.
	FlowsAfter(ctx context.Context, after FlowID, limit int) ([]FlowRecord, error)
	// LastFlowID returns the highest record ID (0: none).
	LastFlowID(ctx context.Context) (FlowID, error)
	// FlowTotals sums the records with since <= End < until per
	// reporting node.
	FlowTotals(ctx context.Context, since, until time.Time) ([]FlowTotals, error)
	// FlowUses returns each (node, peer, proto, port) of the records with
	// since <= End and ID <= upTo, with its earliest End.
	FlowUses(ctx context.Context, since time.Time, upTo FlowID) ([]FlowUse, error)
}

// Cursors keep a named position (an ID) for a job that must resume where
// it stopped after a restart, or on another coordinator.
type Cursors interface {
	// Cursor returns the named cursor; 0 and false when never set.
	Cursor(ctx context.Context, name string) (int64, bool, error)
	// SetCursor sets the named cursor.
	SetCursor(ctx context.Context, name string, v int64) error
}

// peerExpr is a record's other end, per FlowStats.
const peerExpr = `CASE WHEN inbound THEN src ELSE dst END`

// FlowsAfter implements FlowStats.
func (t flowTable) FlowsAfter(ctx context.Context, after FlowID, limit int) ([]FlowRecord, error) {
	rs, err := queryAll(ctx, t.db.r, scanFlow, "SELECT "+flowCols+" FROM flows WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("list flows after %d: %w", after, err)
	}
	return rs, nil
}

// LastFlowID implements FlowStats.
func (t flowTable) LastFlowID(ctx context.Context) (FlowID, error) {
	var id sql.NullInt64
	if err := t.db.r.QueryRowContext(ctx, "SELECT MAX(id) FROM flows").Scan(&id); err != nil {
		return 0, fmt.Errorf("last flow id: %w", err)
	}
	return FlowID(id.Int64), nil
}

// FlowTotals implements FlowStats.
func (t flowTable) FlowTotals(ctx context.Context, since, until time.Time) ([]FlowTotals, error) {
	q := `SELECT node, SUM(count), SUM(bytes_sent + bytes_recv), COUNT(DISTINCT ` + peerExpr + `),
		COUNT(DISTINCT proto * 65536 + port) FROM flows WHERE NOT denied AND end_at >= ? AND end_at < ? GROUP BY node`
	out, err := queryAll(ctx, t.db.r, func(sc scanner) (FlowTotals, error) {
		var ft FlowTotals
		err := sc.Scan(&ft.Node, &ft.Flows, &ft.Bytes, &ft.Peers, &ft.Ports)
		return ft, err
	}, q, since.UnixMicro(), until.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("flow totals %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// FlowUses implements FlowStats.
func (t flowTable) FlowUses(ctx context.Context, since time.Time, upTo FlowID) ([]FlowUse, error) {
	q := `SELECT node, ` + peerExpr + `, proto, port, MIN(end_at) FROM flows
		WHERE NOT denied AND end_at >= ? AND id <= ? GROUP BY node, ` + peerExpr + `, proto, port`
	out, err := queryAll(ctx, t.db.r, func(sc scanner) (FlowUse, error) {
		var u FlowUse
		var peer string
		var first sql.NullInt64
		err := sc.Scan(&u.Node, &peer, &u.Proto, &u.Port, &first)
		u.Peer, _ = netip.ParseAddr(peer)
		u.First = goTime(first)
		return u, err
	}, q, since.UnixMicro(), upTo)
	if err != nil {
		return nil, fmt.Errorf("flow uses since %s: %w", since.Format(time.RFC3339), err)
	}
	return out, nil
}

// cursorKey is the meta key of the named cursor.
func cursorKey(name string) string { return "cursor:" + name }

// Cursor implements Cursors.
func (s *SQLStore) Cursor(ctx context.Context, name string) (int64, bool, error) {
	v, ok, err := metaInt(ctx, s.db.r, cursorKey(name))
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("cursor %s: %w", name, err)
	}
	return v, ok, nil
}

// SetCursor implements Cursors.
func (s *SQLStore) SetCursor(ctx context.Context, name string, v int64) error {
	return s.db.write(ctx, func(tx *sql.Tx) error { return setMeta(ctx, tx, cursorKey(name), v) })
}
