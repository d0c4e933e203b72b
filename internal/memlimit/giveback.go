package memlimit

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// After a burst of allocation (a registration storm, a policy change that
// rewrites every stream's map) the runtime holds the pages the burst's
// garbage used: the heap the collector let grow to twice what was live,
// and more where the burst's peak was higher. Its background scavenger
// returns what is above the heap goal slowly (about 1 % of a core) and
// what is under it not at all while the soft limit (75 % of the machine)
// is far, so a coordinator's RSS stayed near its peak's heap for hours:
// 3.75 GB over a 1.06 GB live heap at 50,000 nodes. GiveBack returns it
// once the burst is over, as the node agent's memory governor does for a
// device.
const (
	// giveBackEvery is how often GiveBack looks at the allocation count.
	giveBackEvery = 5 * time.Second
	// giveBackQuiet: an interval that allocated less than this is quiet,
	// one that allocated more busy. An idle coordinator allocated
	// 0.27 MB a second at 10,000 nodes (its keep-alives; 1.4 MB an
	// interval), so about five times that at 50,000.
	giveBackQuiet = 32 << 20
	// giveBackAfter: memory is given back in a quiet interval only when a
	// busy one came since the last give-back and this much, or the live
	// heap after the last give-back if more, was allocated since: a
	// burst, not a trickle (each give-back is two collections, which an
	// idle process must not pay again and again), and under a load that
	// comes and goes no more often than the collector itself would run.
	giveBackAfter = 256 << 20
)

// GiveBack gives the memory a burst of allocation used back to the
// operating system in the first quiet interval after it (giveBackQuiet,
// giveBackAfter), until ctx is done. A process at rest allocates under
// the quiet bound and costs a read of three runtime metrics every
// giveBackEvery.
func GiveBack(ctx context.Context, log *slog.Logger) {
	samples := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"}}
	allocs := func() uint64 {
		metrics.Read(samples)
		return samples[0].Value.Uint64()
	}
	b := newBurst(allocs())
	t := time.NewTicker(giveBackEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !b.tick(allocs()) {
			continue
		}
		start := time.Now()
		held, released := giveBack()
		log.Info("memory given back after a burst", "held_mb", held>>20, "returned_mb", released>>20,
			"took", time.Since(start).Round(time.Millisecond))
		b.given(allocs(), samples[1].Value.Uint64())
	}
}

// burst decides when to give memory back, from the allocation count at
// each tick.
type burst struct {
	// last is the count at the last tick, since the one at the last
	// give-back (or the start).
	last, since uint64
	// busy: an interval since the last give-back allocated giveBackQuiet
	// or more.
	busy bool
	// after is what must be allocated since the last give-back before the
	// next (giveBackAfter, or the live heap then if more).
	after uint64
}

func newBurst(allocs uint64) *burst {
	return &burst{last: allocs, since: allocs, after: giveBackAfter}
}

// tick takes the count now and reports whether to give memory back.
func (b *burst) tick(allocs uint64) bool {
	d := allocs - b.last
	b.last = allocs
	if d >= giveBackQuiet {
		b.busy = true
		return false
	}
	return b.busy && allocs-b.since >= b.after
}

// given records a give-back at count allocs, after which live bytes of
// heap were live.
func (b *burst) given(allocs, live uint64) {
	b.last, b.since, b.busy = allocs, allocs, false
	b.after = max(giveBackAfter, live)
}

// giveBack collects twice (a sync.Pool keeps its items for one
// collection, in its victim cache: the map streams' message buffers) and
// returns the free pages to the operating system. It returns the heap
// memory the runtime held before (not yet returned) and what it returned.
func giveBack() (held, released uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	before, rel0 := s[0].Value.Uint64()-s[1].Value.Uint64(), s[1].Value.Uint64()
	runtime.GC()
	debug.FreeOSMemory()
	metrics.Read(s)
	return before, s[1].Value.Uint64() - rel0
}
