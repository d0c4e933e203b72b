package store

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// flowAt returns a record reported by node n that ended at end.
func flowAt(n int, end time.Time, denied bool) FlowRecord {
	return FlowRecord{Node: NodeID(n), NodeName: fmt.Sprintf("cam-%d", n), Src: netip.MustParseAddr("100.64.0.9"),
		Dst: netip.MustParseAddr("fd7a:115c:a1e0::5"), SrcNode: "laptop", SrcWho: "user:alice@example.com",
		DstNode: fmt.Sprintf("cam-%d", n), DstWho: "tag:cam", Proto: 6, Port: 22, Inbound: true, Denied: denied,
		Rule: "no rule matched", Start: end.Add(-time.Minute), End: end, BytesSent: 1 << 63, BytesRecv: 7, Count: 100}
}

func TestFlowLogStoreFiltersAndRetention(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	old, mid, recent := flowAt(1, t0, true), flowAt(2, t0.Add(time.Hour), false), flowAt(1, t0.Add(2*time.Hour), false)
	if err := s.AppendFlows(ctx, []FlowRecord{old, mid, recent}); err != nil {
		t.Fatal(err)
	}
	recent.BytesSent = 1<<63 - 1 // clamped to SQLite's integer
	tests := []struct {
		name string
		f    FlowFilter
		want []FlowRecord
	}{
		{"all, newest first", FlowFilter{}, []FlowRecord{recent, mid, old}},
		{"by reporting node", FlowFilter{Node: "cam-1"}, []FlowRecord{recent, old}},
		{"by source node", FlowFilter{Node: "laptop", Limit: 1}, []FlowRecord{recent}},
		{"since", FlowFilter{Since: t0.Add(time.Hour)}, []FlowRecord{recent, mid}},
		{"until", FlowFilter{Until: t0.Add(time.Hour)}, []FlowRecord{old}},
		{"denied", FlowFilter{DeniedOnly: true}, []FlowRecord{old}},
	}
	for _, tc := range tests {
		got, err := s.ListFlows(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			got[i].ID = 0
		}
		for i := range tc.want {
			tc.want[i].BytesSent = min(tc.want[i].BytesSent, 1<<63-1)
		}
		if d := diff(tc.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
	n, err := s.DeleteFlowsBefore(ctx, t0.Add(90*time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("delete before: %d, %v; want 2", n, err)
	}
	if got, _ := s.ListFlows(ctx, FlowFilter{}); len(got) != 1 || got[0].End != recent.End {
		t.Fatalf("after retention: %+v", got)
	}
}

// BenchmarkFlowIngest appends flow records in batches of 128, the most a
// node sends at once (wire.MaxFlowsPerBatch), and reports records/s.
func BenchmarkFlowIngest(b *testing.B) {
	s, _ := openTest(b)
	ctx := context.Background()
	batch := make([]FlowRecord, 128)
	for i := range batch {
		batch[i] = flowAt(i%16, t0.Add(time.Duration(i)*time.Second), i%2 == 0)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if err := s.AppendFlows(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/time.Since(start).Seconds(), "records/s")
}
