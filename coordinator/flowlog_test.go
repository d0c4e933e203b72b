package coordinator

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// flowsOf lists flow records through the admin API with query q.
func (c *testCoord) flowsOf(q url.Values) []wire.AdminFlow {
	c.t.Helper()
	var fs []wire.AdminFlow
	if code := c.admin("GET", wire.PathAdminFlows+"?"+q.Encode(), nil, &fs); code != 200 {
		c.t.Fatalf("list flows: %d", code)
	}
	return fs
}

// TestFlowLogReporterComesFromAuthentication: a node reports flows as
// itself, whatever the body says; a record it could not have carried
// (neither end its own), a reporter field of its choosing, or an
// oversized batch is refused whole, and nothing of it is stored.
func TestFlowLogReporterComesFromAuthentication(t *testing.T) {
	c, cam, op, _, camNode, opNode := deniedCoord(t, time.Hour)
	now := time.Now().UTC().Truncate(time.Second)
	denied := wire.FlowRecord{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: filter.ProtoTCP, Port: 22, Inbound: true, Denied: true,
		Rule: "no rule matched", Start: now, End: now.Add(time.Second), Count: 100}
	refused := []struct {
		name string
		body any
	}{
		{"another node's flow", wire.FlowBatch{Records: []wire.FlowRecord{denied}}},
		{"a reporter in the body", map[string]any{"reporter": "cam", "records": []wire.FlowRecord{denied}}},
		{"too many records", wire.FlowBatch{Records: make([]wire.FlowRecord, wire.MaxFlowsPerBatch+1)}},
	}
	for _, tc := range refused {
		// op posts the camera's flow as if it had carried it.
		if code, b := c.call("POST", wire.PathFlows, op.token, tc.body); code != 400 {
			t.Errorf("%s: %d %s, want 400", tc.name, code, b)
		}
	}
	if code, _ := c.call("POST", wire.PathFlows, "", wire.FlowBatch{}); code != 401 {
		t.Errorf("unauthenticated: %d, want 401", code)
	}
	if fs := c.flowsOf(nil); len(fs) != 0 {
		t.Fatalf("refused batches stored %+v", fs)
	}
	if code, b := c.call("POST", wire.PathFlows, cam.token, wire.FlowBatch{Records: []wire.FlowRecord{denied}}); code != 204 {
		t.Fatalf("camera's own flow: %d %s", code, b)
	}
	fs := c.flowsOf(url.Values{"node": {"cam"}, "denied": {"1"}, "since": {"1h"}})
	if len(fs) != 1 {
		t.Fatalf("flows: %+v", fs)
	}
	f := fs[0]
	if f.Reporter != "cam" || f.SrcNode != "op" || f.SrcWho != "tag:operator" || f.DstNode != "cam" || f.DstWho != "tag:camera" ||
		f.Verdict != "denied" || f.Direction != "in" || f.Count != 100 || f.Rule != "no rule matched" {
		t.Errorf("stored %+v", f)
	}
	if fs := c.flowsOf(url.Values{"node": {"sensor"}}); len(fs) != 0 {
		t.Errorf("sensor's flows: %+v", fs)
	}
}

// TestFlowLogRetentionDeletesOldRecords: records past --flow-retention go.
func TestFlowLogRetentionDeletesOldRecords(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	old := time.Now().UTC().Add(-48 * time.Hour)
	rec := func(at time.Time) wire.FlowRecord {
		return wire.FlowRecord{Src: camNode.IPv4, Dst: opNode.IPv4, Proto: filter.ProtoTCP, Port: 443, Rule: "outbound",
			Start: at, End: at, BytesSent: 10, BytesRecv: 20, Count: 1}
	}
	batch := wire.FlowBatch{Records: []wire.FlowRecord{rec(old), rec(time.Now().UTC())}}
	if code, b := c.call("POST", wire.PathFlows, cam.token, batch); code != 204 {
		t.Fatalf("post: %d %s", code, b)
	}
	if err := c.srv.control.flows.pruneOnce(context.Background(), time.Now().Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	fs := c.flowsOf(nil)
	if len(fs) != 1 || fs[0].End.Before(time.Now().Add(-time.Hour)) {
		t.Fatalf("after retention: %+v", fs)
	}
}

// BenchmarkFlowIngestHTTP posts full batches from 16 nodes at once
// through the control API and reports the records/s the coordinator
// stores (its writer groups concurrent batches into one transaction).
func BenchmarkFlowIngestHTTP(b *testing.B) {
	c := startCoordWith(b, testPolicy, nil)
	const nodes = 16
	ms := make([]*machine, nodes)
	batches := make([]wire.FlowBatch, nodes)
	for i := range ms {
		ms[i] = newMachine(b)
		_, n := c.register(ms[i], c.authKey([]string{"tag:camera"}, false, ""), fmt.Sprintf("cam%d", i))
		now := time.Now().UTC()
		for j := range wire.MaxFlowsPerBatch {
			batches[i].Records = append(batches[i].Records, wire.FlowRecord{Src: n.IPv4, Dst: netip.AddrFrom4([4]byte{100, 64, 200, byte(j)}), Proto: filter.ProtoTCP,
				Port: 443, Rule: "outbound", Start: now, End: now, BytesSent: 100, BytesRecv: 1000, Count: 1})
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := i; k < b.N; k += nodes {
				if code, body := c.call("POST", wire.PathFlows, ms[i].token, batches[i]); code != 204 {
					b.Errorf("post: %d %s", code, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N*wire.MaxFlowsPerBatch)/time.Since(start).Seconds(), "records/s")
}
