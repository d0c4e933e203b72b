package coordinator

import (
	"context"
	"runtime"
	"sync/atomic"
)

// offload runs the map streams' computations (a stream's setup, mapOf,
// grants, diffs, encoding) on a few goroutines of its own, so that the
// stream's handler goroutine only parks and writes.
//
// Reason: a map stream is a handler goroutine parked for good, and a
// goroutine's stack keeps the size its deepest call gave it (the runtime
// halves it at a collection only while less than a quarter is in use),
// and new goroutines start at the average size in use (the runtime's
// adaptive initial stack). With the work done on the handler goroutines,
// 50,000 idle streams held 950 MB of stacks (about 19 KB a stream); done
// here, each handler stays at the few KB its parked frames need.
//
// Each call waits for its work, so the stream's state needs no more
// locking than before (one goroutine at a time touches it, and the
// channel hand-offs order the accesses). Work must not wait on a
// stream's network write: writes stay on the handler goroutines, so a
// node that stops reading holds its own goroutine, never a worker.
type offload struct {
	// ctx ends the workers.
	ctx context.Context
	// jobs hands a job to an idle worker (unbuffered: a send that
	// succeeds was received by a worker, which runs it).
	jobs chan func()
	// workers is how many workers run; at most max.
	workers atomic.Int32
	max     int32
}

// newOffload returns a pool of at most max workers, started as needed
// and ended by ctx.
func newOffload(ctx context.Context, max int) *offload {
	return &offload{ctx: ctx, jobs: make(chan func()), max: int32(max)}
}

// offloadWorkers is the pool's size: the work is CPU and the netmap's
// lock, so a few per core; more only park waiting for one another.
func offloadWorkers() int {
	return max(8, 4*runtime.GOMAXPROCS(0))
}

// do runs f on a worker and returns once f has returned; a panic in f is
// raised again on the caller's goroutine. It runs f on the
// caller's goroutine when p is nil (tests that build a control by hand)
// or when the pool has stopped.
func (p *offload) do(f func()) {
	if p == nil {
		f()
		return
	}
	done := make(chan struct{})
	var panicked any
	job := func() {
		defer func() {
			panicked = recover()
			close(done)
		}()
		f()
	}
	select {
	case p.jobs <- job:
	default:
		if !p.spawn(job) {
			select {
			case p.jobs <- job:
			case <-p.ctx.Done():
				f()
				return
			}
		}
	}
	<-done
	if panicked != nil {
		panic(panicked) // on the caller's goroutine, as if f had run there (net/http recovers a handler's)
	}
}

// spawn starts a worker with job as its first, unless max run already.
func (p *offload) spawn(job func()) bool {
	if p.workers.Add(1) > p.max {
		p.workers.Add(-1)
		return false
	}
	go p.work(job)
	return true
}

// work runs job, then the jobs it is handed, until p's context ends.
func (p *offload) work(job func()) {
	defer p.workers.Add(-1)
	job()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.jobs:
			j()
		}
	}
}
