package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// AppendAudits stores events in one write transaction, in order: one
// sync for all of them where AppendAudit makes one each. A non-empty
// Detail must be valid JSON (ErrInvalid, and nothing is stored); a zero
// Time means now. Each is chained as AppendAudit chains it. The
// coordinator batches concurrent appends through it.
func (a auditLog) AppendAudits(ctx context.Context, events []AuditEvent) error {
	for _, e := range events {
		if len(e.Detail) > 0 && !json.Valid(e.Detail) {
			return fmt.Errorf("append audit %s: %w: detail is not JSON", e.Action, ErrInvalid)
		}
	}
	return a.db.write(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if _, err := appendChained(ctx, tx, e); err != nil {
				return fmt.Errorf("append audit %s: %w", e.Action, err)
			}
		}
		return nil
	})
}
