package filter

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// sameFamily reports where two interval tables differ as functions of
// the source address: at every start of either, the grant lists each
// gives must be equal (Match then answers the same for every packet).
func sameFamily[K key](a, b family[K], less func(x, y K) bool) error {
	at := func(f family[K], k K) []grant[K] {
		i, _ := slices.BinarySearchFunc(f.starts, k, func(x, y K) int { return cmpBy(x, y, less) })
		if i == len(f.starts) || f.starts[i] != k {
			i--
		}
		if i < 0 {
			return nil
		}
		return f.grants[i]
	}
	for _, k := range append(slices.Clone(a.starts), b.starts...) {
		ga, gb := at(a, k), at(b, k)
		if !slices.Equal(ga, gb) {
			return fmt.Errorf("source %v: grants %v against %v", k, ga, gb)
		}
	}
	return nil
}

// checkSame fails unless got matches as Compile(rules) does.
func checkSame(t *testing.T, got *Matcher, rules []Rule) {
	t.Helper()
	want := Compile(rules)
	if err := sameFamily(got.v4, want.v4, lessU32); err != nil {
		t.Fatalf("IPv4: %v", err)
	}
	if err := sameFamily(got.v6, want.v6, u128.less); err != nil {
		t.Fatalf("IPv6: %v", err)
	}
	if !slices.EqualFunc(got.Rules(), rules, func(a, b Rule) bool { return slices.Equal(a.Src, b.Src) && sameButSrc(&a, &b) }) {
		t.Fatal("Rules() differ from the rules given")
	}
}

func withSrc(r Rule, src ...string) Rule {
	r.Src = nil
	for _, s := range src {
		r.Src = append(r.Src, netip.MustParsePrefix(s))
	}
	slices.SortFunc(r.Src, ComparePrefix)
	return r
}

