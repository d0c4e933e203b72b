package coordinator

import (
	"context"
	"errors"
	"slices"
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

	// apply puts a registered node into the netmap
	// (core.reloadRegistered); nil: each caller does.
	apply func(store.Node) error

	mu sync.Mutex // guards written and applying
	// written holds the registrations written, in order, whose nodes are
	// not in the netmap yet; applying is true while a caller puts them
	// there (drain).
	written  []regApply
	applying bool
}

// regReq is one queued registration; done gets its result, or one whose
// Err is errLead when its caller is to write the queue.
type regReq struct {
	reg  store.KeyRegistration
	done chan regResult
}

// regResult is a registration's result; applied: its node was put into
// the netmap (regBatcher.apply), with applyErr.
type regResult struct {
	store.KeyRegistered
	applied  bool
	applyErr error
	// drain tells a caller whose registration was written to put the
	// written ones into the netmap (regBatcher.drainLocked): no result.
	drain bool
}

// regApply is a registration written, waiting to go into the netmap.
type regApply struct {
	res  store.KeyRegistered
	done chan regResult
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
		if res := b.await(r.done); !errors.Is(res.Err, errLead) {
			return res
		}
	}
	b.write(ctx, br, b.q.take(maxRegBatch))
	if nx, ok := b.q.next(); ok {
		nx.done <- regResult{KeyRegistered: store.KeyRegistered{Err: errLead}} // still queued: it takes the queue, itself included
	}
	b.drain(r.done)
	return b.await(r.done)
}

// drain puts the written nodes into the netmap (drainLocked) unless a
// caller is doing so; own is the caller's result channel.
func (b *regBatcher) drain(own chan regResult) {
	b.mu.Lock()
	if b.applying {
		b.mu.Unlock()
		return
	}
	b.applying = true
	b.drainLocked(own)
}

// await returns the result done gets, first putting the written nodes
// into the netmap when told to.
func (b *regBatcher) await(done chan regResult) regResult {
	for {
		res := <-done
		if !res.drain {
			return res
		}
		b.mu.Lock()
		b.drainLocked(done)
	}
}

// drainLocked puts the nodes written into the netmap, in the order the
// store wrote them, and tells each registration its result; the caller
// (whose registration own is among them) holds mu and has set applying,
// and mu is unlocked on return. Once its own is done, it hands what is
// left to the caller of the next (drain), so no request drains for long.
//
// Reason: the store hands out addresses in order, and the compiler grows
// a rule's source list in place only for an address that sorts past what
// filters were handed out (acl.insertShared). A batch's callers woke
// together and reached the netmap in whatever order, and every late one
// copied a gateway's list of every sensor (623 MB of copies in one
// 10,000-node registration). One caller at a time applies a run of them:
// a chain of turns, each caller waiting for the one before, halved the
// registration rate (a goroutine switch per node).
func (b *regBatcher) drainLocked(own chan regResult) {
	ownDone := !slices.ContainsFunc(b.written, func(a regApply) bool { return a.done == own })
	for len(b.written) > 0 {
		if ownDone {
			b.written[0].done <- regResult{drain: true} // applying stays set: it drains on
			b.mu.Unlock()
			return
		}
		todo := b.written
		b.written = nil
		b.mu.Unlock()
		for _, a := range todo {
			err := b.apply(a.res.Node)
			a.done <- regResult{KeyRegistered: a.res, applied: true, applyErr: err}
			ownDone = ownDone || a.done == own
		}
		b.mu.Lock()
	}
	b.applying = false
	b.mu.Unlock()
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
		if res.Err != nil || b.apply == nil {
			batch[i].done <- regResult{KeyRegistered: res}
			continue
		}
		b.written = append(b.written, regApply{res: res, done: batch[i].done})
	}
}
