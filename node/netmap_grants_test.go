package node

import (
	"net/netip"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// TestApplyPeersGrants: a delta's PeersGrants replace the grants of the
// peers the node holds and nothing else of them; a grant the node holds
// no peer for is ignored, and reversed ports are refused as in a record.
func TestApplyPeersGrants(t *testing.T) {
	key := wire.WGPublic{1}
	full := wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "self", IPv4: netip.MustParseAddr("100.64.0.1")},
		Peers: []wire.Node{{ID: 2, Name: "cam", WGKey: key, IPv4: netip.MustParseAddr("100.64.0.2")}}}
	nm, err := emptyNetmap().apply(full)
	if err != nil {
		t.Fatal(err)
	}
	ssh := []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 22, Last: 22}}}}
	next, err := nm.apply(wire.MapResponse{Version: 2, PeersGrants: []wire.PeerGrants{{ID: 2, Grants: ssh}, {ID: 9, Grants: ssh}}})
	if err != nil {
		t.Fatal(err)
	}
	p := next.peers[2]
	if p.Name != "cam" || p.WGKey != key || !filter.Allows(p.Grants, filter.ProtoTCP, 22) || filter.Allows(p.Grants, filter.ProtoTCP, 80) {
		t.Errorf("peer after grants: %+v; want cam with tcp 22 only", p)
	}
	if _, ok := next.peers[9]; ok || len(next.peers) != 1 {
		t.Errorf("peers after grants: %v; want cam alone", next.peers)
	}
	if nm.peers[2].Grants != nil {
		t.Error("apply changed the view it was given")
	}
	bad := []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: 80, Last: 22}}}}
	if _, err := nm.apply(wire.MapResponse{Version: 3, PeersGrants: []wire.PeerGrants{{ID: 2, Grants: bad}}}); err == nil {
		t.Error("reversed port range in grants accepted")
	}
}
