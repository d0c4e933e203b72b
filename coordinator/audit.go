package coordinator

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// audit appends an event to the audit log, batched with concurrent ones
// (auditBatcher), and returns once it is written. A failure to record is
// logged: the action it describes has already happened.
func (s *core) audit(ctx context.Context, actor, action, target, source string, detail any) {
	e := store.AuditEvent{Time: time.Now().UTC(), Actor: actor, Action: action, Target: target, Source: source}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err == nil {
			e.Detail = b
		}
	}
	if err := s.audits.append(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("audit append failed", "action", action, "err", err)
	}
	s.eventAlert(context.WithoutCancel(ctx), actor, action, target, detailTags(detail))
}

// detailTags returns the "tags" of an audit event's detail, if it has
// them.
func detailTags(detail any) []string {
	m, ok := detail.(map[string]any)
	if !ok {
		return nil
	}
	tags, _ := m["tags"].([]string)
	return tags
}
