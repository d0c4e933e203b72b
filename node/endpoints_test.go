package node

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/wardnet/ward/wire"
)

// TestEndpointsSkipOverlayAndCGNAT: of the host's addresses, a node
// announces neither the shared address space 100.64.0.0/10 (carrier-grade
// NAT, Tailscale, any Ward overlay) nor its overlay's IPv6 /48 nor
// Tailscale's; addresses the operator gave with --endpoint are announced
// as given.
func TestEndpointsSkipOverlayAndCGNAT(t *testing.T) {
	self := wire.Node{IPv4: netip.MustParseAddr("100.64.0.7"), IPv6: netip.MustParseAddr("fd12:3456:789a::6440:7")}
	const port = 41641
	tests := []struct {
		name string
		addr string
		want bool
	}{
		{"public IPv4", "198.51.100.4", true},
		{"LAN IPv4", "192.168.1.20", true},
		{"public IPv6", "2001:db8::20", true},
		{"LAN ULA", "fd00:1::20", true},
		{"own overlay IPv4", "100.64.0.7", false},
		{"another overlay IPv4 (Tailscale)", "100.101.102.103", false},
		{"carrier-grade NAT, low end", "100.64.0.1", false},
		{"carrier-grade NAT, high end", "100.127.255.254", false},
		{"just past the shared space", "100.128.0.1", true},
		{"own overlay /48", "fd12:3456:789a:1::9", false},
		{"Tailscale IPv6", "fd7a:115c:a1e0::1", false},
		{"CGNAT as IPv4-mapped IPv6", "::ffff:100.64.0.9", false},
		{"loopback", "127.0.0.1", false},
		{"link-local", "fe80::1", false},
	}
	var addrs []netip.Addr
	var want []netip.AddrPort
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := announceable(a, self); got != tt.want {
			t.Errorf("%s (%s): announced %v, want %v", tt.name, tt.addr, got, tt.want)
		}
		addrs = append(addrs, a)
		if tt.want {
			want = append(want, netip.AddrPortFrom(a, port))
		}
	}
	if got := localEndpoints(addrs, self, port); !slices.Equal(got, want) {
		t.Errorf("local endpoints %v, want %v", got, want)
	}

	given := []netip.AddrPort{netip.MustParseAddrPort("100.70.0.1:0"), netip.MustParseAddrPort("[fd7a:115c:a1e0::1]:51820")}
	s := &Session{cfg: sessionConfig{endpoints: given}}
	wantGiven := []netip.AddrPort{netip.MustParseAddrPort("100.70.0.1:41641"), given[1]}
	if got := s.endpoints(port); !slices.Equal(got, wantGiven) {
		t.Errorf("--endpoint addresses %v, want %v", got, wantGiven)
	}
}
