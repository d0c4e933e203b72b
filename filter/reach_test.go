package filter

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReach(t *testing.T) {
	a4, b4 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("100.64.0.2")
	a6, b6 := netip.MustParseAddr("fd7a::1"), netip.MustParseAddr("fd7a::2")
	both := func(a, b netip.Addr) [2][]netip.Addr { return [2][]netip.Addr{{a}, {b}} }
	tcp := func(rs ...PortRange) PortGrant { return PortGrant{Proto: ProtoTCP, Ports: rs} }
	one := func(p uint16) PortRange { return PortRange{p, p} }
	tests := []struct {
		name  string
		rules []Rule
		pair  [2][]netip.Addr
		want  []PortGrant
	}{
		{"nothing", nil, both(a4, b4), []PortGrant{}},
		{"ports merged and sorted", []Rule{
			rule("100.64.0.1/32", "100.64.0.2/32:554,80", ProtoTCP),
			rule("100.64.0.0/24", "100.64.0.0/24:443,81-90", ProtoTCP),
		}, both(a4, b4), []PortGrant{tcp(PortRange{80, 90}, one(443), one(554))}},
		{"other source gets nothing", []Rule{rule("100.64.0.9/32", "100.64.0.2/32:80", ProtoTCP)}, both(a4, b4), []PortGrant{}},
		{"other destination gets nothing", []Rule{rule("100.64.0.1/32", "100.64.0.3/32:80", ProtoTCP)}, both(a4, b4), []PortGrant{}},
		{"default protocols", []Rule{rule("100.64.0.1/32", "100.64.0.2/32:22")}, both(a4, b4), []PortGrant{
			{Proto: ProtoICMP}, tcp(one(22)), {Proto: ProtoUDP, Ports: []PortRange{one(22)}}, {Proto: ProtoICMPv6}}},
		{"both families, union", []Rule{
			rule("100.64.0.1/32", "100.64.0.2/32:80", ProtoTCP),
			rule("fd7a::1/128", "fd7a::2/128:443", ProtoTCP),
		}, [2][]netip.Addr{{a4, a6}, {b4, b6}}, []PortGrant{tcp(one(80), one(443))}},
		{"families never mix", []Rule{rule("100.64.0.1/32", "fd7a::2/128:80", ProtoTCP)}, [2][]netip.Addr{{a4}, {b6}}, []PortGrant{}},
		{"every port", []Rule{rule("0.0.0.0/0", "100.64.0.2/32:*", ProtoTCP)}, both(a4, b4), []PortGrant{tcp(AllPorts())}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compile(tt.rules).Reach(tt.pair[0], tt.pair[1])
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Reach mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	gs := []PortGrant{{Proto: ProtoICMP}, {Proto: ProtoTCP, Ports: []PortRange{{80, 90}, {443, 443}}}}
	for _, tt := range []struct {
		proto Proto
		port  uint16
		want  bool
	}{
		{ProtoTCP, 80, true}, {ProtoTCP, 90, true}, {ProtoTCP, 91, false}, {ProtoTCP, 443, true},
		{ProtoUDP, 80, false}, {ProtoICMP, 0, true}, {ProtoICMPv6, 0, false},
	} {
		if got := Allows(gs, tt.proto, tt.port); got != tt.want {
			t.Errorf("Allows(%d, %d) = %v, want %v", tt.proto, tt.port, got, tt.want)
		}
	}
}

func TestFormatGrants(t *testing.T) {
	for _, tt := range []struct {
		gs   []PortGrant
		want string
	}{
		{nil, "nothing"},
		{[]PortGrant{{Proto: ProtoTCP, Ports: []PortRange{{80, 80}, {443, 443}, {8000, 8099}}}}, "tcp 80, 443, 8000-8099"},
		{[]PortGrant{{Proto: ProtoICMP}, {Proto: ProtoTCP, Ports: []PortRange{AllPorts()}}, {Proto: ProtoUDP, Ports: []PortRange{{53, 53}}}, {Proto: ProtoICMPv6}},
			"tcp every port; udp 53; icmp"},
		{[]PortGrant{{Proto: ProtoICMP}, {Proto: ProtoTCP, Ports: []PortRange{{22, 22}, {80, 80}}}, {Proto: ProtoUDP, Ports: []PortRange{{22, 22}, {80, 80}}},
			{Proto: ProtoICMPv6}, {Proto: ProtoSCTP, Ports: []PortRange{{9, 9}}}}, "tcp/udp 22, 80; sctp 9; icmp"},
		{[]PortGrant{{Proto: 47}}, "47"},
	} {
		if got := FormatGrants(tt.gs); got != tt.want {
			t.Errorf("FormatGrants(%+v) = %q, want %q", tt.gs, got, tt.want)
		}
	}
}
