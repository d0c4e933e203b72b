package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/wardnet/ward/auditchain"
)

// auditLog implements Audit on SQLite.
type auditLog struct{ db *db }

// auditCols are the columns scanAudit reads, in order.
const auditCols = `id, time, actor, action, target, source, detail, prev_hash, hash`

// scanAudit reads one row of auditCols.
func scanAudit(sc scanner) (AuditEvent, error) {
	var e AuditEvent
	var at sql.NullInt64
	var detail string
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Source, &detail, &e.PrevHash, &e.Hash)
	e.Time = goTime(at)
	if detail != "" {
		e.Detail = json.RawMessage(detail)
	}
	return e, err
}

// AppendAudit implements Audit.
func (a auditLog) AppendAudit(ctx context.Context, e AuditEvent) (AuditEvent, error) {
	if len(e.Detail) > 0 && !json.Valid(e.Detail) {
		return AuditEvent{}, fmt.Errorf("append audit %s: %w: detail is not JSON", e.Action, ErrInvalid)
	}
	err := a.db.write(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = appendChained(ctx, tx, e)
		return err
	})
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	return e, nil
}

// appendChained inserts e in tx after the chain's head (auditHead) and
// returns it with its ID, time and hashes.
func appendChained(ctx context.Context, tx *sql.Tx, e AuditEvent) (AuditEvent, error) {
	at := dbNow(e.Time)
	e.Time = goTime(sql.NullInt64{Int64: at, Valid: true})
	last, head, err := auditHead(ctx, tx)
	if err != nil {
		return e, err
	}
	e.ID, e.PrevHash = last+1, head
	if e.Seal != nil {
		if e.Detail, err = e.Seal(e.PrevHash, e.Time); err != nil {
			return e, err
		}
	}
	e.Hash = auditchain.Sum(e.PrevHash, chainEntry(e))
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_events (id, time, actor, action, target,
		source, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, at, e.Actor, e.Action, e.Target, e.Source, string(e.Detail), e.PrevHash, e.Hash)
	return e, err
}

// auditHead returns the last event's ID (0: none) and hash ("" when there
// is none, or it was written before the chain began). The caller's write
// transaction holds the one writer lock (on PostgreSQL, writeLockKey, taken
// by every coordinator on the database), so the next event is last+1 with
// no gap, as the chain's verifier wants, and nothing else appends between
// this read and the insert: the chain stays one line across coordinators.
// The ID is set explicitly rather than by the database, because a
// PostgreSQL identity sequence may skip values (a rolled-back insert, a
// crash).
func auditHead(ctx context.Context, tx *sql.Tx) (AuditID, string, error) {
	var id AuditID
	var h string
	err := tx.QueryRowContext(ctx, `SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1`).Scan(&id, &h)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return id, h, err
}

// chainEntry is e as package auditchain covers it.
func chainEntry(e AuditEvent) auditchain.Entry {
	return auditchain.Entry{ID: int64(e.ID), Time: e.Time, Actor: e.Actor, Action: e.Action, Target: e.Target,
		Source: e.Source, Detail: e.Detail, PrevHash: e.PrevHash, Hash: e.Hash}
}

// ListAudit implements Audit.
func (a auditLog) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	query, args := auditQuery(f, a.db.pg)
	events, err := queryAll(ctx, a.db.r, scanAudit, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit events: %w", err)
	}
	return events, nil
}

// auditQuery builds the SELECT for f, for PostgreSQL if pg.
func auditQuery(f AuditFilter, pg bool) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixMicro())
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Target != "" {
		add("target = ?", f.Target)
	}
	if f.ActionPrefix != "" {
		if pg {
			add("starts_with(action, ?)", f.ActionPrefix)
		} else {
			add("action GLOB ?", globQuote(f.ActionPrefix)+"*")
		}
	}
	q := "SELECT " + auditCols + " FROM audit_events"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	switch f.Order {
	case OldestFirst:
		q += " ORDER BY time, id"
	case ByID:
		q += " ORDER BY id"
	default:
		q += " ORDER BY time DESC, id DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}
