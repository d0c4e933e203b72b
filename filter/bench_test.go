package filter_test

import (
	"math/rand"
	"net/netip"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/filter/filtertest"
)

// benchRules is the inbound filter of a busy device in a 10,000-node
// fleet, the shape acl compiles: 40 rules from teams (60 single-address
// sources each, both families), one from every member (3,000 sources), one
// from a site LAN, to the device's two addresses on a few ports.
func benchRules() []filter.Rule {
	r := rand.New(rand.NewSource(1))
	node := func(i int) (netip.Prefix, netip.Prefix) {
		v4 := netip.AddrFrom4([4]byte{100, 64, byte(i >> 8), byte(i)})
		v6 := netip.AddrFrom16([16]byte{0xfd, 0x7a, 0x11, 0x5c, 0xa1, 0xe0, 14: byte(i >> 8), 15: byte(i)})
		return netip.PrefixFrom(v4, 32), netip.PrefixFrom(v6, 128)
	}
	d4, d6 := node(9999)
	ports := [][]filter.PortRange{{{First: 22, Last: 22}}, {{First: 80, Last: 80}, {First: 443, Last: 443}}, {{First: 8000, Last: 8100}}, {filter.AllPorts()}}
	dst := func() []filter.DstNet {
		p := ports[r.Intn(len(ports))]
		return []filter.DstNet{{Net: d4, Ports: p}, {Net: d6, Ports: p}}
	}
	var rules []filter.Rule
	for range 40 {
		var src []netip.Prefix
		for range 30 {
			s4, s6 := node(r.Intn(3000))
			src = append(src, s4, s6)
		}
		rules = append(rules, filter.Rule{Src: src, Dst: dst()})
	}
	var everyone []netip.Prefix
	for i := range 3000 {
		s4, s6 := node(i)
		everyone = append(everyone, s4, s6)
	}
	rules = append(rules,
		filter.Rule{Src: everyone, Dst: dst(), Protos: []filter.Proto{filter.ProtoICMP, filter.ProtoICMPv6}},
		filter.Rule{Src: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/24")}, Dst: dst(), Protos: []filter.Proto{filter.ProtoTCP}},
	)
	return rules
}

type packet struct {
	src, dst netip.Addr
	proto    filter.Proto
	port     uint16
}

// benchPackets returns n packets of one family that rules allow (hit) or
// deny (miss), checked with the reference evaluator.
func benchPackets(b *testing.B, rules []filter.Rule, v6, hit bool, n int) []packet {
	r := rand.New(rand.NewSource(2))
	var out []packet
	for len(out) < n {
		rule := rules[r.Intn(len(rules))]
		s := rule.Src[r.Intn(len(rule.Src))]
		d := rule.Dst[r.Intn(len(rule.Dst))]
		if s.Addr().Is6() != v6 || d.Net.Addr().Is6() != v6 {
			continue
		}
		pr := d.Ports[r.Intn(len(d.Ports))]
		p := packet{src: s.Addr(), dst: d.Net.Addr(), proto: rule.EffectiveProtos()[r.Intn(len(rule.EffectiveProtos()))],
			port: pr.First + uint16(r.Intn(int(pr.Last-pr.First)+1))}
		if !hit {
			p.port = uint16(r.Intn(1 << 16))
			if r.Intn(2) == 0 {
				p.proto = 47
			}
		}
		if ok, _ := filtertest.Match(rules, p.src, p.dst, p.proto, p.port); ok == hit {
			out = append(out, p)
		}
	}
	return out
}

// BenchmarkMatch is the per-packet cost of a busy device's filter. It must
// not allocate.
func BenchmarkMatch(b *testing.B) {
	rules := benchRules()
	m := filter.Compile(rules)
	for _, tc := range []struct {
		name    string
		v6, hit bool
	}{{"v4/hit", false, true}, {"v4/miss", false, false}, {"v6/hit", true, true}, {"v6/miss", true, false}} {
		b.Run(tc.name, func(b *testing.B) {
			pkts := benchPackets(b, rules, tc.v6, tc.hit, 1024)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p := &pkts[i&1023]
				if ok, _ := m.Match(p.src, p.dst, p.proto, p.port); ok != tc.hit {
					b.Fatalf("Match(%+v) = %v", *p, ok)
				}
			}
		})
	}
}

// BenchmarkCompile builds the Matcher of a busy device: what a node does
// each time its filter changes.
func BenchmarkCompile(b *testing.B) {
	rules := benchRules()
	b.ReportAllocs()
	for b.Loop() {
		filter.Compile(rules)
	}
}
