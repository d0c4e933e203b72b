package node

import (
	"net/netip"
	"slices"
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

// TestApplyFilterSrcFrom: a delta's rules take their sources from the
// rules of the filter held that FilterSrcFrom names; a reference beyond
// it, one beside the rule's own sources, a count that does not match and
// one in a full map are refused.
func TestApplyFilterSrcFrom(t *testing.T) {
	ops := []netip.Prefix{netip.MustParsePrefix("100.64.0.9/32")}
	dst := func(ports ...uint16) []filter.DstNet {
		d := filter.DstNet{Net: netip.MustParsePrefix("100.64.0.1/32")}
		for _, p := range ports {
			d.Ports = append(d.Ports, filter.PortRange{First: p, Last: p})
		}
		return []filter.DstNet{d}
	}
	full := wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "self", IPv4: netip.MustParseAddr("100.64.0.1")},
		Filter: []filter.Rule{{Src: ops, Dst: dst(22)}}}
	nm, err := emptyNetmap().apply(full)
	if err != nil {
		t.Fatal(err)
	}
	next, err := nm.apply(wire.MapResponse{Version: 2, FilterChanged: true, FilterSrcFrom: []int{0, -1},
		Filter: []filter.Rule{{Dst: dst(22, 80)}, {Src: []netip.Prefix{netip.MustParsePrefix("100.64.0.7/32")}, Dst: dst(554)}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(next.rules) != 2 || !slices.Equal(next.rules[0].Src, ops) || len(next.rules[0].Dst[0].Ports) != 2 || next.rules[1].Src[0].Addr().String() != "100.64.0.7" {
		t.Errorf("rules after the delta: %+v", next.rules)
	}
	for name, m := range map[string]wire.MapResponse{
		"beyond":  {Version: 3, FilterChanged: true, FilterSrcFrom: []int{1}, Filter: []filter.Rule{{Dst: dst(22)}}},
		"both":    {Version: 3, FilterChanged: true, FilterSrcFrom: []int{0}, Filter: []filter.Rule{{Src: ops, Dst: dst(22)}}},
		"count":   {Version: 3, FilterChanged: true, FilterSrcFrom: []int{0, 0}, Filter: []filter.Rule{{Dst: dst(22)}}},
		"full":    {Version: 3, Full: true, Self: full.Self, FilterSrcFrom: []int{0}, Filter: []filter.Rule{{Dst: dst(22)}}},
		"no srcs": {Version: 3, FilterChanged: true, FilterSrcFrom: []int{-1}, Filter: []filter.Rule{{Dst: dst(22)}}},
	} {
		if _, err := nm.apply(m); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
