package webtest

import (
	"context"
	"slices"
	"strings"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// Audit implements web.Backend.
func (b *Backend) Audit(_ context.Context, q admin.AuditQuery) ([]wire.AuditEvent, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []wire.AuditEvent
	for _, e := range b.audit {
		if matches(e, q) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b wire.AuditEvent) int { return a.Time.Compare(b.Time) })
	if q.NewestFirst {
		slices.Reverse(out)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func matches(e wire.AuditEvent, q admin.AuditQuery) bool {
	return (q.Actor == "" || e.Actor == q.Actor) && (q.Target == "" || e.Target == q.Target) &&
		strings.HasPrefix(e.Action, q.ActionPrefix) &&
		(q.Since.IsZero() || !e.Time.Before(q.Since)) && (q.Until.IsZero() || e.Time.Before(q.Until))
}

// RecordAudit implements web.Backend; it does not count as a write.
func (b *Backend) RecordAudit(_ context.Context, e wire.AuditEvent) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appendAuditLocked(e)
	return nil
}

// VerifyAudit implements web.Backend: the fake keeps no chain, so it
// reports every event as from before the chain began.
func (b *Backend) VerifyAudit(context.Context) (wire.AuditVerify, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return wire.AuditVerify{OK: true, Entries: len(b.audit), Legacy: len(b.audit)}, nil
}