func TestUpdateMatchesCompile(t *testing.T) {
	gw := rule("10.0.0.1/32", "10.9.0.1/32:8883", ProtoTCP)
	cam := rule("10.0.1.1/32", "10.9.0.1/32:554", ProtoTCP)
	deny := rule("10.0.0.3/32", "10.9.0.1/32:*", ProtoTCP)
	deny.Deny = true
	v6 := rule("fd00::1/128", "fd00:9::1/128:8883", ProtoTCP)
	expiring := rule("10.0.0.1/32", "10.9.0.1/32:22", ProtoTCP)
	expiring.Expires = time.Unix(1_900_000_000, 0)
	tests := []struct {
		name        string
		old, next   []Rule
		incremental bool
	}{
		{"one source added", []Rule{gw}, []Rule{withSrc(gw, "10.0.0.1/32", "10.0.0.2/32")}, true},
		{"sources added to two rules", []Rule{gw, cam}, []Rule{withSrc(gw, "10.0.0.1/32", "10.0.0.7/32"), withSrc(cam, "10.0.1.1/32", "10.0.1.0/24")}, true},
		{"added where a deny holds", []Rule{deny, gw}, []Rule{deny, withSrc(gw, "10.0.0.1/32", "10.0.0.3/32")}, true},
		{"a deny's sources added", []Rule{deny, gw}, []Rule{withSrc(deny, "10.0.0.1/32", "10.0.0.3/32"), gw}, true},
		{"added inside a held prefix", []Rule{withSrc(gw, "10.0.0.0/24")}, []Rule{withSrc(gw, "10.0.0.0/24", "10.0.0.5/32")}, true},
		{"a prefix over held ones", []Rule{withSrc(gw, "10.0.0.1/32", "10.0.0.9/32")}, []Rule{withSrc(gw, "10.0.0.0/24", "10.0.0.1/32", "10.0.0.9/32")}, true},
		{"the whole space", []Rule{gw}, []Rule{withSrc(gw, "0.0.0.0/0", "10.0.0.1/32")}, true},
		{"the top address", []Rule{gw}, []Rule{withSrc(gw, "10.0.0.1/32", "255.255.255.255/32")}, true},
		{"IPv6 sources", []Rule{v6, gw}, []Rule{withSrc(v6, "fd00::1/128", "fd00::2/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"), gw}, true},
		{"IPv6 sources on an IPv4 rule", []Rule{gw}, []Rule{withSrc(gw, "10.0.0.1/32", "fd00::5/128")}, true},
		{"nothing changed", []Rule{gw, cam}, []Rule{gw, cam}, true},
		{"expiring rule", []Rule{expiring}, []Rule{withSrc(expiring, "10.0.0.1/32", "10.0.0.2/32")}, true},
		{"a source removed", []Rule{withSrc(gw, "10.0.0.1/32", "10.0.0.2/32")}, []Rule{gw}, false},
		{"a rule added", []Rule{gw}, []Rule{gw, cam}, false},
		{"rules reordered", []Rule{gw, cam}, []Rule{cam, gw}, false},
		{"ports changed", []Rule{gw}, []Rule{rule("10.0.0.1/32", "10.9.0.1/32:8884", ProtoTCP)}, false},
		{"protocols changed", []Rule{gw}, []Rule{rule("10.0.0.1/32", "10.9.0.1/32:8883", ProtoUDP)}, false},
		{"made a deny", []Rule{gw}, []Rule{func() Rule { r := gw; r.Deny = true; return r }()}, false},
		{"expiry changed", []Rule{expiring}, []Rule{func() Rule { r := expiring; r.Expires = r.Expires.Add(time.Hour); return r }()}, false},
		{"not canonical", []Rule{gw}, []Rule{{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32"), netip.MustParsePrefix("10.0.0.1/32")}, Dst: gw.Dst, Protos: gw.Protos}}, false},
		{"an unmasked source", []Rule{gw}, []Rule{{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.3/24")}, Dst: gw.Dst, Protos: gw.Protos}}, true},
		{"an invalid source", []Rule{gw}, []Rule{{Src: []netip.Prefix{{}, netip.MustParsePrefix("10.0.0.1/32")}, Dst: gw.Dst, Protos: gw.Protos}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := Compile(tt.old)
			_, ok := addedSources(tt.old, tt.next)
			if ok != tt.incremental {
				t.Fatalf("incremental %v, want %v", ok, tt.incremental)
			}
			checkSame(t, m.Update(tt.next), tt.next)
			checkSame(t, m, tt.old) // m itself unchanged
		})
	}
}

// randomRules makes n rules over a small address space, so that sources
// overlap, nest and touch.
func randomRules(r *rand.Rand, n int) []Rule {
	rules := make([]Rule, n)
	for i := range rules {
		rules[i] = Rule{Src: randomSources(r, 1+r.IntN(6)), Deny: r.IntN(5) == 0}
		for range 1 + r.IntN(2) {
			d := DstNet{Net: randomPrefix(r)}
			for range 1 + r.IntN(2) {
				lo := uint16(r.IntN(10))
				d.Ports = append(d.Ports, PortRange{First: lo, Last: lo + uint16(r.IntN(3))})
			}
			rules[i].Dst = append(rules[i].Dst, d)
		}
		if r.IntN(2) == 0 {
			rules[i].Protos = []Proto{ProtoTCP}
		}
	}
	return rules
}

func randomPrefix(r *rand.Rand) netip.Prefix {
	if r.IntN(3) == 0 {
		a := netip.AddrFrom16([16]byte{0: 0xfd, 15: byte(r.IntN(64))})
		if r.IntN(8) == 0 {
			a = netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		}
		return netip.PrefixFrom(a, 122+r.IntN(7)).Masked()
	}
	a := netip.AddrFrom4([4]byte{10, 0, 0, byte(r.IntN(64))})
	if r.IntN(10) == 0 {
		a = netip.AddrFrom4([4]byte{255, 255, 255, byte(250 + r.IntN(6))})
	}
	return netip.PrefixFrom(a, 26+r.IntN(7)).Masked()
}

func randomSources(r *rand.Rand, n int) []netip.Prefix {
	var src []netip.Prefix
	for range n {
		src = append(src, randomPrefix(r))
	}
	slices.SortFunc(src, ComparePrefix)
	return slices.Compact(src)
}

// grow adds random sources to random rules of rules, keeping the lists
// canonical.
func grow(r *rand.Rand, rules []Rule) []Rule {
	next := slices.Clone(rules)
	for range 1 + r.IntN(3) {
		i := r.IntN(len(next))
		src := append(slices.Clone(next[i].Src), randomSources(r, 1+r.IntN(4))...)
		slices.SortFunc(src, ComparePrefix)
		next[i].Src = slices.Compact(src)
	}
	return next
}

// TestUpdateRandom: chains of updates, each adding sources, match a
// compile from scratch at every step; a step that changes more than
// sources is compiled.
func TestUpdateRandom(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 11))
		rules := randomRules(r, 1+r.IntN(5))
		m := Compile(rules)
		for range 8 {
			if r.IntN(6) == 0 {
				rules = randomRules(r, 1+r.IntN(5))
			} else {
				rules = grow(r, rules)
			}
			m = m.Update(rules)
			checkSame(t, m, rules)
		}
	}
}

// FuzzUpdate holds Update to Compile over rules and additions the
// fuzzer picks.
func FuzzUpdate(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(7), uint64(99))
	f.Fuzz(func(t *testing.T, a, b uint64) {
		r := rand.New(rand.NewPCG(a, b))
		rules := randomRules(r, 1+r.IntN(6))
		m := Compile(rules)
		for range 4 {
			rules = grow(r, rules)
			m = m.Update(rules)
			checkSame(t, m, rules)
		}
	})
}

// BenchmarkGatewayJoin is a gateway's filter at 10,000 nodes when one
// more sensor joins: 7,350 sensors may reach it on 8883 and 2,450
// cameras on 554, each with an IPv4 and an IPv6 address, allocated in
// order of registration (a camera every fourth address, so the sensors'
// addresses are runs of three); compiled anew (what every map message
// that carried a join cost a gateway before) against updated.
func BenchmarkGatewayJoin(b *testing.B) {
	addr := func(k int) []netip.Prefix {
		return []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64 + byte(k>>16), byte(k >> 8), byte(k)}), 32),
			netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x7a, 13: byte(k >> 16), 14: byte(k >> 8), 15: byte(k)}), 128)}
	}
	var sensors, cameras []netip.Prefix
	for k := 10; len(sensors) < 2*7350 || len(cameras) < 2*2450; k++ {
		if k%4 == 0 {
			cameras = append(cameras, addr(k)...)
		} else {
			sensors = append(sensors, addr(k)...)
		}
	}
	slices.SortFunc(sensors, ComparePrefix)
	slices.SortFunc(cameras, ComparePrefix)
	dst := func(port uint16) []DstNet {
		return []DstNet{{Net: netip.MustParsePrefix("100.64.0.1/32"), Ports: []PortRange{{First: port, Last: port}}},
			{Net: netip.MustParsePrefix("fd7a::1/128"), Ports: []PortRange{{First: port, Last: port}}}}
	}
	old := []Rule{{Src: sensors[:2*7350-2], Dst: dst(8883), Protos: []Proto{ProtoTCP}}, {Src: cameras, Dst: dst(554), Protos: []Proto{ProtoTCP}}}
	next := slices.Clone(old)
	next[0].Src = sensors
	m := Compile(old)
	if add, ok := addedSources(old, next); !ok || len(add[0]) != 2 || len(m.v4.starts) < 4000 {
		b.Fatalf("not one join: %v %v, %d intervals", ok, add, len(m.v4.starts))
	}
	b.Run("compile", func(b *testing.B) {
		for b.Loop() {
			Compile(next)
		}
	})
	b.Run("update", func(b *testing.B) {
		for b.Loop() {
			m.Update(next)
		}
	})
}
