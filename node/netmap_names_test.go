package node

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/wardnet/ward/wire"
)

// TestResolveFindsPeersByFQDN pins issue 14's name resolution on a node:
// a peer is found by its short name and by its FQDN from the map (any
// case, a trailing dot); a name under the fleet domain no peer has is not
// found; a map from a coordinator before protocol 15 (no FQDN) still
// resolves short names; a delta keeps the domain and the renamed peer is
// found by its new names only.
func TestResolveFindsPeersByFQDN(t *testing.T) {
	key := func(b byte) wire.WGPublic { var k wire.WGPublic; k[0] = b; return k }
	self := wire.Node{ID: 1, Name: "op", FQDN: "op.ward.internal", IPv4: netip.MustParseAddr("100.64.0.1"), WGKey: key(1)}
	cam := wire.Node{ID: 2, Name: "camera-3", FQDN: "camera-3.ward.internal", IPv4: netip.MustParseAddr("100.64.0.2"), WGKey: key(2)}
	nm, err := emptyNetmap().apply(wire.MapResponse{Version: 1, Full: true, DNSDomain: "ward.internal", Self: &self, Peers: []wire.Node{cam}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"camera-3", true},
		{"camera-3.ward.internal", true},
		{"Camera-3.Ward.Internal.", true},
		{"100.64.0.2", true},
		{"camera-4.ward.internal", false},
		{"camera-3.other.example", false},
		{"ward.internal", false},
	} {
		if p, ok := nm.lookup(tc.name); ok != tc.ok || ok && p.ID != 2 {
			t.Errorf("lookup(%q) = %d, %v; want found %v", tc.name, p.ID, ok, tc.ok)
		}
	}
	if nm.domain != "ward.internal" {
		t.Errorf("domain = %q", nm.domain)
	}

	renamed := cam
	renamed.Name, renamed.FQDN = "camera-9", "camera-9.ward.internal"
	nm, err = nm.apply(wire.MapResponse{Version: 2, PeersChanged: []wire.Node{renamed}})
	if err != nil {
		t.Fatal(err)
	}
	if nm.domain != "ward.internal" {
		t.Errorf("a delta lost the domain: %q", nm.domain)
	}
	if _, ok := nm.lookup("camera-3.ward.internal"); ok {
		t.Error("the old FQDN still resolves after a rename")
	}
	if _, ok := nm.lookup("camera-9.ward.internal"); !ok {
		t.Error("the new FQDN does not resolve after a rename")
	}

	old := cam
	old.FQDN = ""
	oldSelf := self
	oldSelf.FQDN = ""
	nm, err = emptyNetmap().apply(wire.MapResponse{Version: 1, Full: true, Self: &oldSelf, Peers: []wire.Node{old}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := nm.lookup("camera-3"); !ok {
		t.Error("a protocol-14 map: the short name does not resolve")
	}
}

// TestEngineLookupFQDNForResolver pins what the overlay resolver asks an
// Engine: self and active peers by FQDN (any case, a trailing dot), not
// by short name, not a peer whose key expired; the domain from the map.
func TestEngineLookupFQDNForResolver(t *testing.T) {
	a := newTestNode(t, 1, "op", nil)
	cam := newTestNode(t, 2, "cam", nil).peerOf(time.Time{})
	cam.FQDN = "cam.ward.internal"
	old := newTestNode(t, 3, "old", nil).peerOf(time.Now().Add(-time.Minute))
	old.FQDN = "old.ward.internal"
	self := a.self
	self.FQDN = "op.ward.internal"
	if err := a.e.Apply(wire.MapResponse{Version: 5, Full: true, DNSDomain: "ward.internal", Self: &self, Peers: []wire.Node{cam, old}}); err != nil {
		t.Fatal(err)
	}
	if d := a.e.FleetDomain(); d != "ward.internal" {
		t.Errorf("FleetDomain = %q", d)
	}
	for _, tc := range []struct {
		name string
		want netip.Addr
	}{
		{"cam.ward.internal", cam.IPv4},
		{"CAM.ward.internal.", cam.IPv4},
		{"op.ward.internal", self.IPv4},
		{"cam", netip.Addr{}},
		{"old.ward.internal", netip.Addr{}},
		{"nope.ward.internal", netip.Addr{}},
	} {
		v4, v6, ok := a.e.LookupFQDN(tc.name)
		if ok != tc.want.IsValid() || v4 != tc.want || ok && !v6.IsValid() {
			t.Errorf("LookupFQDN(%q) = %v %v %v; want %v", tc.name, v4, v6, ok, tc.want)
		}
	}
}

// TestMapWithBadDNSDomainRefused: the fleet domain goes into the
// system's resolver configuration (resolv.conf, systemd-resolved), so a
// map whose domain is no DNS name (a line break that would add a
// nameserver line, a space, a root ".") is refused and the node keeps
// its last good map.
func TestMapWithBadDNSDomainRefused(t *testing.T) {
	self := wire.Node{ID: 1, Name: "op", IPv4: netip.MustParseAddr("100.64.0.1")}
	self.WGKey[0] = 1
	good, err := emptyNetmap().apply(wire.MapResponse{Version: 1, Full: true, DNSDomain: "ward.internal", Self: &self})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"ward.internal\nnameserver 192.0.2.66", "ward internal", ".", "ward..internal"} {
		nm, err := good.apply(wire.MapResponse{Version: 2, Full: true, DNSDomain: d, Self: &self})
		if !errors.Is(err, ErrBadMap) {
			t.Errorf("a map with domain %q: %v (domain %q); want ErrBadMap", d, err, domainOf(nm))
		}
	}
	if good.domain != "ward.internal" {
		t.Errorf("the last good map's domain = %q", good.domain)
	}
}

func domainOf(nm *netmap) string {
	if nm == nil {
		return ""
	}
	return nm.domain
}
