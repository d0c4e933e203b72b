package coordinator

import (
	"context"
	"errors"

	"github.com/wardnet/ward/coordinator/store"
)

// batchAppender is a store that writes many audit events in one
// transaction (store.SQLite's AppendAudits).
type batchAppender interface {
	AppendAudits(ctx context.Context, events []store.AuditEvent) error
}

// auditBatcher group-commits audit events: an append that finds a write
// under way queues, and the writer, once done, hands the queue to its
// first caller, which writes it in one transaction. Each append returns
// only once its event is written, so an action acknowledged after its
// audit row never loses that row in a crash; concurrent registrations
// share one sync instead of making two each. No goroutine of its own.
type auditBatcher struct {
	st store.Store

	// q holds the appends waiting for the next write.
	q leaderQueue[auditReq]
}

// auditReq is one queued append; done gets its result, or errLead when
// its caller is to write the queue.
type auditReq struct {
	e    store.AuditEvent
	done chan error
}

// errLead hands the queue to an append waiting in it.
var errLead = errors.New("write the queued audit events")

// maxAuditBatch bounds the events of one write.
const maxAuditBatch = 512

func newAuditBatcher(st store.Store) *auditBatcher { return &auditBatcher{st: st} }

// append writes e, with the events appended meanwhile when the store can
// write several at once, and returns when it is written.
func (b *auditBatcher) append(ctx context.Context, e store.AuditEvent) error {
	ba, ok := b.st.(batchAppender)
	if !ok {
		_, err := b.st.AppendAudit(ctx, e)
		return err
	}
	r := auditReq{e: e, done: make(chan error, 1)}
	if !b.q.join(r) {
		if err := <-r.done; !errors.Is(err, errLead) {
			return err
		}
	}
	b.write(ctx, ba, b.q.take(maxAuditBatch))
	if nx, ok := b.q.next(); ok {
		nx.done <- errLead // still queued: it takes the queue, itself included
	}
	return <-r.done
}

// write writes batch in one transaction, or one by one when that fails
// (so that one bad event does not cost the others), and tells each.
func (b *auditBatcher) write(ctx context.Context, ba batchAppender, batch []auditReq) {
	events := make([]store.AuditEvent, len(batch))
	for i, r := range batch {
		events[i] = r.e
	}
	if err := ba.AppendAudits(ctx, events); err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	for _, r := range batch {
		_, err := b.st.AppendAudit(ctx, r.e)
		r.done <- err
	}
}
