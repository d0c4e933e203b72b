package web

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/wire"
)

// TestPathsOfShowsEachPeer: the device page's Paths table names each
// peer's path (direct address or relay name), why it is relayed, the
// last handshake and the latency, and the node's reflexive address and
// relay; a node without a report has no table.
func TestPathsOfShowsEachPeer(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p := &wire.AdminPaths{ReportedAt: now.Add(-5 * time.Second), PathSummary: wire.PathSummary{Reflexive: netip.MustParseAddrPort("203.0.113.5:41641"),
		Relay: "fra1", RelayConnected: true, DirectTxBytes: 1500, DirectRxBytes: 12, RelayTxBytes: 3_400_000},
		Peers: []wire.AdminPeerPath{
			{Name: "cam1", Kind: wire.PathKindDirect, Addr: netip.MustParseAddrPort("127.0.0.1:5000"), RTTMicros: 180, LastHandshake: now.Add(-12 * time.Second)},
			{Name: "cam2", Kind: wire.PathKindRelay, Relay: "fra1", Note: "peer behind a symmetric NAT", LastHandshake: now.Add(-3 * time.Hour)},
			{Name: "cam3", Kind: wire.PathKindDirect, Addr: netip.MustParseAddrPort("192.0.2.1:9"), RTTMicros: 23_456},
			{Name: "cam4", Kind: wire.PathKindNone},
		}}
	want := &pathsView{Reported: "5s ago", Reflexive: "203.0.113.5:41641", Relay: "fra1 (connected)",
		Direct: "1.5 KB sent, 12 B received", Relayed: "3.4 MB sent, 0 B received",
		Rows: []pathRow{
			{Peer: "cam1", Path: "direct 127.0.0.1:5000", Class: "ok", Handshake: "12s ago", Latency: "180µs"},
			{Peer: "cam2", Path: "relay fra1", Class: "warn", Why: "peer behind a symmetric NAT", Handshake: "3h ago", Latency: "—"},
			{Peer: "cam3", Path: "direct 192.0.2.1:9", Class: "ok", Handshake: "never", Latency: "23.5ms"},
			{Peer: "cam4", Path: "none", Class: "bad", Handshake: "never", Latency: "—"},
		}}
	if diff := cmp.Diff(want, pathsOf(p, now)); diff != "" {
		t.Errorf("pathsOf (-want +got):\n%s", diff)
	}
	if v := pathsOf(nil, now); v != nil {
		t.Errorf("pathsOf(nil) = %+v, want nil", v)
	}
}
