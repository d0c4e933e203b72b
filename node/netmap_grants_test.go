package node

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
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

// TestApplyFilterSrcDelta: a rule's sources as a delta against a list
// the node holds are rebuilt exactly and compiled into the matcher; a
// delta an attacker (or a coordinator out of step) sends against a base
// the node does not hold, or that claims a list it does not make, is
// refused whole, and the node keeps enforcing the filter it held: nothing
// the delta would add is accepted.
func TestApplyFilterSrcDelta(t *testing.T) {
	host := func(s string) netip.Prefix { return netip.PrefixFrom(netip.MustParseAddr(s), 32) }
	sensors := []netip.Prefix{host("100.64.0.2"), host("100.64.0.3")}
	mqtt := []filter.DstNet{{Net: netip.MustParsePrefix("100.64.0.1/32"), Ports: []filter.PortRange{{First: 8883, Last: 8883}}}}
	self := netip.MustParseAddr("100.64.0.1")
	full := wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw", IPv4: self},
		Filter: []filter.Rule{{Src: sensors, Dst: mqtt}}}
	nm, err := emptyNetmap().apply(full)
	if err != nil {
		t.Fatal(err)
	}
	accepts := func(nm *netmap, src string) bool {
		ok, _ := nm.matcher.Match(netip.MustParseAddr(src), self, filter.ProtoTCP, 8883)
		return ok
	}
	joined := []netip.Prefix{host("100.64.0.2"), host("100.64.0.3"), host("100.64.0.4")}
	next, err := nm.apply(wire.MapResponse{Version: 2, FilterChanged: true, FilterSrcFrom: []int{0}, Filter: []filter.Rule{{Dst: mqtt}},
		FilterSrcDelta: []wire.SrcDelta{{Rule: 0, Add: []netip.Prefix{host("100.64.0.4")}, Sum: wire.FormatSrcSum(filter.SrcSum(joined))}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(next.rules[0].Src, joined) || !accepts(next, "100.64.0.4") || !accepts(next, "100.64.0.2") {
		t.Fatalf("after the join: %v", next.rules)
	}
	wide := []netip.Prefix{host("100.64.0.2"), host("100.64.0.3"), host("100.64.0.66")}
	for name, m := range map[string]wire.MapResponse{
		"base not held": {Version: 3, FilterChanged: true, FilterSrcFrom: []int{3}, Filter: []filter.Rule{{Dst: mqtt}},
			FilterSrcDelta: []wire.SrcDelta{{Rule: 0, Add: []netip.Prefix{host("100.64.0.66")}, Sum: wire.FormatSrcSum(filter.SrcSum([]netip.Prefix{host("100.64.0.66")}))}}},
		"made against another list": {Version: 3, FilterChanged: true, FilterSrcFrom: []int{0}, Filter: []filter.Rule{{Dst: mqtt}},
			// made against the list before the join: its sum is of {2, 3, 66}
			FilterSrcDelta: []wire.SrcDelta{{Rule: 0, Add: []netip.Prefix{host("100.64.0.66")}, Sum: wire.FormatSrcSum(filter.SrcSum(wide))}}},
		"sum of another list": {Version: 3, FilterChanged: true, FilterSrcFrom: []int{0}, Filter: []filter.Rule{{Dst: mqtt}},
			FilterSrcDelta: []wire.SrcDelta{{Rule: 0, Add: []netip.Prefix{host("100.64.0.66")}, Sum: wire.FormatSrcSum(filter.SrcSum(joined))}}},
		"without a reference": {Version: 3, FilterChanged: true, Filter: []filter.Rule{{Src: []netip.Prefix{host("100.64.0.9")}, Dst: mqtt}},
			FilterSrcDelta: []wire.SrcDelta{{Rule: 0, Add: []netip.Prefix{host("100.64.0.66")}, Sum: wire.FormatSrcSum(filter.SrcSum([]netip.Prefix{host("100.64.0.9"), host("100.64.0.66")}))}}},
	} {
		if got, err := next.apply(m); err == nil {
			t.Errorf("%s: accepted: %v", name, got.rules)
		}
		if accepts(next, "100.64.0.66") || !slices.Equal(next.rules[0].Src, joined) {
			t.Errorf("%s: the held filter changed", name)
		}
	}
}

// TestApplyGrantsSwap: a swap gives every held peer whose grants equal
// its From its To, before the message's records; peers with other
// grants, or none known, keep theirs.
func TestApplyGrantsSwap(t *testing.T) {
	tcp := func(p uint16) []filter.PortGrant {
		return []filter.PortGrant{{Proto: filter.ProtoTCP, Ports: []filter.PortRange{{First: p, Last: p}}}}
	}
	peer := func(id wire.NodeID, g []filter.PortGrant) wire.Node {
		return wire.Node{ID: id, Name: fmt.Sprint("p", id), WGKey: wire.WGPublic{byte(id)}, IPv4: netip.AddrFrom4([4]byte{100, 64, 0, byte(id)}), Grants: g}
	}
	full := wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "s", IPv4: netip.MustParseAddr("100.64.0.1")},
		Peers: []wire.Node{peer(2, tcp(8883)), peer(3, tcp(8883)), peer(4, tcp(22)), peer(5, nil), peer(6, tcp(8883))}}
	nm, err := emptyNetmap().apply(full)
	if err != nil {
		t.Fatal(err)
	}
	next, err := nm.apply(wire.MapResponse{Version: 2, PeersGrantsSwap: []wire.GrantsSwap{{From: tcp(8883), To: tcp(8884)}, {From: tcp(8884), To: tcp(1)}},
		PeersChanged: []wire.Node{peer(6, tcp(443))}})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[wire.NodeID][]filter.PortGrant{2: tcp(8884), 3: tcp(8884), 4: tcp(22), 5: nil, 6: tcp(443)} {
		if got := next.peers[id].Grants; !reflect.DeepEqual(got, want) {
			t.Errorf("peer %d: grants %v; want %v", id, got, want)
		}
	}
	if !reflect.DeepEqual(nm.peers[2].Grants, tcp(8883)) {
		t.Error("apply changed the view it was given")
	}
}

