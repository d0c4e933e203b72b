package node

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/node/control/controltest"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// TestPathReportDue: paths go to the coordinator first, when a peer's
// kind or direct address changes, at its first handshake and first round
// trip, when a peer comes or goes, and every pathRefreshEvery; a changed
// round trip, note or handshake age alone waits for the refresh.
func TestPathReportDue(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	base := wire.NodePaths{Peers: []wire.PeerPath{{Peer: 1, Kind: wire.PathKindDirect, Addr: a, RTTMicros: 100, HandshakeAgeMillis: 10},
		{Peer: 2, Kind: wire.PathKindRelay}}}
	with := func(f func(p []wire.PeerPath) []wire.PeerPath) wire.NodePaths {
		c := base
		c.Peers = f(append([]wire.PeerPath(nil), base.Peers...))
		return c
	}
	tests := []struct {
		name string
		cur  wire.NodePaths
		at   time.Duration
		want bool
	}{
		{"nothing changed", base, time.Second, false},
		{"refresh", base, pathRefreshEvery, true},
		{"round trip, note and age", with(func(p []wire.PeerPath) []wire.PeerPath {
			p[0].RTTMicros, p[0].Note, p[0].HandshakeAgeMillis = 900, "idle", 5000
			return p
		}), time.Second, false},
		{"kind", with(func(p []wire.PeerPath) []wire.PeerPath {
			p[0].Kind, p[0].Addr = wire.PathKindRelay, netip.AddrPort{}
			return p
		}), time.Second, true},
		{"address", with(func(p []wire.PeerPath) []wire.PeerPath {
			p[0].Addr = netip.MustParseAddrPort("127.0.0.1:1001")
			return p
		}), time.Second, true},
		{"first handshake", with(func(p []wire.PeerPath) []wire.PeerPath { p[1].HandshakeAgeMillis = 1; return p }), time.Second, true},
		{"first round trip", with(func(p []wire.PeerPath) []wire.PeerPath {
			p[1].Kind, p[1].Addr, p[1].RTTMicros = wire.PathKindDirect, a, 0
			return p
		}), time.Second, true},
		{"new peer", with(func(p []wire.PeerPath) []wire.PeerPath {
			return append(p, wire.PeerPath{Peer: 3, Kind: wire.PathKindNone})
		}), time.Second, true},
		{"peer replaced", with(func(p []wire.PeerPath) []wire.PeerPath { p[1].Peer = 4; return p }), time.Second, true},
		{"peer gone", with(func(p []wire.PeerPath) []wire.PeerPath { return p[:1] }), time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r pathReporter
			if !r.due(base, t0) {
				t.Fatal("the first report is not due")
			}
			r.wasSent(base, t0)
			if got := r.due(tt.cur, t0.Add(tt.at)); got != tt.want {
				t.Errorf("due = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNodePathsBounded: a path report holds at most wire.MaxPathsPerReport
// peers, those with a path first; notes are cut on a rune boundary, a
// handshake becomes its age, and a direct path without an address is
// none: the report passes the coordinator's checks.
func TestNodePathsBounded(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	st := localapi.Status{Paths: localapi.Paths{Relay: "coordinator", RelayConnected: true, DirectTxBytes: 7}}
	for i := range wire.MaxPathsPerReport + 10 {
		st.Peers = append(st.Peers, localapi.Peer{ID: wire.NodeID(i + 1), Name: fmt.Sprintf("n%03d", i), Path: wire.PathKindNone})
	}
	st.Peers = append(st.Peers,
		localapi.Peer{ID: 1000, Path: wire.PathKindDirect, Endpoint: netip.MustParseAddrPort("127.0.0.1:9"), PathRTT: 1500 * time.Microsecond, LastHandshake: now.Add(-3 * time.Second)},
		localapi.Peer{ID: 1001, Path: wire.PathKindRelay, Relay: "ams1", PathNote: strings.Repeat("é", wire.MaxPathNoteBytes)},
		localapi.Peer{ID: 1002, Path: wire.PathKindDirect})
	p := nodePaths(st, now)
	if len(p.Peers) != wire.MaxPathsPerReport {
		t.Fatalf("%d peers, want %d", len(p.Peers), wire.MaxPathsPerReport)
	}
	d, r, n := p.Peers[0], p.Peers[1], p.Peers[2]
	if d.Peer != 1000 || d.Kind != wire.PathKindDirect || d.RTTMicros != 1500 || d.HandshakeAgeMillis != 3000 {
		t.Errorf("direct peer: %+v", d)
	}
	if r.Peer != 1001 || r.Relay != "ams1" || len(r.Note) > wire.MaxPathNoteBytes || !strings.HasPrefix(strings.Repeat("é", 100), r.Note) {
		t.Errorf("relayed peer: %+v (note %d bytes)", r, len(r.Note))
	}
	if n.Peer != 1002 || n.Kind != wire.PathKindNone {
		t.Errorf("direct peer without an address: %+v, want none", n)
	}
	if p.Relay != "coordinator" || !p.RelayConnected || p.DirectTxBytes != 7 {
		t.Errorf("node's paths: %+v", p)
	}
}

// TestPathsSentOnlyToCoordinatorsThatSpeakThem: a node reports its paths
// (here: a peer without a path yet) to a coordinator of the current
// protocol, and never to one older than wire.FeaturePathReports, which
// would refuse the whole report.
func TestPathsSentOnlyToCoordinatorsThatSpeakThem(t *testing.T) {
	for _, v := range []int{0, int(wire.FeaturePathReports) - 1} {
		t.Run(fmt.Sprintf("version %d", v), func(t *testing.T) {
			t.Parallel()
			srv := controltest.New(t)
			srv.Version = v
			a, _ := runAgent(t, srv, AgentConfig{StateDir: t.TempDir(), AuthKey: srv.AuthKey})
			self := agentSelf(t, srv, a, 1)
			peer := newTestNode(t, 2, "cam", nil).peerOf(time.Time{})
			srv.Publish(wire.MapResponse{Version: 1, Full: true, Self: &self, Peers: []wire.Node{peer}})
			reportedEndpoints(t, srv)
			if v != 0 {
				time.Sleep(2*pathCheckEvery + time.Second)
				if n, got := srv.PathsRefused(), pathsIn(srv.Reports()); n != 0 || got != nil {
					t.Errorf("paths sent to a protocol %d coordinator: %d refused, %+v accepted", v, n, got)
				}
				return
			}
			eventuallyWithin(t, 3*pathCheckEvery, "a path report", func() bool {
				p := pathsIn(srv.Reports())
				return p != nil && len(p.Peers) == 1 && p.Peers[0].Peer == peer.ID
			})
		})
	}
}

// pathsIn returns the last report's paths among reps; nil when none
// carried paths.
func pathsIn(reps []wire.Report) *wire.NodePaths {
	var p *wire.NodePaths
	for _, r := range reps {
		if r.Paths != nil {
			p = r.Paths
		}
	}
	return p
}
