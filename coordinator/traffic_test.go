package coordinator

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// postFlows posts recs as m's flow log through the real ingest API.
func (c *testCoord) postFlows(m *machine, recs ...wire.FlowRecord) {
	c.t.Helper()
	if code, body := c.call("POST", wire.PathFlows, m.token, wire.FlowBatch{Records: recs}); code != 204 {
		c.t.Fatalf("post flows: %d %s", code, body)
	}
}

// outFlow is one accepted outbound flow record from src to dst ending at
// end.
func outFlow(src, dst netip.Addr, proto filter.Proto, port uint16, bytes uint64, end time.Time) wire.FlowRecord {
	return wire.FlowRecord{Src: src, Dst: dst, Proto: proto, Port: port, Start: end.Add(-time.Minute), End: end,
		BytesSent: bytes, Count: 1}
}

// TestTrafficAnomalyAndNewPeerOrPort: baselines learned from flow logs
// stored through the ingest API (seven days of the same hour). A device
// that sends 10× its usual bytes this hour gets one traffic_anomaly alert
// naming the baseline mean, the observed bytes and the factor; a port it
// never used fires new_peer_or_port; a device with one day of history
// does neither. The job's state is loaded across a coordinator restart
// (the history was stored by the coordinator before it).
func TestTrafficAnomalyAndNewPeerOrPort(t *testing.T) {
	sink := newSlackSink(t)
	rules, err := alert.Parse("alerts.hujson", fmt.Appendf(nil, `{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [
    {"name": "bytes-jump", "kind": "traffic_anomaly", "metric": "bytes", "factor": 5, "floor": 100000, "tags": ["tag:camera"], "to": ["chat"]},
    {"name": "new-port", "kind": "new_peer_or_port", "to": ["chat"]},
  ],
}`, sink.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	// Half past an hour in the past, so that no hour turns during the test.
	hour := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	var now atomic.Pointer[time.Time]
	at := func(t time.Time) { now.Store(&t) }
	at(hour.Add(30 * time.Minute))
	d := newCoordDir(t, testPolicy)
	c := d.start("")
	cam, web, fresh := newMachine(t), newMachine(t), newMachine(t)
	_, camNode := c.register(cam, c.authKey([]string{"tag:camera"}, false, ""), "cam")
	_, webNode := c.register(web, c.authKey([]string{"tag:operator"}, false, ""), "web")
	_, freshNode := c.register(fresh, c.authKey([]string{"tag:camera"}, false, ""), "fresh")
	var hist []wire.FlowRecord
	for day := 1; day <= 7; day++ {
		hist = append(hist, outFlow(camNode.IPv4, webNode.IPv4, filter.ProtoTCP, 443, 1_000_000,
			hour.Add(-time.Duration(day)*24*time.Hour+10*time.Minute)))
	}
	c.postFlows(cam, hist...)
	c.postFlows(fresh, outFlow(freshNode.IPv4, webNode.IPv4, filter.ProtoTCP, 443, 1_000_000, hour.Add(-24*time.Hour+10*time.Minute)))
	c.stop()

	d.tweak = func(cfg *Config) {
		cfg.AlertRules, cfg.TrafficEvery, cfg.Clock = rules, 50*time.Millisecond, func() time.Time { return *now.Load() }
	}
	c = d.start("")
	c.session(cam)
	c.session(fresh)
	c.postFlows(cam, outFlow(camNode.IPv4, webNode.IPv4, filter.ProtoTCP, 443, 10_000_000, hour.Add(20*time.Minute)))
	c.postFlows(fresh, outFlow(freshNode.IPv4, webNode.IPv4, filter.ProtoTCP, 443, 10_000_000, hour.Add(20*time.Minute)),
		outFlow(freshNode.IPv4, webNode.IPv4, filter.ProtoTCP, 22, 100, hour.Add(20*time.Minute)))
	sink.waitText(t, fmt.Sprintf("[FIRING] [warning] bytes-jump: cam: bytes 10000000 in the hour from %s UTC so far; "+
		"baseline mean 1000000.0 for that hour over 7 days (10.0× the mean; rule: at least 5× and 100000) (node:cam)", hour.Format("15:04")))
	c.postFlows(cam, outFlow(camNode.IPv4, webNode.IPv4, filter.ProtoTCP, 22, 100, hour.Add(21*time.Minute)))
	sink.waitText(t, "new-port: cam: new port tcp/22 (with "+webNode.IPv4.String()+" web)")
	// A later run than the one that judged fresh's hour.
	c.postFlows(cam, outFlow(camNode.IPv4, webNode.IPv4, filter.ProtoUDP, 123, 100, hour.Add(22*time.Minute)))
	sink.waitText(t, "new-port: cam: new port udp/123")
	// And a later one still: the anomaly stays one open alert.
	c.postFlows(cam, outFlow(camNode.IPv4, webNode.IPv4, filter.ProtoUDP, 124, 100, hour.Add(23*time.Minute)))
	sink.waitText(t, "new-port: cam: new port udp/124")
	c.postFlows(cam, outFlow(camNode.IPv4, freshNode.IPv4, filter.ProtoTCP, 443, 100, hour.Add(24*time.Minute)))
	sink.waitText(t, "new-port: cam: new peer "+freshNode.IPv4.String()+" fresh (tcp/443)")

	// The next hour, back to nothing (below the floor): the recovery.
	at(hour.Add(90 * time.Minute))
	sink.waitText(t, "[RESOLVED] [warning] bytes-jump: cam's bytes back within 5× its baseline (0 this hour so far) (node:cam)")
	if n := sink.count("[FIRING] [warning] bytes-jump: cam"); n != 1 {
		t.Errorf("the anomaly alert fired %d times; want once", n)
	}
	if n := sink.count("(node:fresh)"); n != 0 {
		t.Errorf("a device with one day of history got %d alerts; want none", n)
	}
	if n := sink.count("new peer"); n != 1 {
		t.Errorf("new peers reported %d times; want once (a known peer is not new)", n)
	}
}
