package netstack

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// flowCounts are a tracked flow's byte counters for flow logs. The packet
// path only adds (when GuardConfig.CountFlows is set); DrainFlowCounts
// swaps them to zero, so nothing is counted twice or lost between drains.
type flowCounts struct {
	// fwd counts the bytes the opener sent, rev those its peer sent.
	fwd, rev atomic.Uint64
	// drained is set once the flow has been handed to DrainFlowCounts.
	drained atomic.Bool
}

// countBytes adds size bytes to f (may be nil), sent by the opener when
// fromOpener is set. It is the flow logs' hook on the packet path: two
// uncontended atomic adds, never a lock.
func (g *guard) countBytes(f *flow, fromOpener bool, size int) {
	if !g.count || f == nil {
		return
	}
	if fromOpener {
		f.counts.fwd.Add(uint64(size))
	} else {
		f.counts.rev.Add(uint64(size))
	}
}

// FlowCount is what one tracked flow carried since the previous drain.
type FlowCount struct {
	// Src and Dst are the opener's and its peer's overlay addresses.
	Src, Dst netip.Addr
	// Proto is the transport protocol; Port the destination port (0 for
	// ICMP).
	Proto uint8
	Port  uint16
	// Inbound is set when a peer opened the flow toward this node.
	Inbound bool
	// New is set the first time the flow is drained.
	New bool
	// Start is when the flow was first seen; Last when it last carried a
	// packet (to within a quarter second).
	Start, Last time.Time
	// Fwd and Rev are the bytes the opener and its peer sent since the
	// previous drain.
	Fwd, Rev uint64
}

// drainFlowCounts calls fn for every tracked flow that is new or carried
// bytes since the previous drain, and zeroes its counters. It holds one
// shard's read lock at a time, so the packet path is never held up for
// long; fn must not call back into the guard.
func (g *guard) drainFlowCounts(fn func(FlowCount)) {
	ct := g.ct
	for i := range ct.shards {
		sh := &ct.shards[i]
		sh.mu.RLock()
		for k, f := range sh.flows {
			if c, ok := f.drain(&k, ct.epoch); ok {
				fn(c)
			}
		}
		sh.mu.RUnlock()
	}
}

// drain takes f's counts; ok is false when there is nothing to report.
func (f *flow) drain(k *flowKey, epoch time.Time) (FlowCount, bool) {
	fwd, rev := f.counts.fwd.Swap(0), f.counts.rev.Swap(0)
	isNew := !f.counts.drained.Swap(true)
	if fwd == 0 && rev == 0 && !isNew {
		return FlowCount{}, false
	}
	c := FlowCount{Proto: f.proto, Inbound: f.origin == fromRemote, New: isNew, Fwd: fwd, Rev: rev,
		Start: epoch.Add(time.Duration(f.born)), Last: epoch.Add(time.Duration(f.lastSeen.Load()))}
	if c.Inbound {
		c.Src, c.Dst, c.Port = k.remote, k.local, k.localPort
	} else {
		c.Src, c.Dst, c.Port = k.local, k.remote, k.remotePort
	}
	if f.proto != ProtoTCP && f.proto != ProtoUDP {
		c.Port = 0
	}
	return c, true
}

// DrainFlowCounts calls fn for every tracked flow that is new or carried
// bytes since the previous call, with what it carried meanwhile (zero
// unless Config.CountFlows is set). fn must not call back into the Stack.
func (s *Stack) DrainFlowCounts(fn func(FlowCount)) { s.guard.drainFlowCounts(fn) }

// DrainFlowCounts is Stack.DrainFlowCounts for the guarded device.
func (g *Guard) DrainFlowCounts(fn func(FlowCount)) { g.g.drainFlowCounts(fn) }
