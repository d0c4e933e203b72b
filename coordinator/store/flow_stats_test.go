package store

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
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

// BenchmarkTrafficBaselineReads measures the unusual-traffic job's reads
// over a week of flow logs: WARD_BENCH_DEVICES devices (50) each with two
// records an hour for 7 days. It reports the hourly baseline (the same
// hour of 7 days summed per device: seven FlowTotals), the history read
// when the job starts (FlowUses over the week), and one minute's fold
// (FlowsAfter of one record per device), in ms.
func BenchmarkTrafficBaselineReads(b *testing.B) {
	devices := 50
	if n, err := strconv.Atoi(os.Getenv("WARD_BENCH_DEVICES")); err == nil && n > 0 {
		devices = n
	}
	s, _ := openTest(b)
	ctx := context.Background()
	now := t0.Add(8 * 24 * time.Hour)
	var batch []FlowRecord
	for h := 1; h <= 7*24; h++ {
		for d := range devices {
			for p := range 2 {
				batch = append(batch, FlowRecord{Node: NodeID(d + 1), NodeName: fmt.Sprintf("cam-%d", d),
					Src: netip.AddrFrom4([4]byte{100, 64, byte(d >> 8), byte(d)}), Dst: netip.AddrFrom4([4]byte{100, 65, 0, byte(p)}),
					Proto: 6, Port: uint16(443 + p), Start: now.Add(-time.Duration(h) * time.Hour), End: now.Add(-time.Duration(h) * time.Hour),
					BytesSent: 1000, Count: 1})
			}
		}
		if len(batch) >= 8192 || h == 7*24 {
			if err := s.AppendFlows(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	last, err := s.LastFlowID(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var hourly, uses, fold time.Duration
	for range b.N {
		start := time.Now()
		hour := now.Truncate(time.Hour)
		for d := 1; d <= 7; d++ {
			from := hour.Add(-time.Duration(d) * 24 * time.Hour)
			if _, err := s.FlowTotals(ctx, from, from.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
		hourly += time.Since(start)
		start = time.Now()
		if _, err := s.FlowUses(ctx, hour.Add(-7*24*time.Hour), last); err != nil {
			b.Fatal(err)
		}
		uses += time.Since(start)
		start = time.Now()
		if _, err := s.FlowsAfter(ctx, last-FlowID(devices), 8192); err != nil {
			b.Fatal(err)
		}
		fold += time.Since(start)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(hourly), "hourly-ms")
	b.ReportMetric(ms(uses), "history-ms")
	b.ReportMetric(ms(fold), "fold-ms")
	b.ReportMetric(float64(devices*2*7*24), "records")
}
