package node

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/wardnet/ward/internal/giveback"
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
// quiet (giveback.Device): without it, the runtime keeps the pages of the
// load's buffers (wireguard-go's pools hold 64 KiB per packet in flight)
// until its scavenger gets to them, or for good when nothing allocates to
// start a collection.
func governMemory(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
	g := giveback.NewGovernor(giveback.Device, giveback.Read())
	var b binaryPages
	t := time.NewTicker(giveback.Device.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g.Tick(giveback.Read()) {
			held, released := giveback.Release()
			log.Debug("memory given back after load", "held_mb", held>>20, "returned_mb", released>>20)
			g.Given(giveback.Read())
		}
		if g.Quiet() {
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
