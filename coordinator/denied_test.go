package coordinator

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// deniedCoord is a coordinator with a camera, an operator and a sensor,
// whose denied-flow windows close after window. Its report limit is out
// of the way (see TestReportRateLimitedPerNode).
func deniedCoord(t *testing.T, window time.Duration) (c *testCoord, cam, op, sensor *machine, camNode, opNode wire.Node) {
	c = startCoordWith(t, testPolicy, func(cfg *Config) { cfg.DeniedWindow, cfg.ReportBurst = window, 1000 })
	cam, op, sensor = newMachine(t), newMachine(t), newMachine(t)
	_, camNode = c.register(cam, c.authKey([]string{"tag:camera"}, false, ""), "cam")
	_, opNode = c.register(op, c.authKey([]string{"tag:operator"}, false, ""), "op")
	c.register(sensor, c.authKey([]string{"tag:sensor"}, false, ""), "sensor")
	return c, cam, op, sensor, camNode, opNode
}

// deniedEvents flushes every open window and returns the flow.denied*
// events.
func (c *testCoord) deniedEvents() []wire.AuditEvent {
	c.t.Helper()
	c.srv.control.flushDenied(c.srv.ctx, time.Now(), true)
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=flow.denied", nil, &evs)
	return evs
}

func report(flows ...wire.DeniedFlow) wire.Report { return wire.Report{DeniedFlows: flows} }

// TestDeniedFlowReportAttributedToReportingNode: a node that reports
// "denied" flows with another node's address as the source writes events
// as itself, never as that node.
func TestDeniedFlowReportAttributedToReportingNode(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	f := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 22, Count: 1}
	if code, b := c.call("POST", wire.PathReport, cam.token, report(f)); code != 204 {
		t.Fatalf("report: %d %s", code, b)
	}
	evs := c.deniedEvents()
	if len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	e := evs[0]
	if e.Actor != "node:cam" || strings.Contains(e.Actor, "op") {
		t.Errorf("actor %q, want the reporting node node:cam", e.Actor)
	}
	d := e.Detail.(map[string]any)
	if d["reported_by"] != "node:cam" || !strings.HasPrefix(d["src_identity"].(string), "node:op") {
		t.Errorf("detail %+v", d)
	}
}

// TestDeniedFlowReportRefusesForeignDestination: a node may report only
// flows to its own addresses; a report naming another destination is
// refused whole and records nothing.
func TestDeniedFlowReportRefusesForeignDestination(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	own := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 22, Count: 1}
	tests := []struct {
		name string
		f    wire.DeniedFlow
	}{
		{"another node's address", wire.DeniedFlow{Src: camNode.IPv4, Dst: opNode.IPv4, Proto: 6, Port: 22, Count: 1}},
		{"an outside address", wire.DeniedFlow{Src: opNode.IPv4, Dst: netip.MustParseAddr("192.0.2.1"), Proto: 6, Port: 22, Count: 1}},
		{"no source", wire.DeniedFlow{Dst: camNode.IPv4, Proto: 6, Port: 22, Count: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, b := c.call("POST", wire.PathReport, cam.token, report(own, tt.f)); code != 400 {
				t.Fatalf("report: %d %s, want 400", code, b)
			}
			if evs := c.deniedEvents(); len(evs) != 0 {
				t.Fatalf("a refused report recorded %+v", evs)
			}
		})
	}
}

// TestDeniedFlowReportCountCapped: a huge count in a report moves the
// metric by at most maxDeniedCount per entry.
func TestDeniedFlowReportCountCapped(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	before := counterValue(t, c)
	f := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 22, Count: 1e13}
	if code, b := c.call("POST", wire.PathReport, cam.token, report(f)); code != 204 {
		t.Fatalf("report: %d %s", code, b)
	}
	if got := counterValue(t, c) - before; got != maxDeniedCount {
		t.Fatalf("metric moved by %v, want the cap %d", got, maxDeniedCount)
	}
}

// TestDeniedFlowsAggregatedPerWindow: one refused connection's
// retransmits, reported in four reports, are one event counting four; a
// node flooding distinct flows writes at most maxDeniedKeysPerNode events
// and one overflow event per window.
func TestDeniedFlowsAggregatedPerWindow(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	syn := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 23, Count: 1}
	for range 4 {
		syn.Time = time.Now()
		if code, b := c.call("POST", wire.PathReport, cam.token, report(syn)); code != 204 {
			t.Fatalf("report: %d %s", code, b)
		}
	}
	evs := c.deniedEvents()
	if len(evs) != 1 || evs[0].Detail.(map[string]any)["count"].(float64) != 4 {
		t.Fatalf("four retransmits: %+v, want one event with count 4", evs)
	}

	const reports = 50
	for i := range reports {
		var flows []wire.DeniedFlow
		for j := range wire.MaxDeniedPerReport {
			flows = append(flows, wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 17, Port: uint16(1000 + i*wire.MaxDeniedPerReport + j), Count: 1})
		}
		if code, b := c.call("POST", wire.PathReport, cam.token, report(flows...)); code != 204 {
			t.Fatalf("report %d: %d %s", i, code, b)
		}
	}
	c.srv.control.flushDenied(c.srv.ctx, time.Now(), true)
	var all []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=flow.denied", nil, &all)
	var flood, overflow int
	for _, e := range all {
		switch e.Action {
		case "flow.denied":
			flood++
		case "flow.denied_overflow":
			overflow++
			if d := e.Detail.(map[string]any); d["flows"].(float64) != reports*wire.MaxDeniedPerReport-maxDeniedKeysPerNode {
				t.Errorf("overflow event: %+v", d)
			}
		}
	}
	if flood-1 != maxDeniedKeysPerNode || overflow != 1 {
		t.Fatalf("a flood of %d flows wrote %d events and %d overflow events; want %d and 1", reports*wire.MaxDeniedPerReport, flood-1, overflow, maxDeniedKeysPerNode)
	}
}

// TestDeniedFlowsSurviveShutdown: aggregates still open when the
// coordinator closes are written, not lost.
func TestDeniedFlowsSurviveShutdown(t *testing.T) {
	c, cam, _, _, camNode, opNode := deniedCoord(t, time.Hour)
	f := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 22, Count: 2}
	if code, b := c.call("POST", wire.PathReport, cam.token, report(f)); code != 204 {
		t.Fatalf("report: %d %s", code, b)
	}
	c.srv.cancel()
	c.srv.wg.Wait()
	c.srv.control.flushDenied(c.srv.ctx, time.Now(), true) // what Close does before closing the store
	evs, err := c.srv.st.ListAudit(context.Background(), store.AuditFilter{ActionPrefix: "flow.denied"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		b, _ := json.Marshal(evs)
		t.Fatalf("after shutdown: %s", b)
	}
}

// counterValue reads c's denied flows counter.
func counterValue(t *testing.T, c *testCoord) float64 {
	t.Helper()
	return counterOf(t, c.srv.metrics.deniedFlows)
}

// counterOf reads counter c.
func counterOf(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