// TestApplyFilterUpdatesMatchCompile: a gateway's filter through joins
// (sources added by delta, the matcher updated rather than compiled), a
// leave (a source removed) and a full map matches at every step as the
// filter compiled from scratch does.
func TestApplyFilterUpdatesMatchCompile(t *testing.T) {
	host := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)}), 32)
	}
	self := netip.MustParseAddr("100.64.0.1")
	dst := func(port uint16) []filter.DstNet {
		return []filter.DstNet{{Net: netip.PrefixFrom(self, 32), Ports: []filter.PortRange{{First: port, Last: port}}}}
	}
	deny := filter.Rule{Src: []netip.Prefix{host(7)}, Dst: dst(8883), Deny: true}
	rules := []filter.Rule{deny, {Src: []netip.Prefix{host(2)}, Dst: dst(8883), Protos: []filter.Proto{filter.ProtoTCP}},
		{Src: []netip.Prefix{host(3)}, Dst: dst(554), Protos: []filter.Proto{filter.ProtoTCP}}}
	nm, err := emptyNetmap().apply(wire.MapResponse{Version: 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw", IPv4: self}, Filter: rules})
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		want := filter.Compile(nm.rules)
		for i := range 300 {
			src := host(i).Addr()
			for _, port := range []uint16{22, 554, 8883} {
				gotOK, gotRule := nm.matcher.Match(src, self, filter.ProtoTCP, port)
				wantOK, wantRule := want.Match(src, self, filter.ProtoTCP, port)
				if gotOK != wantOK || gotRule != wantRule {
					t.Fatalf("%s: %v -> :%d: %v rule %d, compiled %v rule %d", step, src, port, gotOK, gotRule, wantOK, wantRule)
				}
			}
		}
	}
	check("full map")
	r := rand.New(rand.NewPCG(1, 2))
	v := uint64(1)
	for step := range 40 {
		v++
		var m wire.MapResponse
		if step%13 == 12 {
			// a leave: a whole list without one source
			next := slices.Clone(nm.rules)
			next[1].Src = slices.Delete(slices.Clone(next[1].Src), 0, 1)
			if len(next[1].Src) == 0 {
				next[1].Src = []netip.Prefix{host(2)}
			}
			m = wire.MapResponse{Version: v, FilterChanged: true, Filter: next}
		} else {
			// a join: sources added to rule 1 or 2 by delta
			i := 1 + r.IntN(2)
			add := host(10 + r.IntN(280))
			if slices.Contains(nm.rules[i].Src, add) {
				continue
			}
			joined := append(slices.Clone(nm.rules[i].Src), add)
			slices.SortFunc(joined, filter.ComparePrefix)
			// every rule's sources by reference, as the coordinator sends
			filt := slices.Clone(nm.rules)
			for j := range filt {
				filt[j].Src = nil
			}
			m = wire.MapResponse{Version: v, FilterChanged: true, Filter: filt, FilterSrcFrom: []int{0, 1, 2},
				FilterSrcDelta: []wire.SrcDelta{{Rule: i, Add: []netip.Prefix{add}, Sum: wire.FormatSrcSum(filter.SrcSum(joined))}}}
		}
		if nm, err = nm.apply(m); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		check(fmt.Sprint("step ", step))
	}
	if nm, err = nm.apply(wire.MapResponse{Version: v + 1, Full: true, Self: &wire.Node{ID: 1, Name: "gw", IPv4: self}, Filter: rules}); err != nil {
		t.Fatal(err)
	}
	check("full map again")
}
