package coordinator

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// pathsFleet is a coordinator with an operator and a camera it may reach
// (peers of each other) and a sensor that is the peer of neither.
type pathsFleet struct {
	c                *testCoord
	op, cam, sensor  *machine
	opID, camID, sID wire.NodeID
}

func startPathsFleet(t *testing.T, tweak func(*Config)) *pathsFleet {
	t.Helper()
	c := startCoordListening(t, tweak)
	f := &pathsFleet{c: c, op: c.mustRegister([]string{"tag:operator"}, "op1"),
		cam: c.mustRegister([]string{"tag:camera"}, "cam1"), sensor: c.mustRegister([]string{"tag:sensor"}, "sensor1")}
	f.opID, f.camID, f.sID = wire.NodeID(c.storeNode(f.op).ID), wire.NodeID(c.storeNode(f.cam).ID), wire.NodeID(c.storeNode(f.sensor).ID)
	return f
}

// goodPaths is op1's report: direct to cam1.
func (f *pathsFleet) goodPaths() *wire.NodePaths {
	return &wire.NodePaths{Peers: []wire.PeerPath{{Peer: f.camID, Kind: wire.PathKindDirect,
		Addr: netip.MustParseAddrPort("198.51.100.7:41641"), RTTMicros: 1500, HandshakeAgeMillis: 4000}},
		PathSummary: wire.PathSummary{Reflexive: netip.MustParseAddrPort("203.0.113.5:41641"), Relay: "coordinator", RelayConnected: true,
			DirectTxBytes: 1000, DirectRxBytes: 2000, RelayTxBytes: 30, RelayRxBytes: 40}}
}

// report sends rep as m and returns the status.
func (f *pathsFleet) report(m *machine, rep wire.Report) int {
	f.c.t.Helper()
	code, _ := f.c.call("POST", wire.PathReport, m.token, rep)
	return code
}

// paths returns what the admin API says of node ref's paths.
func (f *pathsFleet) paths(ref string) *wire.AdminPaths {
	f.c.t.Helper()
	var n wire.AdminNode
	if code := f.c.admin("GET", wire.PathAdminNodes+"/"+ref, nil, &n); code != http.StatusOK {
		f.c.t.Fatalf("GET node %s: %d", ref, code)
	}
	return n.Paths
}

