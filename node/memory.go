package node

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory settings of a node agent (issue 12: peak RSS under load at most
// 64 MB, back under 32 MB within 60 s of the load ending).
const (
	// softMemoryLimit is the Go runtime's soft memory limit
	// (debug.SetMemoryLimit) unless GOMEMLIMIT sets one: near it the
	// garbage collector runs more often instead of letting the heap grow
	// to twice the live data. It is a backstop, not the bound: a running
	// data plane's heap is about 45 MiB, most of it wireguard-go's 64 KiB
	// receive and TUN buffers (128 per receive function and for the TUN
	// reader), allocated at start and mostly never touched, and the
	// collector counts them all. At 40 or 56 MiB the collector ran
	// without pause and the overlay cost 6 to 8 times the CPU per byte
	// (make bench-overlay); what bounds the node's memory under load is
	// the TCP buffer bound (netstack/tune.go).
	softMemoryLimit = 96 << 20
	// quietEvery is how often the governor looks at the allocation rate.
	quietEvery = 5 * time.Second
	// quietAlloc: an interval that allocated less than this is quiet.
	quietAlloc = 4 << 20
	// busyAlloc: memory is given back after a quiet interval only once
	// this much was allocated since the last time (a load, not a trickle).
	busyAlloc = 32 << 20
)

// governMemory sets the soft memory limit and, until ctx is done, gives
// the memory a load used back to the operating system once the node is
// quiet: without it, the runtime keeps the pages of the load's buffers
// (wireguard-go's pools hold 64 KiB per packet in flight) until its
// scavenger gets to them, or for good when nothing allocates to start a
// collection.
func governMemory(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	last := read()
	released := last
	t := time.NewTicker(quietEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := read()
		if now-last < quietAlloc && now-released >= busyAlloc {
			giveBackMemory()
			log.Debug("memory given back after load", "allocated_mb", (now-released)>>20)
			released = read()
		}
		last = read()
	}
}

// giveBackMemory collects twice (sync.Pool keeps its items for one
// collection, in its victim cache) and returns the free pages.
func giveBackMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
