package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
)

// Audit export bounds.
const (
	// auditExportBatch bounds the events one delivery carries (and the
	// events held in memory per destination).
	auditExportBatch = 256
	// auditExportMaxWait bounds the doubling wait after failed deliveries.
	auditExportMaxWait = time.Minute
)

// auditExport streams the audit log to the "audit_export" destinations
// of the rules in force, each event as auditchain.Entry's JSON line (the
// shape of the audit export and of `ward admin audit verify --file`), so
// a SIEM can check the chain. The queue is the audit table itself: each
// destination has a cursor in the store (the last ID it took), so an
// append never waits for a delivery, nothing is dropped while a
// destination is down, and a restart, or another coordinator taking the
// job over, resumes after the cursor (at least once: a batch delivered
// just before a crash is delivered again).
type auditExport struct {
	send *alert.Sender
	// exported counts the events delivered, failures the deliveries that
	// failed (each retried), by destination.
	exported, failures *prometheus.CounterVec
}

// newAuditExport returns the audit export, registering its metrics.
func newAuditExport(cfg *Config, reg prometheus.Registerer) *auditExport {
	x := &auditExport{send: alert.NewSender(alert.SenderConfig{Logger: cfg.Logger}),
		exported: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_audit_exported_total",
			Help: "Audit events delivered to an audit_export destination."}, []string{"destination"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ward_audit_export_failures_total",
			Help: "Failed deliveries of audit events to an audit_export destination (retried from the cursor)."}, []string{"destination"}),
	}
	reg.MustRegister(x.exported, x.failures)
	return x
}

// auditExportCursor names d's cursor among the store's cursors.
func auditExportCursor(d alert.Destination) string { return "audit-export:" + d.Name }

// exportRetry is when a destination that failed is tried again, and the
// wait before that (doubling up to auditExportMaxWait).
type exportRetry struct {
	at   time.Time
	wait time.Duration
}

// auditExportLoop streams the audit log to the destinations of the rules
// in force every AuditExportEvery (at once while a full batch was found)
// until ctx is done, while this coordinator holds the job. Destinations
// are served in turn; one that failed waits its retry time.
func (s *core) auditExportLoop(ctx context.Context) {
	if s.alerts == nil {
		return
	}
	retry := map[string]exportRetry{}
	wait := s.cfg.AuditExportEvery
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = s.cfg.AuditExportEvery
		rs := s.alerts.ruleSet()
		if len(rs.AuditExport) == 0 || !s.runsJob(jobAuditExport) {
			continue
		}
		for _, name := range rs.AuditExport {
			if r := retry[name]; time.Now().Before(r.at) {
				continue
			}
			n, err := s.exportOnce(ctx, rs.Destinations[name])
			switch {
			case err != nil && ctx.Err() == nil:
				r := retry[name]
				r.wait = min(max(2*r.wait, time.Second), auditExportMaxWait)
				r.at = time.Now().Add(r.wait)
				retry[name] = r
				s.export.failures.WithLabelValues(name).Inc()
				s.log.Warn("audit export failed; retrying from the cursor", "destination", name, "retry_in", r.wait, "err", err)
			case err == nil:
				delete(retry, name)
				if n == auditExportBatch {
					wait = 0
				}
			}
		}
	}
}

// exportOnce delivers the next batch after d's cursor and moves the
// cursor past it; it returns how many events it delivered.
func (s *core) exportOnce(ctx context.Context, d alert.Destination) (int, error) {
	cur, _, err := s.st.Cursor(ctx, auditExportCursor(d))
	if err != nil {
		return 0, err
	}
	evs, err := s.st.ListAudit(ctx, store.AuditFilter{AfterID: store.AuditID(cur), Order: store.ByID, Limit: auditExportBatch})
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	if err := s.deliverAudit(ctx, d, evs); err != nil {
		return 0, fmt.Errorf("deliver audit events %d-%d to %s: %w", evs[0].ID, evs[len(evs)-1].ID, d.Name, err)
	}
	if err := s.st.SetCursor(ctx, auditExportCursor(d), int64(evs[len(evs)-1].ID)); err != nil {
		return 0, err
	}
	s.export.exported.WithLabelValues(d.Name).Add(float64(len(evs)))
	return len(evs), nil
}

// deliverAudit sends evs to d: one syslog message each on one connection,
// or one signed webhook POST of JSON lines.
func (s *core) deliverAudit(ctx context.Context, d alert.Destination, evs []store.AuditEvent) error {
	lines := make([][]byte, len(evs))
	for i, e := range evs {
		b, err := json.Marshal(auditEntry(e))
		if err != nil {
			return fmt.Errorf("encode audit event %d: %w", e.ID, err)
		}
		lines[i] = b
	}
	if d.Type == alert.TypeSyslog {
		msgs := make([]string, len(evs))
		for i, e := range evs {
			msgs[i] = alert.AuditSyslogMessage(int64(e.ID), e.Time, e.Action, e.Hash, lines[i])
		}
		return s.export.send.SyslogSend(ctx, d, msgs)
	}
	return s.export.send.PostLines(ctx, d, append(bytes.Join(lines, []byte("\n")), '\n'))
}
