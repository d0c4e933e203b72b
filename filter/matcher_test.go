package filter

import (
	"encoding/json"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// rule builds a Rule from text: srcs separated by spaces, dsts as
// "PREFIX:PORTS" (PORTS a comma list of N or N-M or *), protos numbers.
func rule(src, dst string, protos ...Proto) Rule {
	r := Rule{Protos: protos}
	for _, s := range strings.Fields(src) {
		r.Src = append(r.Src, netip.MustParsePrefix(s))
	}
	for _, d := range strings.Fields(dst) {
		i := strings.LastIndex(d, ":")
		dn := DstNet{Net: netip.MustParsePrefix(strings.Trim(d[:i], "[]"))}
		for _, p := range strings.Split(d[i+1:], ",") {
			dn.Ports = append(dn.Ports, portRange(p))
		}
		r.Dst = append(r.Dst, dn)
	}
	return r
}

func portRange(s string) PortRange {
	if s == "*" {
		return AllPorts()
	}
	first, last, ok := strings.Cut(s, "-")
	if !ok {
		last = first
	}
	return PortRange{First: atou16(first), Last: atou16(last)}
}

func atou16(s string) uint16 {
	var n uint16
	for _, c := range s {
		n = n*10 + uint16(c-'0')
	}
	return n
}

// packet is one Match query and its expected answer (rule -1 = deny).
type packet struct {
	src, dst string
	proto    Proto
	port     uint16
	rule     int
}

func checkPackets(t *testing.T, m *Matcher, pkts []packet) {
	t.Helper()
	for _, p := range pkts {
		src, dst := parseAddr(p.src), parseAddr(p.dst)
		ok, idx := m.Match(src, dst, p.proto, p.port)
		if ok != (p.rule >= 0) || idx != p.rule {
			t.Errorf("Match(%s -> %s proto %d port %d) = %v, %d; want rule %d", p.src, p.dst, p.proto, p.port, ok, idx, p.rule)
		}
	}
}

func parseAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

func TestMatch(t *testing.T) {
	const tcp, udp, icmp, icmp6, sctp, gre = ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6, ProtoSCTP, Proto(47)
	for _, tc := range []struct {
		name  string
		rules []Rule
		pkts  []packet
	}{
		{
			name:  "IPv4",
			rules: []Rule{rule("100.64.0.0/24", "100.64.1.1/32:22", tcp)},
			pkts: []packet{
				{"100.64.0.7", "100.64.1.1", tcp, 22, 0},
				{"100.64.0.0", "100.64.1.1", tcp, 22, 0},
				{"100.64.0.255", "100.64.1.1", tcp, 22, 0},
				{"100.63.255.255", "100.64.1.1", tcp, 22, -1},
				{"100.64.1.0", "100.64.1.1", tcp, 22, -1},
				{"100.64.0.7", "100.64.1.2", tcp, 22, -1},
				{"100.64.0.7", "100.64.1.1", tcp, 23, -1},
				{"100.64.0.7", "100.64.1.1", udp, 22, -1},
			},
		},
		{
			name:  "IPv6",
			rules: []Rule{rule("fd7a:115c:a1e0::/64", "fd7a:115c:a1e0:1::1/128:443", tcp, udp)},
			pkts: []packet{
				{"fd7a:115c:a1e0::9", "fd7a:115c:a1e0:1::1", tcp, 443, 0},
				{"fd7a:115c:a1e0::ffff:ffff:ffff:ffff", "fd7a:115c:a1e0:1::1", udp, 443, 0},
				{"fd7a:115c:a1e0:1::9", "fd7a:115c:a1e0:1::1", tcp, 443, -1},
				{"fd7a:115c:a1df:ffff:ffff:ffff:ffff:ffff", "fd7a:115c:a1e0:1::1", tcp, 443, -1},
				{"fd7a:115c:a1e0::9", "fd7a:115c:a1e0:1::2", tcp, 443, -1},
				{"fd7a:115c:a1e0::9", "fd7a:115c:a1e0:1::1", tcp, 80, -1},
			},
		},
		{
			name: "port edges",
			rules: []Rule{
				rule("10.0.0.1/32", "10.0.0.2/32:0,65535 10.0.0.3/32:8000-8100,22", tcp),
				rule("10.0.0.1/32", "10.0.0.4/32:*", udp),
			},
			pkts: []packet{
				{"10.0.0.1", "10.0.0.2", tcp, 0, 0},
				{"10.0.0.1", "10.0.0.2", tcp, 1, -1},
				{"10.0.0.1", "10.0.0.2", tcp, 65534, -1},
				{"10.0.0.1", "10.0.0.2", tcp, 65535, 0},
				{"10.0.0.1", "10.0.0.3", tcp, 7999, -1},
				{"10.0.0.1", "10.0.0.3", tcp, 8000, 0},
				{"10.0.0.1", "10.0.0.3", tcp, 8050, 0},
				{"10.0.0.1", "10.0.0.3", tcp, 8100, 0},
				{"10.0.0.1", "10.0.0.3", tcp, 8101, -1},
				{"10.0.0.1", "10.0.0.3", tcp, 22, 0},
				{"10.0.0.1", "10.0.0.3", tcp, 21, -1},
				{"10.0.0.1", "10.0.0.4", udp, 0, 1},
				{"10.0.0.1", "10.0.0.4", udp, 65535, 1},
				{"10.0.0.1", "10.0.0.4", tcp, 80, -1},
			},
		},
		{
			name: "protocols without ports",
			rules: []Rule{
				rule("10.0.0.1/32 fd00::1/128", "10.0.0.2/32:22 fd00::2/128:22"), // defaults
				rule("10.0.0.1/32", "10.0.0.3/32:*", gre),
				rule("10.0.0.1/32", "10.0.0.4/32:5000", sctp),
			},
			pkts: []packet{
				{"10.0.0.1", "10.0.0.2", tcp, 22, 0},
				{"10.0.0.1", "10.0.0.2", udp, 22, 0},
				{"10.0.0.1", "10.0.0.2", tcp, 23, -1},
				{"10.0.0.1", "10.0.0.2", icmp, 0, 0},    // ICMP ignores the port range
				{"10.0.0.1", "10.0.0.2", icmp, 9999, 0}, // whatever the caller passes
				{"fd00::1", "fd00::2", icmp6, 0, 0},
				{"10.0.0.1", "10.0.0.2", gre, 0, -1}, // not a default protocol
				{"10.0.0.1", "10.0.0.2", sctp, 22, -1},
				{"10.0.0.1", "10.0.0.3", gre, 0, 1},
				{"10.0.0.1", "10.0.0.3", gre, 4242, 1},
				{"10.0.0.1", "10.0.0.3", icmp, 0, -1},
				{"10.0.0.1", "10.0.0.4", sctp, 5000, 2}, // SCTP has ports
				{"10.0.0.1", "10.0.0.4", sctp, 5001, -1},
				{"10.0.0.1", "10.0.0.4", Proto(255), 5000, -1},
				{"10.0.0.1", "10.0.0.4", Proto(0), 5000, -1},
			},
		},
		{
			name:  "mixed families are denied",
			rules: []Rule{rule("0.0.0.0/0 ::/0", "0.0.0.0/0:* ::/0:*")},
			pkts: []packet{
				{"10.0.0.1", "10.0.0.2", tcp, 1, 0},
				{"fd00::1", "fd00::2", tcp, 1, 0},
				{"10.0.0.1", "fd00::2", tcp, 1, -1},
				{"fd00::1", "10.0.0.2", tcp, 1, -1},
				{"::ffff:10.0.0.1", "::ffff:10.0.0.2", tcp, 1, -1},
				{"::ffff:10.0.0.1", "fd00::2", tcp, 1, -1},
				{"fd00::1", "::ffff:10.0.0.2", tcp, 1, -1},
				{"", "10.0.0.2", tcp, 1, -1},
				{"10.0.0.1", "", tcp, 1, -1},
				{"", "", tcp, 1, -1},
			},
		},
		{
			name: "overlapping source prefixes across rules",
			rules: []Rule{
				rule("10.0.0.0/8", "100.64.0.1/32:22", tcp),
				rule("10.1.0.0/16 192.168.0.0/16", "100.64.0.1/32:80", tcp),
				rule("10.1.2.3/32", "100.64.0.1/32:443 100.64.0.1/32:22", tcp),
				rule("10.1.0.0/16", "100.64.0.1/32:22", tcp),
			},
			pkts: []packet{
				{"10.1.2.3", "100.64.0.1", tcp, 22, 0},
				{"10.1.2.3", "100.64.0.1", tcp, 80, 1},
				{"10.1.2.3", "100.64.0.1", tcp, 443, 2},
				{"10.1.2.4", "100.64.0.1", tcp, 443, -1},
				{"10.1.2.2", "100.64.0.1", tcp, 443, -1},
				{"10.1.9.9", "100.64.0.1", tcp, 80, 1},
				{"10.2.0.1", "100.64.0.1", tcp, 80, -1},
				{"10.2.0.1", "100.64.0.1", tcp, 22, 0},
				{"10.255.255.255", "100.64.0.1", tcp, 22, 0},
				{"11.0.0.0", "100.64.0.1", tcp, 22, -1},
				{"9.255.255.255", "100.64.0.1", tcp, 22, -1},
				{"192.168.7.7", "100.64.0.1", tcp, 80, 1},
				{"192.168.7.7", "100.64.0.1", tcp, 22, -1},
			},
		},
		{
			name: "address space edges",
			rules: []Rule{
				rule("0.0.0.0/32 255.255.255.255/32", "255.255.255.255/32:1 0.0.0.0/32:1", tcp),
				rule("::/128 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "::/128:1", tcp),
			},
			pkts: []packet{
				{"0.0.0.0", "255.255.255.255", tcp, 1, 0},
				{"255.255.255.255", "0.0.0.0", tcp, 1, 0},
				{"255.255.255.254", "0.0.0.0", tcp, 1, -1},
				{"0.0.0.1", "0.0.0.0", tcp, 1, -1},
				{"::", "::", tcp, 1, 1},
				{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::", tcp, 1, 1},
				{"::1", "::", tcp, 1, -1},
			},
		},
		{
			name: "unmasked prefixes are masked",
			rules: []Rule{
				{Src: []netip.Prefix{netip.MustParsePrefix("10.9.9.9/8")}, Dst: []DstNet{{Net: netip.MustParsePrefix("100.64.0.9/24"), Ports: []PortRange{AllPorts()}}}},
			},
			pkts: []packet{
				{"10.0.0.1", "100.64.0.1", tcp, 1, 0},
				{"11.0.0.1", "100.64.0.1", tcp, 1, -1},
				{"10.0.0.1", "100.64.1.1", tcp, 1, -1},
			},
		},
		{
			name: "invalid rules are skipped",
			rules: []Rule{
				{Dst: []DstNet{{Net: netip.MustParsePrefix("10.0.0.2/32"), Ports: []PortRange{AllPorts()}}}},                            // no src
				{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}},                                                             // no dst
				{Src: []netip.Prefix{{}}, Dst: []DstNet{{Net: netip.MustParsePrefix("10.0.0.2/32"), Ports: []PortRange{AllPorts()}}}},   // bad src
				{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, Dst: []DstNet{{Net: netip.MustParsePrefix("10.0.0.2/32")}}}, // no ports
				{Src: []netip.Prefix{netip.MustParsePrefix("10.0.0.1/32")}, Dst: []DstNet{{Net: netip.MustParsePrefix("10.0.0.2/32"), Ports: []PortRange{{First: 9, Last: 1}}}}},
				rule("10.0.0.1/32", "10.0.0.2/32:22"),
			},
			pkts: []packet{
				{"10.0.0.1", "10.0.0.2", tcp, 22, 5},
				{"10.0.0.1", "10.0.0.2", tcp, 5, -1},
			},
		},
		{
			name:  "no rules",
			rules: nil,
			pkts:  []packet{{"10.0.0.1", "10.0.0.2", tcp, 22, -1}, {"fd00::1", "fd00::2", tcp, 22, -1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Compile(tc.rules)
			checkPackets(t, m, tc.pkts)
			if diff := cmp.Diff(tc.rules, m.Rules(), cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("Rules() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchNilMatcher(t *testing.T) {
	var m *Matcher
	if ok, idx := m.Match(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), ProtoTCP, 22); ok || idx != -1 {
		t.Errorf("nil Match = %v, %d", ok, idx)
	}
	if ok, idx := m.MatchPrefix(netip.MustParseAddr("10.0.0.1"), netip.MustParsePrefix("10.0.0.0/24"), ProtoTCP, 22); ok || idx != -1 {
		t.Errorf("nil MatchPrefix = %v, %d", ok, idx)
	}
}

func TestMatchPrefix(t *testing.T) {
	const tcp = ProtoTCP
	for _, tc := range []struct {
		name  string
		rules []Rule
		src   string
		dst   string
		proto Proto
		port  uint16
		want  bool
		rule  int
	}{
		{"one rule covers", []Rule{rule("10.9.0.1/32", "10.0.0.0/16:22", tcp)}, "10.9.0.1", "10.0.1.0/24", tcp, 22, true, 0},
		{"two adjacent rules cover", []Rule{
			rule("10.9.0.1/32", "10.0.0.128/25:22", tcp),
			rule("10.9.0.1/32", "10.0.0.0/25:22", tcp),
		}, "10.9.0.1", "10.0.0.0/24", tcp, 22, true, 1},
		{"adjacent dsts of one rule cover", []Rule{rule("10.9.0.1/32", "10.0.0.0/25:22 10.0.0.128/25:22", tcp)}, "10.9.0.1", "10.0.0.0/24", tcp, 22, true, 0},
		{"overlapping rules cover", []Rule{
			rule("10.9.0.1/32", "10.0.0.0/24:22", tcp),
			rule("10.9.0.1/32", "10.0.0.64/26:22", tcp),
			rule("10.9.0.1/32", "10.0.1.0/24:22", tcp),
		}, "10.9.0.1", "10.0.0.0/23", tcp, 22, true, 0},
		{"a hole", []Rule{
			rule("10.9.0.1/32", "10.0.0.0/26:22", tcp),
			rule("10.9.0.1/32", "10.0.0.128/25:22", tcp),
		}, "10.9.0.1", "10.0.0.0/24", tcp, 22, false, -1},
		{"a hole at the start", []Rule{rule("10.9.0.1/32", "10.0.0.1/32:22 10.0.0.2/31:22 10.0.0.4/30:22", tcp)}, "10.9.0.1", "10.0.0.0/29", tcp, 22, false, -1},
		{"a hole at the end", []Rule{rule("10.9.0.1/32", "10.0.0.0/30:22 10.0.0.4/31:22 10.0.0.6/32:22", tcp)}, "10.9.0.1", "10.0.0.0/29", tcp, 22, false, -1},
		{"one half on another port", []Rule{
			rule("10.9.0.1/32", "10.0.0.0/25:22", tcp),
			rule("10.9.0.1/32", "10.0.0.128/25:23", tcp),
		}, "10.9.0.1", "10.0.0.0/24", tcp, 22, false, -1},
		{"one half from another source", []Rule{
			rule("10.9.0.1/32", "10.0.0.0/25:22", tcp),
			rule("10.9.0.2/32", "10.0.0.128/25:22", tcp),
		}, "10.9.0.1", "10.0.0.0/24", tcp, 22, false, -1},
		{"top of the address space", []Rule{
			rule("10.9.0.1/32", "255.255.255.128/25:22", tcp),
			rule("10.9.0.1/32", "255.255.255.0/25:22", tcp),
		}, "10.9.0.1", "255.255.255.0/24", tcp, 22, true, 1},
		{"whole IPv4 space", []Rule{rule("10.9.0.1/32", "0.0.0.0/1:* 128.0.0.0/1:*", tcp)}, "10.9.0.1", "0.0.0.0/0", tcp, 22, true, 0},
		{"IPv6 adjacent", []Rule{
			rule("fd00::1/128", "fd00:1::/33:22", tcp),
			rule("fd00::1/128", "fd00:1:8000::/33:22", tcp),
		}, "fd00::1", "fd00:1::/32", tcp, 22, true, 0},
		{"IPv6 hole", []Rule{rule("fd00::1/128", "fd00:1::/34:22 fd00:1:8000::/33:22", tcp)}, "fd00::1", "fd00:1::/32", tcp, 22, false, -1},
		{"IPv6 top", []Rule{rule("fd00::1/128", "ffff:ffff:ffff:ffff::/64:22", tcp)}, "fd00::1", "ffff:ffff:ffff:ffff:ffff:ffff::/96", tcp, 22, true, 0},
		{"single address uses Match", []Rule{rule("10.9.0.1/32", "10.0.0.7/32:22", tcp)}, "10.9.0.1", "10.0.0.7/32", tcp, 22, true, 0},
		{"icmp ignores ports", []Rule{rule("10.9.0.1/32", "10.0.0.0/24:22")}, "10.9.0.1", "10.0.0.0/24", ProtoICMP, 0, true, 0},
		{"wrong proto", []Rule{rule("10.9.0.1/32", "10.0.0.0/24:22", tcp)}, "10.9.0.1", "10.0.0.0/24", ProtoUDP, 22, false, -1},
		{"mixed families", []Rule{rule("10.9.0.1/32 fd00::1/128", "0.0.0.0/0:* ::/0:*")}, "10.9.0.1", "fd00::/64", tcp, 22, false, -1},
		{"source below every interval", []Rule{rule("10.9.0.1/32", "10.0.0.0/24:22", tcp)}, "1.1.1.1", "10.0.0.0/24", tcp, 22, false, -1},
		{"invalid prefix", []Rule{rule("10.9.0.1/32", "0.0.0.0/0:*", tcp)}, "10.9.0.1", "", tcp, 22, false, -1},
		{"4in6 source is denied as by Match", []Rule{rule("::/0", "::/0:*", tcp)}, "::ffff:10.9.0.1", "fd00::/64", tcp, 22, false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Compile(tc.rules)
			var dst netip.Prefix
			if tc.dst != "" {
				dst = netip.MustParsePrefix(tc.dst)
			}
			ok, idx := m.MatchPrefix(netip.MustParseAddr(tc.src), dst, tc.proto, tc.port)
			if ok != tc.want || idx != tc.rule {
				t.Errorf("MatchPrefix = %v, %d; want %v, %d", ok, idx, tc.want, tc.rule)
			}
		})
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	m := Compile([]Rule{
		rule("10.0.0.0/8 fd00::/8", "100.64.0.1/32:22,80 fd7a::1/128:22,80", ProtoTCP),
		rule("10.1.0.0/16", "100.64.0.1/32:443"),
	})
	s4, d4 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("100.64.0.1")
	s6, d6 := netip.MustParseAddr("fd00::3"), netip.MustParseAddr("fd7a::1")
	allocs := testing.AllocsPerRun(100, func() {
		m.Match(s4, d4, ProtoTCP, 443)
		m.Match(s4, d4, ProtoUDP, 9)
		m.Match(s6, d6, ProtoTCP, 22)
		m.Match(s6, d4, ProtoTCP, 22)
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

// TestMatchConcurrent runs Match from several goroutines on one Matcher
// (run with -race).
func TestMatchConcurrent(t *testing.T) {
	m := Compile([]Rule{rule("10.0.0.0/8", "100.64.0.1/32:22", ProtoTCP)})
	src, dst := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("100.64.0.1")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if ok, _ := m.Match(src, dst, ProtoTCP, 22); !ok {
					t.Error("denied")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRuleValidate(t *testing.T) {
	p := netip.MustParsePrefix("10.0.0.1/32")
	ok := []PortRange{AllPorts()}
	for _, tc := range []struct {
		name string
		r    Rule
		want string
	}{
		{"valid", Rule{Src: []netip.Prefix{p}, Dst: []DstNet{{Net: p, Ports: ok}}}, ""},
		{"no src", Rule{Dst: []DstNet{{Net: p, Ports: ok}}}, "rule has no source or no destination"},
		{"no dst", Rule{Src: []netip.Prefix{p}}, "rule has no source or no destination"},
		{"bad src", Rule{Src: []netip.Prefix{{}}, Dst: []DstNet{{Net: p, Ports: ok}}}, "invalid source prefix invalid Prefix"},
		{"bad dst", Rule{Src: []netip.Prefix{p}, Dst: []DstNet{{Ports: ok}}}, "invalid destination prefix invalid Prefix"},
		{"no ports", Rule{Src: []netip.Prefix{p}, Dst: []DstNet{{Net: p}}}, "destination 10.0.0.1/32 has no ports"},
		{"reversed", Rule{Src: []netip.Prefix{p}, Dst: []DstNet{{Net: p, Ports: []PortRange{{First: 2, Last: 1}}}}}, "destination 10.0.0.1/32: port range 2-1 is reversed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRuleJSON(t *testing.T) {
	r := rule("10.0.0.0/8 fd00::/8", "100.64.0.1/32:22,8000-8100", ProtoTCP, ProtoICMPv6)
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"src":["10.0.0.0/8","fd00::/8"],"dst":[{"net":"100.64.0.1/32","ports":[{"first":22,"last":22},{"first":8000,"last":8100}]}],"protos":[6,58]}`
	if string(b) != want {
		t.Errorf("Marshal = %s\nwant      %s", b, want)
	}
	var back Rule
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, back, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`256`, `-1`, `"6"`, `1.5`} {
		var p Proto
		if err := json.Unmarshal([]byte(bad), &p); err == nil {
			t.Errorf("Unmarshal(%s) = %d, want error", bad, p)
		}
	}
}

func TestPortRangeAndProtos(t *testing.T) {
	for r, want := range map[PortRange]string{AllPorts(): "*", {22, 22}: "22", {80, 443}: "80-443", {0, 0}: "0"} {
		if got := r.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", r, got, want)
		}
	}
	if !(PortRange{First: 5, Last: 5}).Contains(5) || (PortRange{First: 5, Last: 6}).Contains(7) {
		t.Error("Contains is wrong")
	}
	if got := (Rule{}).EffectiveProtos(); !cmp.Equal(got, DefaultProtos()) {
		t.Errorf("EffectiveProtos of none = %v, want the defaults", got)
	}
	for p, want := range map[Proto]bool{ProtoTCP: true, ProtoUDP: true, ProtoSCTP: true, ProtoICMP: false, ProtoICMPv6: false, 47: false} {
		if p.HasPorts() != want {
			t.Errorf("Proto(%d).HasPorts() = %v", p, !want)
		}
	}
}
