package store

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
)

// flowTable implements Flows on SQLite and PostgreSQL.
type flowTable struct{ db *db }

// flowCols are the columns scanFlow reads, in order.
const flowCols = `id, node_id, node, src, dst, src_node, src_who, dst_node, dst_who, proto, port,
	inbound, denied, rule, start_at, end_at, bytes_sent, bytes_recv, count`

// scanFlow reads one row of flowCols.
func scanFlow(sc scanner) (FlowRecord, error) {
	var r FlowRecord
	var src, dst string
	var start, end sql.NullInt64
	var sent, recv int64
	err := sc.Scan(&r.ID, &r.Node, &r.NodeName, &src, &dst, &r.SrcNode, &r.SrcWho, &r.DstNode, &r.DstWho,
		&r.Proto, &r.Port, &r.Inbound, &r.Denied, &r.Rule, &start, &end, &sent, &recv, &r.Count)
	if err != nil {
		return FlowRecord{}, err
	}
	r.Src, _ = netip.ParseAddr(src)
	r.Dst, _ = netip.ParseAddr(dst)
	r.Start, r.End = goTime(start), goTime(end)
	r.BytesSent, r.BytesRecv = uint64(sent), uint64(recv)
	return r, nil
}

// AppendFlows implements Flows.
func (t flowTable) AppendFlows(ctx context.Context, rs []FlowRecord) error {
	if len(rs) == 0 {
		return nil
	}
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO flows (node_id, node, src, dst, src_node, src_who,
			dst_node, dst_who, proto, port, inbound, denied, rule, start_at, end_at, bytes_sent, bytes_recv, count)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rs {
			_, err := st.ExecContext(ctx, r.Node, r.NodeName, r.Src.String(), r.Dst.String(), r.SrcNode, r.SrcWho,
				r.DstNode, r.DstWho, r.Proto, r.Port, r.Inbound, r.Denied, r.Rule, dbNow(r.Start), dbNow(r.End),
				clampInt64(r.BytesSent), clampInt64(r.BytesRecv), r.Count)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d flows: %w", len(rs), err)
	}
	return nil
}

// clampInt64 is v, or the largest int64 when v does not fit.
func clampInt64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}

// ListFlows implements Flows.
func (t flowTable) ListFlows(ctx context.Context, f FlowFilter) ([]FlowRecord, error) {
	query, args := flowQuery(f)
	rs, err := queryAll(ctx, t.db.r, scanFlow, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list flows: %w", err)
	}
	return rs, nil
}

// flowQuery builds the SELECT for f.
func flowQuery(f FlowFilter) (string, []any) {
	var where []string
	var args []any
	if f.Node != "" {
		where = append(where, "(node = ? OR src_node = ? OR dst_node = ?)")
		args = append(args, f.Node, f.Node, f.Node)
	}
	if !f.Since.IsZero() {
		where = append(where, "end_at >= ?")
		args = append(args, f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		where = append(where, "end_at < ?")
		args = append(args, f.Until.UnixMicro())
	}
	if f.DeniedOnly {
		where = append(where, "denied")
	}
	q := "SELECT " + flowCols + " FROM flows"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY end_at DESC, id DESC"
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}

// DeleteFlowsBefore implements Flows.
func (t flowTable) DeleteFlowsBefore(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM flows WHERE end_at < ?", before.UnixMicro())
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete flows before %s: %w", before.Format(time.RFC3339), err)
	}
	return n, nil
}
