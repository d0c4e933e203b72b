package coordinator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// callHeader sends a JSON request and returns the status and the
// response's headers.
func (c *testCoord) callHeader(method, path, token string, body any) (int, http.Header) {
	c.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.http.URL+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// TestReportRateLimitedPerNode: a node flipping its endpoints as fast as
// it can gets ReportBurst reports through, then 429 with Retry-After; the
// refused reports write nothing, push nothing to its peers and count no
// denied flow, and another node's reports are not held back by it.
func TestReportRateLimitedPerNode(t *testing.T) {
	const burst = 5
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.ReportBurst, cfg.ReportEvery = burst, time.Hour })
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	camNode, opNode := c.storeNode(cam), c.storeNode(op)
	s := c.openMap(op, 0)
	s.next()

	codes := map[int]int{}
	var last wire.Report
	for i := range 100 {
		rep := endpointsReport(uint16(1000 + i%2))
		rep.DeniedFlows = []wire.DeniedFlow{{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 80, Count: 1}}
		code, h := c.callHeader("POST", wire.PathReport, cam.token, rep)
		codes[code]++
		switch code {
		case http.StatusNoContent:
			last = rep
		case http.StatusTooManyRequests:
			if ra, err := strconv.Atoi(h.Get("Retry-After")); err != nil || ra < 1 {
				t.Errorf("429 with Retry-After %q, want a number of seconds >= 1", h.Get("Retry-After"))
			}
		default:
			t.Fatalf("report %d: %d", i, code)
		}
	}
	if codes[http.StatusNoContent] != burst || codes[http.StatusTooManyRequests] != 100-burst {
		t.Errorf("answers %v, want %d × 204 then 429", codes, burst)
	}
	if got := c.storeNode(cam).Endpoints; !slices.Equal(got, last.Endpoints) {
		t.Errorf("stored endpoints %v, want those of the last accepted report %v", got, last.Endpoints)
	}
	if v := counterValue(t, c); v != burst {
		t.Errorf("ward_denied_flows_total = %v, want %d (refused reports count nothing)", v, burst)
	}
	pushes := 0
	for drained := false; !drained; {
		select {
		case <-s.msgs:
			pushes++
		case <-time.After(time.Second):
			drained = true
		}
	}
	if pushes > burst {
		t.Errorf("op1 got %d map pushes from cam1's reports, want at most %d", pushes, burst)
	}
	if code, _ := c.callHeader("POST", wire.PathReport, op.token, endpointsReport(2000)); code != http.StatusNoContent {
		t.Errorf("another node's report: %d, want 204", code)
	}
}

// TestReportRateLimitDefaults: the default report limit leaves the stock
// node (one report a second at most, see node/report.go) far inside it.
func TestReportRateLimitDefaults(t *testing.T) {
	var cfg Config
	cfg.setDefaults()
	if cfg.ReportBurst < 10 || cfg.ReportEvery > 500*time.Millisecond {
		t.Errorf("report limit %d at once then one per %v: the stock node's one a second must stay well inside it",
			cfg.ReportBurst, cfg.ReportEvery)
	}
}

// TestDeniedCounterBoundedPerNode: a node reporting huge counts gets at
// most maxDeniedCount attempts credited per window, in its events and in
// ward_denied_flows_total; the rest appears only in one overflow event.
// Each node has its own credit, renewed with each window.
func TestDeniedCounterBoundedPerNode(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.DeniedWindow, cfg.ReportBurst = time.Hour, 1000 })
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	camNode, opNode := c.storeNode(cam), c.storeNode(op)
	flows := func(src, dst netip.Addr) []wire.DeniedFlow {
		out := make([]wire.DeniedFlow, wire.MaxDeniedPerReport)
		for i := range out {
			out[i] = wire.DeniedFlow{Src: src, Dst: dst, Proto: 6, Port: uint16(1000 + i), Count: 1 << 62}
		}
		return out
	}
	const reports = 200
	for range reports {
		if code, b := c.call("POST", wire.PathReport, cam.token, report(flows(opNode.IPv4, camNode.IPv4)...)); code != http.StatusNoContent {
			t.Fatalf("report: %d %s", code, b)
		}
	}
	if v := counterValue(t, c); v != maxDeniedCount {
		t.Errorf("ward_denied_flows_total = %.3g after %d reports of huge counts, want %d", v, reports, maxDeniedCount)
	}
	if code, b := c.call("POST", wire.PathReport, op.token, report(flows(camNode.IPv4, opNode.IPv4)[:1]...)); code != http.StatusNoContent {
		t.Fatalf("op1's report: %d %s", code, b)
	}
	if v := counterValue(t, c); v != 2*maxDeniedCount {
		t.Errorf("ward_denied_flows_total = %.3g, want %d: op1 has a credit of its own", v, 2*maxDeniedCount)
	}

	c.srv.control.flushDenied(c.srv.ctx, time.Now(), true)
	evs, err := c.srv.st.ListAudit(t.Context(), store.AuditFilter{ActionPrefix: "flow.denied"})
	if err != nil {
		t.Fatal(err)
	}
	var counted, uncounted float64
	for _, e := range evs {
		var d map[string]any
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			t.Fatal(err)
		}
		if e.Actor != "node:cam1" {
			continue
		}
		counted += d["count"].(float64)
		if e.Action == "flow.denied_overflow" {
			uncounted += d["uncounted"].(float64)
		}
	}
	want := float64(reports*wire.MaxDeniedPerReport*maxDeniedCount - maxDeniedCount)
	if counted != maxDeniedCount || uncounted != want {
		t.Errorf("cam1's events count %.0f and leave %.0f uncounted, want %d and %.0f", counted, uncounted, maxDeniedCount, want)
	}

	t.Run("new window", func(t *testing.T) {
		d := newDeniedFlows(time.Minute)
		n := store.Node{ID: 1, Name: "cam1"}
		f := wire.DeniedFlow{Src: opNode.IPv4, Dst: camNode.IPv4, Proto: 6, Port: 22}
		who := func(netip.Addr) string { return "" }
		t0 := time.Now()
		if got := d.add(n, f, maxDeniedCount, who, t0); got != maxDeniedCount {
			t.Fatalf("credited %d, want %d", got, maxDeniedCount)
		}
		if got := d.add(n, f, 5, who, t0.Add(time.Second)); got != 0 {
			t.Errorf("credited %d past the window's credit, want 0", got)
		}
		d.due(t0.Add(time.Minute), false)
		if got := d.add(n, f, 5, who, t0.Add(time.Minute)); got != 5 {
			t.Errorf("credited %d in the next window, want 5", got)
		}
	})
}
