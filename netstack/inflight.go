package netstack

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInFlight is Config.InFlight's default: the packets wireguard-go
// may hold each way (16 MiB of its 64 KiB message buffers; 360 KB of
// payload at a 1420-byte MTU, several of its batches).
const DefaultInFlight = 256

// inFlightStall is how long Gate.Wait waits for wireguard-go to let a
// packet out before it takes the count for lost (see Gate).
const inFlightStall = 20 * time.Millisecond

// Gate bounds the packets wireguard-go holds between one end of the data
// path and the other (issue 12): outbound, from the Stack's Read to the
// bind's Send; inbound, from the bind's receive to the Stack's Write.
// wireguard-go's queues carry each packet in a 64 KiB message buffer and
// never push back, so without a bound a TCP flow's whole window (and
// every flow's together) sat in them: a 4 MiB window held 1,600 packets,
// 100 MiB of buffers, on each node; past the node's soft memory limit
// the collector then ran without pause, emptied the buffer pools every
// cycle, and each packet took a fresh, zeroed 64 KiB buffer (throughput
// fell five-fold, CPU per byte rose five-fold). With the gate the rest of
// the window waits where it costs its own size: in gVisor's send buffer
// (Read waits) or in the UDP socket's receive buffer (the receive waits).
//
// Enter counts packets going in, Leave packets coming out; Wait blocks
// while the count is at the limit. The count is an estimate: a packet
// wireguard-go drops (no peer, no session yet, a replay) never comes out.
// So a Wait that sees nothing come out for inFlightStall takes the count
// for lost, sets it to zero and returns: the bound lapses for one window
// rather than the data path stopping. A nil *Gate bounds nothing.
type Gate struct {
	limit int64
	stall time.Duration

	held    atomic.Int64
	peak    atomic.Int64
	resets  atomic.Uint64
	waiters atomic.Int32

	// mu guards wake, closed and replaced by Leave to wake every waiter.
	mu   sync.Mutex
	wake chan struct{}
}

// newGate returns a Gate holding at most limit packets, or nil when limit
// is not positive.
func newGate(limit int, stall time.Duration) *Gate {
	if limit <= 0 {
		return nil
	}
	return &Gate{limit: int64(limit), stall: stall, wake: make(chan struct{})}
}

// Wait blocks while the gate holds its limit or more, until Leave lets
// some out, done is closed, or nothing came out for the stall time (then
// the count restarts from zero).
func (g *Gate) Wait(done <-chan struct{}) {
	if g == nil || g.held.Load() < g.limit {
		return
	}
	t := time.NewTimer(g.stall)
	defer t.Stop()
	for {
		g.mu.Lock()
		wake := g.wake
		g.waiters.Add(1)
		g.mu.Unlock()
		// Counted as a waiter before this look, so a Leave after it
		// sees the waiter and closes wake.
		if g.held.Load() < g.limit {
			g.waiters.Add(-1)
			return
		}
		select {
		case <-wake:
			g.waiters.Add(-1)
			if g.held.Load() < g.limit {
				return
			}
		case <-t.C:
			g.waiters.Add(-1)
			g.held.Store(0)
			g.resets.Add(1)
			return
		case <-done:
			g.waiters.Add(-1)
			return
		}
	}
}

// Enter counts n packets going in.
func (g *Gate) Enter(n int) {
	if g == nil || n <= 0 {
		return
	}
	v := g.held.Add(int64(n))
	for p := g.peak.Load(); v > p && !g.peak.CompareAndSwap(p, v); p = g.peak.Load() {
	}
}

// Leave counts n packets coming out (never below zero: what came in
// uncounted, a keepalive or a handshake, comes out too) and wakes the
// waiters when the count fell under the limit.
func (g *Gate) Leave(n int) {
	if g == nil || n <= 0 {
		return
	}
	var v int64
	for {
		o := g.held.Load()
		v = max(0, o-int64(n))
		if g.held.CompareAndSwap(o, v) {
			break
		}
	}
	if v < g.limit && g.waiters.Load() > 0 {
		g.mu.Lock()
		close(g.wake)
		g.wake = make(chan struct{})
		g.mu.Unlock()
	}
}

// GateStats are a Gate's figures.
type GateStats struct {
	// Held is the packets counted in now.
	Held int
	// Peak is the most packets ever counted in at once.
	Peak int
	// Resets counts the Waits that saw nothing come out for the stall
	// time and restarted the count.
	Resets uint64
}

// Stats returns the gate's figures (zero for a nil Gate).
func (g *Gate) Stats() GateStats {
	if g == nil {
		return GateStats{}
	}
	return GateStats{Held: int(g.held.Load()), Peak: int(g.peak.Load()), Resets: g.resets.Load()}
}
