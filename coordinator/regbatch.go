package coordinator

import (
	"context"
	"errors"
	"sync"
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

	mu sync.Mutex // guards last
	// last is the turn of the last registration written (regResult).
	last chan struct{}
}

// regReq is one queued registration; done gets its result, or one whose
// Err is errLead when its caller is to write the queue.
type regReq struct {
	reg  store.KeyRegistration
	done chan regResult
}

// regResult is a registration's result and, for one a batch wrote, its
// turn to go into the netmap: after the registration written before it.
//
// Reason: the store hands out addresses in order, and the compiler grows
// a rule's source list in place only for an address that sorts past what
// filters were handed out (acl.insertShared); the waiters of one batch
// wake together, and in whatever order they reached the netmap, every
// late one copied a gateway's list of every sensor (about a quarter of
// the joins at 10,000 nodes).
type regResult struct {
	store.KeyRegistered
	// after is closed once the registration before this one is in the
	// netmap (nil: none to wait for); turn is closed once this one is
	// (nil for a registration refused or not batched).
	after <-chan struct{}
	turn  chan struct{}
}

// regTurnWait bounds the wait for the registration before: a caller that
// never puts its node in the netmap costs the next ones this, once.
const regTurnWait = 2 * time.Second

// inTurn runs apply (putting res's node in the netmap) after the
// registration written before res has done so, then lets the next go.
func (res regResult) inTurn(apply func()) {
	if res.turn != nil {
		defer close(res.turn)
	}
	if res.after != nil {
		t := time.NewTimer(regTurnWait)
		select {
		case <-res.after:
		case <-t.C:
		}
		t.Stop()
	}
	apply()
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
func (b *regBatcher) register(ctx context.Context, g store.KeyRegistration, auditOne func(store.AuditEvent) (store.AuditEvent, error)) regResult {
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
		return regResult{KeyRegistered: res}
	}
	r := regReq{reg: g, done: make(chan regResult, 1)}
	if !b.q.join(r) {
		if res := <-r.done; !errors.Is(res.Err, errLead) {
			return res
		}
	}
	b.write(ctx, br, b.q.take(maxRegBatch))
	if nx, ok := b.q.next(); ok {
		nx.done <- regResult{KeyRegistered: store.KeyRegistered{Err: errLead}} // still queued: it takes the queue, itself included
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
	results := br.RegisterBatch(ctx, regs)
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, res := range results {
		out := regResult{KeyRegistered: res}
		if res.Err == nil {
			out.after, out.turn = b.last, make(chan struct{})
			b.last = out.turn
		}
		batch[i].done <- out
	}
}
