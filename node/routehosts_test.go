package node

import (
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestResolveFindsRoutedDevicesByHostsName: a router peer's RouteHosts
// make each routed device's policy name resolve, alone and under the
// fleet domain (any case, a trailing dot), to the device's address and
// the router; a name whose address is outside the router's routes, or
// that is no DNS label, resolves to nothing; a peer's own name wins over
// a device's; the overlay resolver's LookupFQDN answers the FQDN with the
// address in its family's slot, and nothing once the router's key
// expired.
func TestResolveFindsRoutedDevicesByHostsName(t *testing.T) {
	a := newTestNode(t, 1, "op", nil)
	gw := newTestNode(t, 2, "gw", nil).peerOf(time.Time{})
	gw.FQDN = "gw.ward.internal"
	gw.Routes = []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24"), netip.MustParsePrefix("fd00:10::/64")}
	plc, hmi := netip.MustParseAddr("192.168.10.6"), netip.MustParseAddr("fd00:10::7")
	gw.RouteHosts = []wire.RouteHost{
		{Name: "plc-1", Addr: plc}, {Name: "hmi", Addr: hmi},
		{Name: "far", Addr: netip.MustParseAddr("10.9.9.9")},          // outside gw's routes
		{Name: "Bad_Name", Addr: netip.MustParseAddr("192.168.10.9")}, // no DNS label
		{Name: "cam", Addr: netip.MustParseAddr("192.168.10.10")},     // a peer's name
	}
	cam := newTestNode(t, 3, "cam", nil).peerOf(time.Time{})
	cam.FQDN = "cam.ward.internal"
	self := a.self
	self.FQDN = "op.ward.internal"
	if err := a.e.Apply(wire.MapResponse{Version: 5, Full: true, DNSDomain: "ward.internal", Self: &self, Peers: []wire.Node{gw, cam}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		addr netip.Addr
		via  wire.NodeID
	}{
		{"plc-1", plc, gw.ID},
		{"PLC-1.ward.internal.", plc, gw.ID},
		{"hmi.ward.internal", hmi, gw.ID},
		{"192.168.10.6", plc, gw.ID},
		{"cam", cam.IPv4, cam.ID},
		{"cam.ward.internal", cam.IPv4, cam.ID},
		{"far", netip.Addr{}, 0},
		{"bad_name", netip.Addr{}, 0},
		{"plc-2", netip.Addr{}, 0},
		{"plc-1.other.example", netip.Addr{}, 0},
	} {
		addr, p, err := a.e.Resolve(tc.name)
		if addr != tc.addr || p.ID != tc.via || (err == nil) != tc.addr.IsValid() {
			t.Errorf("Resolve(%q) = %v via %d, %v; want %v via %d", tc.name, addr, p.ID, err, tc.addr, tc.via)
		}
	}
	for _, tc := range []struct {
		name   string
		v4, v6 netip.Addr
	}{
		{"plc-1.ward.internal", plc, netip.Addr{}},
		{"hmi.ward.internal.", netip.Addr{}, hmi},
		{"plc-1", netip.Addr{}, netip.Addr{}}, // short names are the search list's
		{"far.ward.internal", netip.Addr{}, netip.Addr{}},
	} {
		v4, v6, ok := a.e.LookupFQDN(tc.name)
		if v4 != tc.v4 || v6 != tc.v6 || ok != (tc.v4.IsValid() || tc.v6.IsValid()) {
			t.Errorf("LookupFQDN(%q) = %v %v %v; want %v %v", tc.name, v4, v6, ok, tc.v4, tc.v6)
		}
	}
	gw.KeyExpiry = time.Now().Add(-time.Minute)
	if err := a.e.Apply(wire.MapResponse{Version: 6, PeersChanged: []wire.Node{gw}}); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := a.e.LookupFQDN("plc-1.ward.internal"); ok {
		t.Error("LookupFQDN answers for a device behind a router whose key expired")
	}
	if _, _, err := a.e.Resolve("plc-1"); err == nil {
		t.Error("Resolve finds a device behind a router whose key expired")
	}
}
