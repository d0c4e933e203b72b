package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
)

// nodeTable implements Nodes on SQLite.
type nodeTable struct{ db *db }

// nodeCols are the columns scanNode reads, in order.
const nodeCols = `id, name, hostname, os, version, machine_key, wg_key, prev_wg_key,
	prev_wg_key_until, key_expiry, ipv4, ipv6, user_id, tags_json, ephemeral, auth_key_id,
	exposed_ports_json, endpoints_json, created_at, last_seen, online, key_revoked_at, risk_class,
	advertised_routes_json, approved_routes_json, home_relay`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// nodeRow is a nodes row as scanned, before decoding.
type nodeRow struct {
	n                   Node
	mk, wk, pk          []byte
	v4, v6              string
	tags, ports, eps    string
	user, authKey       sql.NullInt64
	prevUntil, expiry   sql.NullInt64
	createdAt, lastSeen sql.NullInt64
	revokedAt           sql.NullInt64
	advRoutes, okRoutes string
}

// scanNode reads one row of nodeCols.
func scanNode(sc scanner) (Node, error) {
	var r nodeRow
	n := &r.n
	err := sc.Scan(&n.ID, &n.Name, &n.Hostname, &n.OS, &n.Version, &r.mk, &r.wk, &r.pk,
		&r.prevUntil, &r.expiry, &r.v4, &r.v6, &r.user, &r.tags, &n.Ephemeral, &r.authKey,
		&r.ports, &r.eps, &r.createdAt, &r.lastSeen, &n.Online, &r.revokedAt, &n.RiskClass,
		&r.advRoutes, &r.okRoutes, &n.HomeRelay)
	if err != nil {
		return Node{}, err
	}
	return r.decode()
}

// decode converts the scanned columns into a Node.
func (r *nodeRow) decode() (Node, error) {
	n := r.n
	var errs [10]error
	var k [32]byte
	k, errs[0] = key32(r.mk)
	n.MachineKey = MachinePublic(k)
	k, errs[1] = key32(r.wk)
	n.WGKey = WGPublic(k)
	k, errs[2] = key32(r.pk)
	n.PrevWGKey = WGPublic(k)
	n.IPv4, errs[3] = netip.ParseAddr(r.v4)
	n.IPv6, errs[4] = netip.ParseAddr(r.v6)
	n.Tags, errs[5] = decodeStrings(r.tags)
	n.ExposedPorts, errs[6] = decodePorts(r.ports)
	n.Endpoints, errs[7] = decodeEndpoints(r.eps)
	n.AdvertisedRoutes, errs[8] = decodePrefixes(r.advRoutes)
	n.ApprovedRoutes, errs[9] = decodePrefixes(r.okRoutes)
	n.UserID, n.AuthKeyID = UserID(r.user.Int64), AuthKeyID(r.authKey.Int64)
	n.PrevWGKeyUntil, n.KeyExpiry = goTime(r.prevUntil), goTime(r.expiry)
	n.CreatedAt, n.LastSeen = goTime(r.createdAt), goTime(r.lastSeen)
	n.KeyRevokedAt = goTime(r.revokedAt)
	if err := errors.Join(errs[:]...); err != nil {
		return Node{}, fmt.Errorf("decode node %d: %w", n.ID, err)
	}
	return n, nil
}

// nodeWhere returns the one node matching where.
func nodeWhere(ctx context.Context, q querier, where string, args ...any) (Node, error) {
	row := q.QueryRowContext(ctx, "SELECT "+nodeCols+" FROM nodes WHERE "+where, args...)
	n, err := scanNode(row)
	return n, notFound(err)
}

// readRow runs a read of one row on the read pool. On SQLite the query
// is prepared once per connection and kept (reads): the driver otherwise
// parses every query anew, and parsing was a fifth of the coordinator's
// CPU while a fleet registered or reconnected (each session and each map
// stream reads its node). Only for a fixed set of query texts.
func (d *db) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if d.pg {
		return d.r.QueryRowContext(ctx, query, args...)
	}
	if st, ok := d.reads.Load(query); ok {
		return st.(*sql.Stmt).QueryRowContext(ctx, args...)
	}
	st, err := d.r.PrepareContext(ctx, query)
	if err != nil {
		return d.r.QueryRowContext(ctx, query, args...)
	}
	if prev, loaded := d.reads.LoadOrStore(query, st); loaded {
		st.Close()
		st = prev.(*sql.Stmt)
	}
	return st.QueryRowContext(ctx, args...)
}

// Node implements Nodes.
func (t nodeTable) Node(ctx context.Context, id NodeID) (Node, error) {
	n, err := scanNode(t.db.readRow(ctx, "SELECT "+nodeCols+" FROM nodes WHERE id = ?", id))
	err = notFound(err)
	if err != nil {
		return Node{}, fmt.Errorf("get node %d: %w", id, err)
	}
	return n, nil
}

// NodeByMachineKey implements Nodes.
func (t nodeTable) NodeByMachineKey(ctx context.Context, k MachinePublic) (Node, error) {
	var n Node
	var err error
	select {
	case t.db.fleetReads <- struct{}{}:
		n, err = scanNode(t.db.readRow(ctx, "SELECT "+nodeCols+" FROM nodes WHERE machine_key = ?", k[:]))
		<-t.db.fleetReads
		err = notFound(err)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return Node{}, fmt.Errorf("get node by %s: %w", k, err)
	}
	return n, nil
}

// NodeByName implements Nodes.
func (t nodeTable) NodeByName(ctx context.Context, name string) (Node, error) {
	n, err := nodeWhere(ctx, t.db.r, "name = ?", name)
	if err != nil {
		return Node{}, fmt.Errorf("get node %q: %w", name, err)
	}
	return n, nil
}

// ListNodes implements Nodes.
func (t nodeTable) ListNodes(ctx context.Context) ([]Node, error) {
	var n int // a capacity hint: the list is read by a later statement
	err := t.db.r.QueryRowContext(ctx, `SELECT count(*) FROM nodes`).Scan(&n)
	var nodes []Node
	if err == nil {
		nodes, err = appendAll(ctx, t.db.r, make([]Node, 0, n), scanNode,
			"SELECT "+nodeCols+" FROM nodes ORDER BY id")
	}
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return nodes, nil
}

// NodesAfter implements Nodes.
func (t nodeTable) NodesAfter(ctx context.Context, after NodeID, limit int) ([]Node, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list nodes after %d: limit %d is not positive", after, limit)
	}
	nodes, err := appendAll(ctx, t.db.r, make([]Node, 0, limit), scanNode,
		"SELECT "+nodeCols+" FROM nodes WHERE id > ? ORDER BY id LIMIT ?", after, limit)
	if err != nil {
		return nil, fmt.Errorf("list nodes after %d: %w", after, err)
	}
	return nodes, nil
}
