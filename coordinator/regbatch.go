package coordinator

import (
	"context"
	"errors"
	"time"

	"github.com/wardnet/ward/coordinator/store"
)

// batchRegistrar is a store that registers many nodes with pre-auth keys
// in one transaction, each with its audit rows (store.SQLStore's
// RegisterBatch).
type batchRegistrar interface {
	RegisterBatch(ctx context.Context, regs []store.KeyRegistration) []store.KeyRegistered
}

// regBatcher group-commits registrations with pre-auth keys, as
// auditBatcher does audit rows: a registration that finds a write under
// way queues, and the writer, once done, hands the queue to its first
// caller, which writes it in one transaction, each registration with its
// audit rows (store.RegisterBatch). Each registration returns only once
// its rows are durable, so a node the API answered survives a crash, and
// registrations arriving together share one sync instead of making one
// each and two more for their audit rows. No goroutine of its own.
type regBatcher struct {
	st store.Store

	// q holds the registrations waiting for the next write.
	q leaderQueue[regReq]
}

// regReq is one queued registration; done gets its result, or one whose
// Err is errLead when its caller is to write the queue.
type regReq struct {
	reg  store.KeyRegistration
	done chan store.KeyRegistered
}

// maxRegBatch bounds the registrations of one write.
const maxRegBatch = 256

// regWriteTimeout bounds one batch's write. The write does not end with
// the leader's request: the others in its batch are waiting on it.
const regWriteTimeout = 30 * time.Second

func newRegBatcher(st store.Store) *regBatcher { return &regBatcher{st: st} }

// register registers g, with the registrations queued meanwhile when the
// store can write several at once, and returns once it is written (or
// refused). Without such a store it registers g alone and appends its
// audit events one by one.
func (b *regBatcher) register(ctx context.Context, g store.KeyRegistration, auditOne func(store.AuditEvent) (store.AuditEvent, error)) store.KeyRegistered {
	br, ok := b.st.(batchRegistrar)
	if !ok {
		n, k, err := b.st.RegisterWithAuthKey(ctx, g.KeyHash, g.Now, g.Node)
		res := store.KeyRegistered{Node: n, Key: k, Err: err}
		if err == nil && g.Audit != nil {
			for _, e := range g.Audit(n, k) {
				if e, err := auditOne(e); err == nil {
					res.Audits = append(res.Audits, e)
				}
			}
		}
		return res
	}
	r := regReq{reg: g, done: make(chan store.KeyRegistered, 1)}
	if !b.q.join(r) {
		if res := <-r.done; !errors.Is(res.Err, errLead) {
			return res
		}
	}
	b.write(ctx, br, b.q.take(maxRegBatch))
	if nx, ok := b.q.next(); ok {
		nx.done <- store.KeyRegistered{Err: errLead} // still queued: it takes the queue, itself included
	}
	return <-r.done
}

// write writes batch in one transaction and tells each its result.
func (b *regBatcher) write(ctx context.Context, br batchRegistrar, batch []regReq) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), regWriteTimeout)
	defer cancel()
	regs := make([]store.KeyRegistration, len(batch))
	for i, r := range batch {
		regs[i] = r.reg
	}
	for i, res := range br.RegisterBatch(ctx, regs) {
		batch[i].done <- res
	}
}
