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
	// data plane's heap was about 45 MiB (8 MiB less since the relay and
	// birthday paths share one receive function), most of it
	// wireguard-go's 64 KiB receive and TUN buffers (128 for each of the
	// pathBind's receive functions and for the TUN reader, which the
	// netstack's 32-packet reads leave 96 of unwritten), allocated at
	// start and mostly never touched, and the collector counts them all.
	// At 40, 56 or 72 MiB the collector ran without pause and the overlay
	// cost 3.4 to 8 times the CPU per byte (make bench-overlay); what
	// bounds the node's memory under load is the bound on the packets
	// wireguard-go holds (netstack.Gate, netstack.DefaultInFlight: without
	// it a TCP window sat in its queues, 64 KiB a packet, and a 2-4 MiB
	// window or four flows at 1 MiB reached this limit and collapsed the
	// same way), the TCP buffer bound (netstack/tune.go) and the read batch
	// (netstack.DefaultReadBatch). At 128 MiB the peak was 83 MB instead
	// of 70-74 (before the in-flight bound).
	softMemoryLimit = 96 << 20
	// quietEvery is how often the governor looks at the allocation rate.
	quietEvery = 5 * time.Second
	// quietAlloc: an interval that allocated less than this is quiet.
	quietAlloc = 4 << 20
	// busyAlloc: memory is given back after a quiet interval only once
	// this much was allocated since the last time (a load, not a trickle).
	busyAlloc = 32 << 20
	// retainedGrowth: memory is given back after a quiet interval too
	// when the runtime retains this much more than after the last time.
	retainedGrowth = 8 << 20
	// binaryRegrowthKB: the executable's pages are released again (see
	// releaseBinaryPages) in a quiet interval once this many kB of
	// file-backed memory became resident since the last release. Each
	// release on regrowth doubles the bound for the next, up to
	// maxBinaryRegrowthKB: a process whose quiet working set of code is
	// larger than what a release leaves (a full build running a
	// coordinator's maps, a desktop client) would otherwise release and
	// fault the same pages back every few intervals.
	binaryRegrowthKB    = 2 << 10
	maxBinaryRegrowthKB = 64 << 10
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
	var g memGovernor
	g.init()
	var b binaryPages
	t := time.NewTicker(quietEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g.due() {
			giveBackMemory()
			log.Debug("memory given back after load", "allocated_mb", (g.allocs()-g.released)>>20)
			g.noteRelease()
		}
		if g.quiet {
			b.tick(log)
		}
	}
}

// binaryPages releases the executable's resident pages (releaseBinaryPages)
// in a quiet interval when they grew by binaryRegrowthKB (doubling with
// each such release) since the last release: the first quiet interval
// after the start, and the first after a load. An idle node's RSS so counts the code and tables it runs while
// idle, not all that its start-up touched: the package initializers run
// code all over the binary, and the kernel maps the file around each page
// a fault touches (fault-around, 64 KiB), so after the start nearly the
// whole binary was resident.
type binaryPages struct {
	// resident and release are fileResidentKB and releaseBinaryPages
	// (nil: those).
	resident func() (int, error)
	release  func() error
	// disabled: a release or a reading failed; none is tried again.
	disabled bool
	// released: a release was made; last is the file-backed resident kB
	// after it.
	released bool
	last     int
	// regrowth is the growth in kB that releases again (0:
	// binaryRegrowthKB).
	regrowth int
}

// tick runs in a quiet interval: it releases the executable's pages if
// none were released yet or they grew by b.regrowth since.
func (b *binaryPages) tick(log *slog.Logger) {
	if b.resident == nil {
		if !releaseBinarySupported {
			return
		}
		b.resident, b.release = fileResidentKB, releaseBinaryPages
	}
	if b.disabled {
		return
	}
	now, err := b.resident()
	if err != nil {
		log.Debug("binary pages not released", "err", err)
		b.disabled = true
		return
	}
	if b.regrowth == 0 {
		b.regrowth = binaryRegrowthKB
	}
	if b.released && now < b.last+b.regrowth {
		return
	}
	if b.released {
		b.regrowth = min(2*b.regrowth, maxBinaryRegrowthKB)
	}
	err = b.release()
	if err == nil {
		b.last, err = b.resident()
	}
	if err != nil {
		log.Debug("binary pages not released", "err", err)
		b.disabled = true
		return
	}
	b.released = true
	log.Debug("binary pages released", "file_kb_before", now, "file_kb_after", b.last)
}

// memGovernor decides when to give memory back: after a quiet interval
// that follows a load (busyAlloc allocated since the last time), or that
// finds more memory retained than the last time left (a load whose
// memory was still live then, in flows that had not ended).
type memGovernor struct {
	samples []metrics.Sample
	// last is the allocation count at the last tick, released at the
	// last give-back; retained is the memory retained after it.
	last, released, retained uint64
	// quiet: the last tick's interval allocated under quietAlloc.
	quiet bool
}

func (g *memGovernor) init() {
	g.samples = []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"}}
	g.noteRelease()
}

// allocs returns the bytes allocated since the start.
func (g *memGovernor) allocs() uint64 {
	metrics.Read(g.samples)
	return g.samples[0].Value.Uint64()
}

// retainedNow returns the memory the runtime holds and has not returned.
func (g *memGovernor) retainedNow() uint64 {
	metrics.Read(g.samples)
	return g.samples[1].Value.Uint64() - g.samples[2].Value.Uint64()
}

// due reports, once per tick, whether to give memory back now.
func (g *memGovernor) due() bool {
	now := g.allocs()
	quiet := now-g.last < quietAlloc
	g.last = now
	g.quiet = quiet
	return quiet && (now-g.released >= busyAlloc || g.retainedNow() >= g.retained+retainedGrowth)
}

// noteRelease records a give-back.
func (g *memGovernor) noteRelease() {
	g.released = g.allocs()
	g.last = g.released
	g.retained = g.retainedNow()
}

// giveBackMemory collects twice (sync.Pool keeps its items for one
// collection, in its victim cache) and returns the free pages.
func giveBackMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}
