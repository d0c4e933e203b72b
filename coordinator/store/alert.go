package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// AlertID identifies a stored alert.
type AlertID int64

// AlertState is where a stored alert stands.
type AlertState string

// Alert states. A condition's alert is firing until resolved, and may be
// acknowledged meanwhile; an event alert stays an event.
const (
	AlertFiring       AlertState = "firing"
	AlertAcknowledged AlertState = "acknowledged"
	AlertResolved     AlertState = "resolved"
	AlertEvent        AlertState = "event"
)

// AlertRecord is one alert as stored.
type AlertRecord struct {
	ID AlertID
	// Rule, Kind and Severity are the rule's that fired.
	Rule, Kind, Severity string
	// Subject is what it is about ("node:cam-3"); Summary the numbers.
	Subject, Summary string
	State            AlertState
	StartsAt         time.Time
	// EndsAt is when it was resolved; zero while open.
	EndsAt time.Time
	// AckedBy names who acknowledged it (an audit actor); AckedAt when.
	AckedBy string
	AckedAt time.Time
	// Tags are the device's tags the alert fired with.
	Tags []string
	// NotifiedAt is when it last went out to its destinations (zero:
	// never); Inhibited says an inhibit rule mutes it.
	NotifiedAt time.Time
	Inhibited  bool
}

// Open reports whether a is firing or acknowledged.
func (a AlertRecord) Open() bool { return a.State == AlertFiring || a.State == AlertAcknowledged }

// Acknowledged reports whether an admin acknowledged the open alert.
func (a AlertRecord) Acknowledged() bool { return a.State == AlertAcknowledged }

// Alerts keeps the alerts the rules fired.
type Alerts interface {
	// AddAlert stores a firing alert or an event (ErrInvalid for another
	// state or a missing rule or subject) and returns it with its ID.
	AddAlert(ctx context.Context, a AlertRecord) (AlertRecord, error)
	// ResolveAlert moves the open alert of rule and subject to resolved at
	// at with summary, and returns it (ErrNotFound when none is open).
	ResolveAlert(ctx context.Context, rule, subject, summary string, at time.Time) (AlertRecord, error)
	// AckAlert acknowledges a firing alert (ErrNotFound; ErrConflict when
	// it is not firing).
	AckAlert(ctx context.Context, id AlertID, by string, at time.Time) (AlertRecord, error)
	// ListAlerts returns the alerts in states (all when empty), newest
	// first, at most limit (all when 0).
	ListAlerts(ctx context.Context, states []AlertState, limit int) ([]AlertRecord, error)
	// NoteAlert records when alert id last went out and whether it is
	// inhibited (ErrNotFound).
	NoteAlert(ctx context.Context, id AlertID, notifiedAt time.Time, inhibited bool) error
}

// alertTable implements Alerts on SQLite and PostgreSQL.
type alertTable struct{ db *db }

const alertCols = `id, rule, kind, severity, subject, summary, state, starts_at, ends_at, acked_by, acked_at, tags, notified_at, inhibited`

func scanAlert(sc scanner) (AlertRecord, error) {
	var a AlertRecord
	var starts, ends, acked, notified sql.NullInt64
	var tags string
	var inhibited int
	if err := sc.Scan(&a.ID, &a.Rule, &a.Kind, &a.Severity, &a.Subject, &a.Summary, &a.State, &starts, &ends,
		&a.AckedBy, &acked, &tags, &notified, &inhibited); err != nil {
		return AlertRecord{}, err
	}
	a.StartsAt, a.EndsAt, a.AckedAt, a.NotifiedAt = goTime(starts), goTime(ends), goTime(acked), goTime(notified)
	a.Inhibited = inhibited != 0
	var err error
	a.Tags, err = decodeStrings(tags)
	return a, err
}

func alertWhere(ctx context.Context, q querier, where string, args ...any) (AlertRecord, error) {
	a, err := scanAlert(q.QueryRowContext(ctx, "SELECT "+alertCols+" FROM alerts WHERE "+where, args...))
	return a, notFound(err)
}

// AddAlert implements Alerts.
func (t alertTable) AddAlert(ctx context.Context, a AlertRecord) (AlertRecord, error) {
	if (a.State != AlertFiring && a.State != AlertEvent) || a.Rule == "" || a.Subject == "" {
		return AlertRecord{}, fmt.Errorf("add alert: %w: a rule, a subject and state firing or event are required", ErrInvalid)
	}
	var out AlertRecord
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		id, err := insertID(ctx, tx, `INSERT INTO alerts (rule, kind, severity, subject, summary, state, starts_at, tags)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.Rule, a.Kind, a.Severity, a.Subject, a.Summary, a.State, dbNow(a.StartsAt),
			encodeSet(a.Tags))
		if err != nil {
			return err
		}
		out, err = alertWhere(ctx, tx, "id = ?", id)
		return err
	})
	if err != nil {
		return AlertRecord{}, fmt.Errorf("add alert %s on %s: %w", a.Rule, a.Subject, err)
	}
	return out, nil
}

// ResolveAlert implements Alerts.
func (t alertTable) ResolveAlert(ctx context.Context, rule, subject, summary string, at time.Time) (AlertRecord, error) {
	var out AlertRecord
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		cur, err := alertWhere(ctx, tx, "rule = ? AND subject = ? AND state IN (?, ?) ORDER BY id DESC LIMIT 1",
			rule, subject, AlertFiring, AlertAcknowledged)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE alerts SET state = ?, summary = ?, ends_at = ? WHERE id = ?",
			AlertResolved, summary, dbNow(at), cur.ID); err != nil {
			return err
		}
		out, err = alertWhere(ctx, tx, "id = ?", cur.ID)
		return err
	})
	if err != nil {
		return AlertRecord{}, fmt.Errorf("resolve alert %s on %s: %w", rule, subject, err)
	}
	return out, nil
}

// AckAlert implements Alerts.
func (t alertTable) AckAlert(ctx context.Context, id AlertID, by string, at time.Time) (AlertRecord, error) {
	var out AlertRecord
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		cur, err := alertWhere(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		if cur.State != AlertFiring {
			return fmt.Errorf("%w: the alert is %s", ErrConflict, cur.State)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE alerts SET state = ?, acked_by = ?, acked_at = ? WHERE id = ?",
			AlertAcknowledged, by, dbNow(at), id); err != nil {
			return err
		}
		out, err = alertWhere(ctx, tx, "id = ?", id)
		return err
	})
	if err != nil {
		return AlertRecord{}, fmt.Errorf("acknowledge alert %d: %w", id, err)
	}
	return out, nil
}

// ListAlerts implements Alerts.
func (t alertTable) ListAlerts(ctx context.Context, states []AlertState, limit int) ([]AlertRecord, error) {
	q := "SELECT " + alertCols + " FROM alerts"
	var args []any
	if len(states) > 0 {
		q += " WHERE state IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(states)), ", ") + ")"
		for _, s := range states {
			args = append(args, s)
		}
	}
	q += " ORDER BY id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	rows, err := t.db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var out []AlertRecord
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// NoteAlert implements Alerts.
func (t alertTable) NoteAlert(ctx context.Context, id AlertID, notifiedAt time.Time, inhibited bool) error {
	inh := 0
	if inhibited {
		inh = 1
	}
	err := t.db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE alerts SET notified_at = ?, inhibited = ? WHERE id = ?", dbTime(notifiedAt), inh, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("note alert %d: %w", id, err)
	}
	return nil
}
