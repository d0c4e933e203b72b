// Package giveback returns the memory a burst of allocation used to the
// operating system once the burst is over, for the coordinator
// (Coordinator, Run) and the node agent's memory governor (Device).
//
// After a burst (a registration storm, a policy change that rewrites
// every stream's map, a bulk flow through a device) the runtime holds the
// pages of the burst's garbage: the heap the collector let grow to twice
// what was live, and more where the burst's peak was higher. Its
// background scavenger returns what is above the heap goal slowly (about
// 1 % of a core) and what is under it not at all while the soft limit is
// far, so a coordinator's RSS stayed near its peak's heap for hours
// (3.75 GB over a 1.06 GB live heap at 50,000 nodes), and a device kept
// wireguard-go's 64 KiB packet buffers after a load.
package giveback

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// given counts Run's give-backs in this process (Count).
var given atomic.Int64

// Count is how many times Run gave memory back in this process: the
// coordinator exports it (ward_memory_give_backs_total), so that a
// measurement of its idle CPU can tell a window a give-back fell in.
func Count() int64 { return given.Load() }

// Policy says when a Governor gives memory back: in an interval that
// allocated under Quiet bytes, once enough was allocated since the last
// give-back (After), or the runtime holds RetainedGrowth more than the
// last give-back left.
type Policy struct {
	// Every is how often the allocation count is read (Run's tick).
	Every time.Duration
	// Quiet: an interval that allocated less than this is quiet, one
	// that allocated more busy.
	Quiet uint64
	// After is what must be allocated since the last give-back before
	// the next.
	After uint64
	// AfterLive raises After to the live heap at the last give-back: a
	// load that comes and goes gives back no more often than the
	// collector itself would run.
	AfterLive bool
	// AfterBusy gives back only once a busy interval came since the last
	// give-back: a long trickle of quiet intervals never does (each
	// give-back is two collections, which an idle process must not pay
	// again and again).
	AfterBusy bool
	// RetainedGrowth, if not 0, also gives back in a quiet interval when
	// the runtime holds this much more (not returned to the system) than
	// after the last give-back: a load whose memory was still live at the
	// last give-back (flows that had not ended).
	RetainedGrowth uint64
}

// Coordinator is the coordinator's policy. An idle coordinator allocated
// 0.27 MB a second at 10,000 nodes (its keep-alives; 1.4 MB an interval),
// about five times that at 50,000: so a quiet interval is one under
// 32 MiB, and a burst at least 256 MiB (or the live heap) since the last
// give-back with a busy interval in it.
var Coordinator = Policy{Every: 5 * time.Second, Quiet: 32 << 20, After: 256 << 20, AfterLive: true, AfterBusy: true}

// Device is the node agent's policy (issue 12: back under 32 MB within
// 60 s of a load's end): a quiet interval allocated under 4 MiB; memory
// goes back after a quiet interval once 32 MiB were allocated since the
// last time, or the runtime retains 8 MiB more than it did then.
var Device = Policy{Every: 5 * time.Second, Quiet: 4 << 20, After: 32 << 20, RetainedGrowth: 8 << 20}

// Counters are the runtime's figures a Governor decides on.
type Counters struct {
	// Allocs is the bytes allocated since the start; Live the live heap
	// after the last collection; Retained the memory the runtime holds
	// and has not returned to the operating system.
	Allocs, Live, Retained uint64
}

// Read reads the runtime's counters.
func Read() Counters {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return Counters{Allocs: s[0].Value.Uint64(), Live: s[1].Value.Uint64(), Retained: s[2].Value.Uint64() - s[3].Value.Uint64()}
}

// Governor decides, interval by interval, when to give memory back. It is
// owned by one goroutine.
type Governor struct {
	p Policy
	// last is the allocation count at the last tick, since the one at the
	// last give-back (or the start); retained what the runtime retained
	// after the last give-back.
	last, since, retained uint64
	// after is what must be allocated since the last give-back
	// (Policy.After, or the live heap then with AfterLive).
	after uint64
	// busy: an interval since the last give-back was busy; quiet: the
	// last one was quiet.
	busy, quiet bool
}

// NewGovernor starts a Governor under p at the counters c.
func NewGovernor(p Policy, c Counters) *Governor {
	g := &Governor{p: p}
	g.Given(c)
	g.after = p.After
	return g
}

// Tick takes the counters at the end of an interval and reports whether
// to give memory back now.
func (g *Governor) Tick(c Counters) bool {
	d := c.Allocs - g.last
	g.last = c.Allocs
	g.quiet = d < g.p.Quiet
	if !g.quiet {
		g.busy = true
		return false
	}
	if g.p.AfterBusy && !g.busy {
		return false
	}
	if c.Allocs-g.since >= g.after {
		return true
	}
	return g.p.RetainedGrowth > 0 && c.Retained >= g.retained+g.p.RetainedGrowth
}

// Quiet reports whether the last interval Tick saw was quiet.
func (g *Governor) Quiet() bool { return g.quiet }

// Given records a give-back, after which the counters were c.
func (g *Governor) Given(c Counters) {
	g.last, g.since, g.retained, g.busy = c.Allocs, c.Allocs, c.Retained, false
	g.after = g.p.After
	if g.p.AfterLive {
		g.after = max(g.after, c.Live)
	}
}

// Release collects twice (a sync.Pool keeps its items for one
// collection, in its victim cache: the map streams' message buffers,
// wireguard-go's packet buffers) and returns the free pages to the
// operating system. It returns the heap memory the runtime held before
// (not yet returned) and what it returned.
func Release() (held, released uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	before, rel0 := s[0].Value.Uint64()-s[1].Value.Uint64(), s[1].Value.Uint64()
	runtime.GC()
	debug.FreeOSMemory()
	metrics.Read(s)
	return before, s[1].Value.Uint64() - rel0
}

// Run gives memory back under p until ctx is done, logging each
// give-back. A process at rest costs a read of the runtime's counters
// every p.Every.
//
// before, when not nil, runs just ahead of each give-back: work that
// turns live memory into garbage (the coordinator's compaction of its
// streams' held peers) is then given back in the same two collections.
func Run(ctx context.Context, log *slog.Logger, p Policy, before func()) {
	g := NewGovernor(p, Read())
	t := time.NewTicker(p.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !g.Tick(Read()) {
			continue
		}
		start := time.Now()
		if before != nil {
			before()
		}
		held, released := Release()
		given.Add(1)
		log.Info("memory given back after a burst", "held_mb", held>>20, "returned_mb", released>>20,
			"took", time.Since(start).Round(time.Millisecond))
		g.Given(Read())
	}
}
