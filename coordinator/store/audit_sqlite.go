package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
)

// auditLog implements Audit on SQLite.
type auditLog struct{ db *db }

// auditCols are the columns scanAudit reads, in order.
const auditCols = `id, time, actor, action, target, source, detail`

// scanAudit reads one row of auditCols.
func scanAudit(sc scanner) (AuditEvent, error) {
	var e AuditEvent
	var at sql.NullInt64
	var detail string
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.Source, &detail)
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
	at := dbNow(e.Time)
	id, err := insertID(ctx, a.db.w, `INSERT INTO audit_events (time, actor, action, target,
		source, detail) VALUES (?, ?, ?, ?, ?, ?)`,
		at, e.Actor, e.Action, e.Target, e.Source, string(e.Detail))
	if err != nil {
		return AuditEvent{}, fmt.Errorf("append audit %s: %w", e.Action, err)
	}
	e.ID, e.Time = AuditID(id), goTime(sql.NullInt64{Int64: at, Valid: true})
	return e, nil
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
	if f.Order == OldestFirst {
		q += " ORDER BY time, id"
	} else {
		q += " ORDER BY time DESC, id DESC"
	}
	if f.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	return q, args
}