// TestReportCarriesPaths: a node's path report reaches the admin API's
// answer for that node, by peer name, with the relay, the reflexive
// address, the handshake on the coordinator's clock and the bytes; the
// node list carries no paths, and a report without paths keeps them.
func TestReportCarriesPaths(t *testing.T) {
	f := startPathsFleet(t, nil)
	if p := f.paths("op1"); p != nil {
		t.Fatalf("paths before any report: %+v", p)
	}
	if code := f.report(f.op, wire.Report{Paths: f.goodPaths()}); code != http.StatusNoContent {
		t.Fatalf("report paths: %d", code)
	}
	p := f.paths("op1")
	if p == nil || len(p.Peers) != 1 {
		t.Fatalf("paths after the report: %+v", p)
	}
	got := p.Peers[0]
	if got.Name != "cam1" || got.Kind != wire.PathKindDirect || got.Addr.String() != "198.51.100.7:41641" || got.RTTMicros != 1500 {
		t.Errorf("path to cam1: %+v", got)
	}
	if d := p.ReportedAt.Sub(got.LastHandshake); d.Milliseconds() != 4000 {
		t.Errorf("last handshake %v before the report, want 4s", d)
	}
	if p.Reflexive.String() != "203.0.113.5:41641" || p.Relay != "coordinator" || p.DirectRxBytes != 2000 {
		t.Errorf("node's paths: %+v", p)
	}
	var list []wire.AdminNode
	f.c.admin("GET", wire.PathAdminNodes, nil, &list)
	for _, n := range list {
		if n.Paths != nil {
			t.Errorf("the node list carries %s's paths", n.Name)
		}
	}
	if code := f.report(f.op, wire.Report{Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4000")}}); code != http.StatusNoContent {
		t.Fatalf("report endpoints: %d", code)
	}
	if p := f.paths("op1"); p == nil || len(p.Peers) != 1 {
		t.Errorf("a report without paths dropped them: %+v", p)
	}
}

// TestPathReportRefusesBadInput: a path report breaking its limits is
// refused whole (400) and changes nothing, its endpoints included; paths
// naming a node that is not the reporter's peer (or the reporter itself)
// are dropped, as an attacker would use them to paint another pair's
// path.
func TestPathReportRefusesBadInput(t *testing.T) {
	f := startPathsFleet(t, nil)
	if code := f.report(f.op, wire.Report{Paths: f.goodPaths()}); code != http.StatusNoContent {
		t.Fatalf("report paths: %d", code)
	}
	before := f.paths("op1")
	endpoints := f.c.storeNode(f.op).Endpoints
	bad := map[string]func(p *wire.NodePaths){
		"oversized list": func(p *wire.NodePaths) {
			for i := range wire.MaxPathsPerReport {
				p.Peers = append(p.Peers, wire.PeerPath{Peer: wire.NodeID(1000 + i), Kind: wire.PathKindNone})
			}
		},
		"peer twice":             func(p *wire.NodePaths) { p.Peers = append(p.Peers, p.Peers[0]) },
		"unknown kind":           func(p *wire.NodePaths) { p.Peers[0].Kind = "wormhole" },
		"direct without address": func(p *wire.NodePaths) { p.Peers[0].Addr = netip.AddrPort{} },
		"direct to port 0":       func(p *wire.NodePaths) { p.Peers[0].Addr = netip.MustParseAddrPort("198.51.100.7:0") },
		"relay with an address":  func(p *wire.NodePaths) { p.Peers[0].Kind = wire.PathKindRelay },
		"negative round trip":    func(p *wire.NodePaths) { p.Peers[0].RTTMicros = -1 },
		"negative handshake age": func(p *wire.NodePaths) { p.Peers[0].HandshakeAgeMillis = -5 },
		"note too long":          func(p *wire.NodePaths) { p.Peers[0].Note = strings.Repeat("x", wire.MaxPathNoteBytes+1) },
		"control characters":     func(p *wire.NodePaths) { p.Peers[0].Note = "ok\x1b[31m" },
		"relay name too long":    func(p *wire.NodePaths) { p.Relay = strings.Repeat("r", wire.MaxRelayNameBytes+1) },
		"relay on a direct path": func(p *wire.NodePaths) { p.Peers[0].Relay = "fra1" },
		"peer's relay too long": func(p *wire.NodePaths) {
			p.Peers[0] = wire.PeerPath{Peer: p.Peers[0].Peer, Kind: wire.PathKindRelay, Relay: strings.Repeat("r", wire.MaxRelayNameBytes+1)}
		},
		"reflexive port 0": func(p *wire.NodePaths) { p.Reflexive = netip.MustParseAddrPort("203.0.113.5:0") },
	}
	for name, spoil := range bad {
		t.Run(name, func(t *testing.T) {
			p := f.goodPaths()
			p.Peers[0].Addr = netip.MustParseAddrPort("198.51.100.99:9")
			spoil(p)
			rep := wire.Report{Paths: p, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4999")}}
			if code := f.report(f.op, rep); code != http.StatusBadRequest {
				t.Errorf("report: %d, want 400", code)
			}
			if after := f.paths("op1"); after.Peers[0].Addr != before.Peers[0].Addr || !after.ReportedAt.Equal(before.ReportedAt) {
				t.Errorf("the refused report changed the paths: %+v", after)
			}
			if got := f.c.storeNode(f.op).Endpoints; !slices.Equal(got, endpoints) {
				t.Errorf("the refused report changed the endpoints: %v", got)
			}
		})
	}

	t.Run("not a peer", func(t *testing.T) {
		p := f.goodPaths()
		p.Peers = append(p.Peers, wire.PeerPath{Peer: f.sID, Kind: wire.PathKindDirect, Addr: netip.MustParseAddrPort("192.0.2.1:1")},
			wire.PeerPath{Peer: f.opID, Kind: wire.PathKindRelay}, wire.PeerPath{Peer: 99999, Kind: wire.PathKindNone})
		if code := f.report(f.op, wire.Report{Paths: p}); code != http.StatusNoContent {
			t.Fatalf("report: %d", code)
		}
		after := f.paths("op1")
		if len(after.Peers) != 1 || after.Peers[0].Name != "cam1" {
			t.Errorf("paths kept: %+v, want cam1's only", after.Peers)
		}
		if e, _ := f.c.srv.paths.get(f.c.storeNode(f.op).ID); len(e.rep.Peers) != 1 {
			t.Errorf("the coordinator kept %d entries, want the peer's only", len(e.rep.Peers))
		}
	})

	t.Run("sensor speaks of the pair", func(t *testing.T) {
		// sensor1 is nobody's peer: everything it says of cam1 is dropped.
		p := f.goodPaths()
		if code := f.report(f.sensor, wire.Report{Paths: p}); code != http.StatusNoContent {
			t.Fatalf("report: %d", code)
		}
		if got := f.paths("sensor1"); len(got.Peers) != 0 {
			t.Errorf("sensor1's paths: %+v, want none", got.Peers)
		}
	})
}

// TestPathReportsBounded: the table of reports never holds more than its
// bound; the oldest report goes first, and a removed node's goes at once.
func TestPathReportsBounded(t *testing.T) {
	r := newPathReports(2)
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	r.put(1, wire.NodePaths{}, now)
	r.put(2, wire.NodePaths{}, now.Add(1))
	r.put(3, wire.NodePaths{}, now.Add(2))
	if _, ok := r.get(1); ok || len(r.byNode) != 2 {
		t.Errorf("after 3 puts into 2: %v", r.byNode)
	}
	r.put(2, wire.NodePaths{PathSummary: wire.PathSummary{RelayTxBytes: 1}}, now.Add(3))
	if _, ok := r.get(3); !ok || len(r.byNode) != 2 {
		t.Errorf("a node's new report pushed another out: %v", r.byNode)
	}

	f := startPathsFleet(t, nil)
	f.report(f.op, wire.Report{Paths: f.goodPaths()})
	if code := f.c.admin("DELETE", wire.PathAdminNodes+"/op1", nil, nil); code != http.StatusNoContent {
		t.Fatalf("remove op1: %d", code)
	}
	if len(f.c.srv.paths.byNode) != 0 {
		t.Errorf("a removed node's report stayed")
	}
}

// TestMetricsCountBytesPerPath: /metrics (on the metrics listener) sums
// the bytes per path type of every node's latest report, and counts the
// peer paths by kind; a node's second report replaces its first.
func TestMetricsCountBytesPerPath(t *testing.T) {
	f := startPathsFleet(t, nil)
	f.report(f.op, wire.Report{Paths: f.goodPaths()})
	camPaths := &wire.NodePaths{Peers: []wire.PeerPath{{Peer: f.opID, Kind: wire.PathKindRelay, Note: "no direct path yet"}},
		PathSummary: wire.PathSummary{DirectTxBytes: 1, DirectRxBytes: 2, RelayTxBytes: 300, RelayRxBytes: 400}}
	f.report(f.cam, wire.Report{Paths: camPaths})
	camPaths.RelayTxBytes = 500
	f.report(f.cam, wire.Report{Paths: camPaths})

	_, body := scrapeMetrics(t, f.c)
	for _, want := range []string{
		`ward_path_bytes_total{dir="tx",path="direct"} 1001`,
		`ward_path_bytes_total{dir="rx",path="direct"} 2002`,
		`ward_path_bytes_total{dir="tx",path="relay"} 530`,
		`ward_path_bytes_total{dir="rx",path="relay"} 440`,
		`ward_peer_paths{path="direct"} 1`,
		`ward_peer_paths{path="relay"} 1`,
		`ward_peer_paths{path="none"} 0`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}

// scrapeMetrics serves the coordinator's metrics on their own loopback
// listener (ServeMetrics) and returns the status and body of GET /metrics;
// ServeMetrics must end without an error once its context is done.
func scrapeMetrics(t *testing.T, c *testCoord) (int, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.srv.ServeMetrics(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ServeMetrics: %v", err)
	}
	return resp.StatusCode, string(b)
}

// TestDevicePageShowsPeerPaths: the device page shows, per peer, the path
// (direct address or relay name), why it is relayed, the last handshake
// and the latency, and the node's reflexive address, to every role that
// may read the device page (an auditor included), and to nobody else.
func TestDevicePageShowsPeerPaths(t *testing.T) {
	f := startPathsFleet(t, func(cfg *Config) {
		cfg.AdminRoles = map[string]admin.Role{"carol@example.com": admin.RoleOwner, "bob@example.com": admin.RoleAuditor}
	})
	f.report(f.op, wire.Report{Paths: f.goodPaths()})
	f.report(f.cam, wire.Report{Paths: &wire.NodePaths{PathSummary: wire.PathSummary{Relay: "fra1", RelayConnected: true},
		Peers: []wire.PeerPath{{Peer: f.opID, Kind: wire.PathKindRelay, Relay: "ams1", Note: "peer behind a symmetric NAT", HandshakeAgeMillis: 2000}}}})

	for _, who := range []devidptest.Credentials{carol, {Username: "bob", Password: "bob"}} {
		b, _ := f.c.uiLogin(who)
		op := uiBody(t, f.c, b, "/ui/devices/op1")
		for _, want := range []string{"<h2>Paths</h2>", "direct 198.51.100.7:41641", "1.5ms", "4s ago", "203.0.113.5:41641", "coordinator (connected)"} {
			if !strings.Contains(op, want) {
				t.Errorf("%s: op1's page lacks %q", who.Username, want)
			}
		}
		cam := uiBody(t, f.c, b, "/ui/devices/cam1")
		// The peer's home relay (as cam1 reported it), not cam1's own.
		for _, want := range []string{"relay ams1", "fra1 (connected)", "peer behind a symmetric NAT", "2s ago"} {
			if !strings.Contains(cam, want) {
				t.Errorf("%s: cam1's page lacks %q", who.Username, want)
			}
		}
		if s := uiBody(t, f.c, b, "/ui/devices/sensor1"); !strings.Contains(s, `id="paths-none"`) {
			t.Errorf("%s: sensor1's page does not say it sent no paths", who.Username)
		}
	}
	b, _ := f.c.uiLogin(devidptest.Credentials{Username: "alice", Password: "alice", OTP: devidp.DefaultOTP})
	if resp := f.c.uiGet(b, "/ui/devices/op1"); !refused(resp) {
		t.Errorf("a person without a role read the device page: %d", resp.StatusCode)
	}
}

// uiBody GETs path with b's session and returns the body of a 200.
func uiBody(t *testing.T, c *testCoord, b *devidptest.Browser, path string) string {
	t.Helper()
	resp, err := b.Client.Get(c.http.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %.300s", path, resp.StatusCode, body)
	}
	return string(body)
}

// homeOf returns the home relay the coordinator's map gives node id.
func (f *pathsFleet) homeOf(id wire.NodeID) string {
	nm := f.c.srv.nm
	nm.mu.Lock()
	defer nm.mu.Unlock()
	return nm.nodes[store.NodeID(id)].HomeRelay
}

// TestHomeRelayReportRefusesBadName calls the report API directly as a
// modified client would: a home relay that is not a relay name is refused
// with 400 and changes nothing (endpoints included); a well-formed name
// the maps do not list is ignored (a relay removed since the node's map);
// the coordinator's own relay is recorded for the node's peers' maps.
func TestHomeRelayReportRefusesBadName(t *testing.T) {
	f := startPathsFleet(t, nil)
	endpoints := f.c.storeNode(f.op).Endpoints
	for _, name := range []string{"Bad Name", "x/../y", strings.Repeat("r", 64), "-lead"} {
		code := f.report(f.op, wire.Report{HomeRelay: name, Endpoints: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4000")}})
		if code != http.StatusBadRequest {
			t.Errorf("home relay %q: %d, want 400", name, code)
		}
	}
	if got := f.c.storeNode(f.op).Endpoints; !slices.Equal(got, endpoints) || f.homeOf(f.opID) != "" {
		t.Fatalf("a refused report changed the node: endpoints %v, home %q", got, f.homeOf(f.opID))
	}
	if code := f.report(f.op, wire.Report{HomeRelay: "nyc9"}); code != http.StatusNoContent || f.homeOf(f.opID) != "" {
		t.Errorf("an unlisted relay: %d, home %q; want 204 and no home", code, f.homeOf(f.opID))
	}
	if code := f.report(f.op, wire.Report{HomeRelay: "coordinator"}); code != http.StatusNoContent || f.homeOf(f.opID) != "coordinator" {
		t.Errorf("the coordinator's relay: %d, home %q", code, f.homeOf(f.opID))
	}
}
