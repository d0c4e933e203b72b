package netstack

import (
	"net/netip"
	"testing"
)

// TestGuardRoutesOnlyAllowedFlowsToRoutedAddresses: a packet to an
// address of a routed prefix is judged like one to the node's own address
// (the filter decides per destination and port, the flow is tracked, its
// replies go out); without the route, or outside it, or to loopback
// however routed, it is dropped as not for this node; ICMP to a routed
// address is not answered.
func TestGuardRoutesOnlyAllowedFlowsToRoutedAddresses(t *testing.T) {
	dev := netip.MustParseAddr("192.168.10.5")
	only80 := FilterFunc(func(_, dst netip.Addr, _ uint8, port uint16) bool { return dst == dev && port == 80 })
	lan := []netip.Prefix{netip.MustParsePrefix("192.168.10.0/24")}
	tests := []struct {
		name   string
		routes []netip.Prefix
		pkt    []byte
		want   bool
	}{
		{"granted port of a routed device", lan, tcpPacket(addrA4, dev, 40000, 80, tcpSYN), true},
		{"other port of a routed device", lan, tcpPacket(addrA4, dev, 40000, 22, tcpSYN), false},
		{"granted port, route not set", nil, tcpPacket(addrA4, dev, 40000, 80, tcpSYN), false},
		{"outside the route", lan, tcpPacket(addrA4, netip.MustParseAddr("192.168.11.5"), 40000, 80, tcpSYN), false},
		{"loopback is never routed", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, tcpPacket(addrA4, netip.MustParseAddr("127.0.0.1"), 40000, 80, tcpSYN), false},
		{"udp to a routed device", lan, udp4Packet(addrA4, dev, 7000, 80, nil), true},
		{"ping to a routed device", lan, ipPacket(addrA4, dev, ProtoICMP, icmpEcho(icmp4EchoRequest, 1)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(GuardConfig{IPv4: addrB4, MaxFlows: DefaultMaxFlows}, nil)
			g.filter.set(FilterFunc(func(s, d netip.Addr, p uint8, port uint16) bool { return p == ProtoICMP || only80(s, d, p, port) }))
			g.routes.cur.Store(&routeSet{prefixes: tt.routes})
			if got := g.inbound(tt.pkt, 1); got != tt.want {
				t.Fatalf("inbound = %v, want %v", got, tt.want)
			}
		})
	}
	// The granted flow's reply goes out from the routed address.
	g := newGuard(GuardConfig{IPv4: addrB4, MaxFlows: DefaultMaxFlows}, nil)
	g.filter.set(only80)
	g.routes.cur.Store(&routeSet{prefixes: lan})
	g.inbound(tcpPacket(addrA4, dev, 40000, 80, tcpSYN), 1)
	if !g.outbound(tcpPacket(dev, addrA4, 80, 40000, tcpSYN|tcpACK), 2) || !g.inbound(tcpPacket(addrA4, dev, 40000, 80, tcpACK), 3) {
		t.Fatal("the routed flow's handshake did not pass")
	}
	// Revoked: its packets stop both ways, and revokeDenied hands it to
	// the stack to cut.
	g.filter.set(denyAll)
	if cut := g.revokeDenied(); len(cut) != 1 || cut[0].local != dev {
		t.Fatalf("revokeDenied = %v, want the routed flow", cut)
	}
	if g.inbound(tcpPacket(addrA4, dev, 40000, 80, tcpACK), 4) {
		t.Error("a packet of the revoked routed flow passed")
	}
}
