package filter_test

import (
	"net/netip"
	"testing"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/filter/filtertest"
)

// input hands out the fuzzer's bytes as small choices; past the end it
// returns zeros, so every input is complete.
type input struct{ b []byte }

func (in *input) next() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *input) n(k int) int { return int(in.next()) % k }

func (in *input) u16() uint16 { return uint16(in.next())<<8 | uint16(in.next()) }

// addr picks an address from a small universe (so rules and packets meet):
// 10.0.0.x, 10.0.1.x, fd00::x, fd00::1:x, and the edges of both families.
func (in *input) addr(v6 bool) netip.Addr {
	low := in.next()
	switch in.n(8) {
	case 0:
		if v6 {
			return netip.IPv6Unspecified()
		}
		return netip.IPv4Unspecified()
	case 1:
		if v6 {
			return netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: low})
		}
		return netip.AddrFrom4([4]byte{255, 255, 255, low})
	case 2:
		if v6 {
			return netip.AddrFrom16([16]byte{0: 0xfd, 13: 1, 15: low})
		}
		return netip.AddrFrom4([4]byte{10, 0, 1, low})
	}
	if v6 {
		return netip.AddrFrom16([16]byte{0: 0xfd, 15: low})
	}
	return netip.AddrFrom4([4]byte{10, 0, 0, low})
}

// prefix picks a prefix around the address universe; some are unmasked,
// a few are invalid.
func (in *input) prefix() netip.Prefix {
	v6 := in.next()&1 == 1
	a := in.addr(v6)
	bits := a.BitLen() - in.n(10) // mostly narrow
	switch in.n(16) {
	case 0:
		bits = 0
	case 1:
		bits = a.BitLen() - 16
	case 2:
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(a, bits)
	if in.n(4) != 0 {
		p = p.Masked()
	}
	return p
}

var ports = []uint16{0, 1, 21, 22, 23, 79, 80, 443, 8000, 8100, 65534, 65535}

func (in *input) port() uint16 {
	if in.n(4) == 0 {
		return in.u16()
	}
	return ports[in.n(len(ports))]
}

var protos = []filter.Proto{filter.ProtoTCP, filter.ProtoUDP, filter.ProtoICMP, filter.ProtoICMPv6, filter.ProtoSCTP, 47, 0, 255}

func (in *input) proto() filter.Proto { return protos[in.n(len(protos))] }

func (in *input) rules() []filter.Rule {
	rules := make([]filter.Rule, 1+in.n(8))
	for i := range rules {
		r := &rules[i]
		for range in.n(4) {
			r.Src = append(r.Src, in.prefix())
		}
		for range in.n(4) {
			d := filter.DstNet{Net: in.prefix()}
			for range in.n(4) {
				pr := filter.PortRange{First: in.port(), Last: in.port()}
				if pr.First > pr.Last && in.n(8) != 0 {
					pr.First, pr.Last = pr.Last, pr.First
				}
				d.Ports = append(d.Ports, pr)
			}
			r.Dst = append(r.Dst, d)
		}
		for range in.n(3) {
			r.Protos = append(r.Protos, in.proto())
		}
		r.Deny = in.n(4) == 0
	}
	return rules
}

// FuzzMatcher checks the compiled Matcher against the reference linear
// evaluator over random rules and packets.
func FuzzMatcher(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x03\x02\x00\x07\x03\x05\x01\x02\x01\x02\x01\x01\x00\x03\x04\x06\x07\x08\x09\x0a"))
	f.Add([]byte("rules and packets: 10.0.0.0/24 -> 10.0.1.7:22"))
	f.Add([]byte{7, 3, 1, 200, 3, 1, 3, 0, 1, 200, 9, 3, 3, 4, 5, 6, 7, 2, 1, 1, 0, 0, 1, 2, 3, 1, 200, 3, 200, 1, 9, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &input{b: data}
		rules := in.rules()
		m := filter.Compile(rules)
		for range 64 {
			v6 := in.next()&1 == 1
			src, dst := in.addr(v6), in.addr(v6)
			switch in.n(16) {
			case 0:
				dst = in.addr(!v6) // mixed families
			case 1:
				src = netip.AddrFrom16(src.As16()) // IPv4-mapped
			}
			proto, port := in.proto(), in.port()
			gotOK, gotIdx := m.Match(src, dst, proto, port)
			wantOK, wantIdx := filtertest.Match(rules, src, dst, proto, port)
			if gotOK != wantOK || gotIdx != wantIdx {
				t.Fatalf("Match(%v -> %v proto %d port %d) = %v, %d; reference %v, %d\nrules: %+v",
					src, dst, proto, port, gotOK, gotIdx, wantOK, wantIdx, rules)
			}
			// Reach lists exactly the flows the reference allows.
			reach := m.Reach([]netip.Addr{src}, []netip.Addr{dst})
			if got := filter.Allows(reach, proto, port); got != wantOK {
				t.Fatalf("Reach(%v -> %v) = %+v allows proto %d port %d: %v; reference %v\nrules: %+v",
					src, dst, reach, proto, port, got, wantOK, rules)
			}
			p := netip.PrefixFrom(dst, dst.BitLen()-in.n(9)).Masked()
			got, _ := m.MatchPrefix(src, p, proto, port)
			if want, ok := filtertest.MatchPrefix(rules, src, p, proto, port); ok && got != want {
				t.Fatalf("MatchPrefix(%v -> %v proto %d port %d) = %v; reference %v\nrules: %+v",
					src, p, proto, port, got, want, rules)
			}
		}
	})
}
