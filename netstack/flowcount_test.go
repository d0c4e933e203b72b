package netstack

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestFlowLogCountsBytesEachWay checks the flow logs' hook: bytes each
// way of an inbound and an outbound flow, handed out once per drain, and
// nothing at all without CountFlows.
func TestFlowLogCountsBytesEachWay(t *testing.T) {
	syn := tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN)
	synAck := tcpPacket(addrB4, addrA4, 80, 40000, tcpSYN|tcpACK)
	outSyn := tcpPacket(addrB4, addrA4, 50000, 443, tcpSYN)
	for _, count := range []bool{true, false} {
		g := newGuard(GuardConfig{IPv4: addrB4, MaxFlows: minFlows, CountFlows: count}, nil)
		g.filter.set(allowAll)
		now := g.ct.now()
		if !g.inbound(syn, now) || !g.outbound(synAck, now) || !g.inbound(syn, now) || !g.outbound(outSyn, now) {
			t.Fatal("a packet was dropped")
		}
		var got []FlowCount
		g.drainFlowCounts(func(c FlowCount) { got = append(got, c) })
		n := func(b []byte, k int) uint64 {
			if !count {
				return 0
			}
			return uint64(len(b) * k)
		}
		want := []FlowCount{
			{Src: addrA4, Dst: addrB4, Proto: ProtoTCP, Port: 80, Inbound: true, New: true, Fwd: n(syn, 2), Rev: n(synAck, 1)},
			{Src: addrB4, Dst: addrA4, Proto: ProtoTCP, Port: 443, New: true, Fwd: n(outSyn, 1)},
		}
		opts := []cmp.Option{cmpopts.IgnoreFields(FlowCount{}, "Start", "Last"), cmpopts.EquateComparable(addrA4),
			cmpopts.SortSlices(func(a, b FlowCount) bool { return a.Port < b.Port })}
		if diff := cmp.Diff(want, got, opts...); diff != "" {
			t.Fatalf("count=%v: first drain (-want +got):\n%s", count, diff)
		}
		got = nil
		g.drainFlowCounts(func(c FlowCount) { got = append(got, c) })
		if len(got) != 0 {
			t.Fatalf("count=%v: second drain without traffic gave %+v", count, got)
		}
	}
}

// TestFlowLogHookDoesNotAllocate keeps the counting hook off the heap.
func TestFlowLogHookDoesNotAllocate(t *testing.T) {
	g := newGuard(GuardConfig{IPv4: addrB4, MaxFlows: minFlows, CountFlows: true}, nil)
	g.filter.set(allowAll)
	g.inbound(tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), 1)
	in := tcpPacket(addrA4, addrB4, 40000, 80, tcpACK)
	if n := testing.AllocsPerRun(100, func() { g.inbound(in, 2) }); n != 0 {
		t.Fatalf("counted packets allocate %v times", n)
	}
}
