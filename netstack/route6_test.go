package netstack

import (
	"net/netip"
	"testing"
)

// TestGuardRoutesIPv6Flows: the guard judges a flow to an address of a
// routed IPv6 prefix as it does an IPv4 one.
func TestGuardRoutesIPv6Flows(t *testing.T) {
	dev := netip.MustParseAddr("fd00:10::5")
	lan := []netip.Prefix{netip.MustParsePrefix("fd00:10::/64")}
	only80 := FilterFunc(func(_, dst netip.Addr, _ uint8, port uint16) bool { return dst == dev && port == 80 })
	g := newGuard(GuardConfig{IPv4: addrB4, IPv6: addrB6, MaxFlows: DefaultMaxFlows}, nil)
	g.filter.set(only80)
	g.routes.cur.Store(&routeSet{prefixes: lan})
	if !g.inbound(tcpPacket(addrA6, dev, 40000, 80, tcpSYN), 1) {
		t.Fatal("a granted SYN to a routed IPv6 device was dropped")
	}
	if !g.outbound(tcpPacket(dev, addrA6, 80, 40000, tcpSYN|tcpACK), 2) {
		t.Fatal("the routed IPv6 flow's SYN-ACK was dropped")
	}
	if g.inbound(tcpPacket(addrA6, dev, 40000, 22, tcpSYN), 3) {
		t.Error("an ungranted port of a routed IPv6 device passed")
	}
}
