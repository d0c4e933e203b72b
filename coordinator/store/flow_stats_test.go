package store

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestFlowStatsForTrafficBaselines: the unusual-traffic job's reads sum
// accepted flows per reporting node and span, count distinct peers (the
// other end) and ports, list what each node used with its first time,
// read records after an ID in ID order, and keep a cursor.
func TestFlowStatsForTrafficBaselines(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	out := func(dst string, port uint16, bytes uint64, end time.Time) FlowRecord {
		return FlowRecord{Node: 1, NodeName: "cam", Src: netip.MustParseAddr("100.64.0.1"), Dst: netip.MustParseAddr(dst),
			Proto: 6, Port: port, Start: end, End: end, BytesSent: bytes, BytesRecv: 1, Count: 2}
	}
	denied := flowAt(1, t0.Add(time.Minute), true) // reported by cam-1: never counted
	rs := []FlowRecord{out("100.64.0.2", 443, 100, t0), out("100.64.0.3", 443, 200, t0.Add(time.Minute)),
		out("100.64.0.2", 22, 300, t0.Add(2*time.Minute)), denied, out("100.64.0.2", 443, 400, t0.Add(time.Hour))}
	if err := s.AppendFlows(ctx, rs); err != nil {
		t.Fatal(err)
	}
	totals, err := s.FlowTotals(ctx, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]FlowTotals{{Node: "cam", Flows: 6, Bytes: 603, Peers: 2, Ports: 2}}, totals); d != "" {
		t.Errorf("totals (-want +got):\n%s", d)
	}
	last, err := s.LastFlowID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uses, err := s.FlowUses(ctx, t0.Add(time.Second), last-1)
	if err != nil {
		t.Fatal(err)
	}
	wantUses := []FlowUse{{Node: "cam", Peer: netip.MustParseAddr("100.64.0.2"), Proto: 6, Port: 22, First: t0.Add(2 * time.Minute)},
		{Node: "cam", Peer: netip.MustParseAddr("100.64.0.3"), Proto: 6, Port: 443, First: t0.Add(time.Minute)}}
	if d := diff(wantUses, sortedUses(uses)); d != "" {
		t.Errorf("uses (-want +got):\n%s", d)
	}
	after, err := s.FlowsAfter(ctx, last-2, 10)
	if err != nil || len(after) != 2 || after[0].ID != last-1 || after[1].ID != last {
		t.Fatalf("after %d: %+v, %v", last-2, after, err)
	}
	if _, ok, err := s.Cursor(ctx, "traffic"); ok || err != nil {
		t.Fatalf("unset cursor: %v, %v", ok, err)
	}
	if err := s.SetCursor(ctx, "traffic", 41); err != nil {
		t.Fatal(err)
	}
	if err := s.SetCursor(ctx, "traffic", 42); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Cursor(ctx, "traffic"); v != 42 || !ok || err != nil {
		t.Fatalf("cursor: %d, %v, %v", v, ok, err)
	}
}

// sortedUses orders uses by peer then port, as the test expects them.
func sortedUses(us []FlowUse) []FlowUse {
	slices.SortFunc(us, func(a, b FlowUse) int {
		if c := a.Peer.Compare(b.Peer); c != 0 {
			return c
		}
		return cmp.Compare(a.Port, b.Port)
	})
	return us
}
