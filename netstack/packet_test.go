package netstack

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePacket(t *testing.T) {
	a4, b4 := addrA4, addrB4
	a6, b6 := addrA6, addrB6
	withFrag := func(b []byte, v uint16) []byte {
		binary.BigEndian.PutUint16(b[6:8], v)
		return b
	}
	withByte := func(b []byte, i int, v byte) []byte {
		b[i] = v
		return b
	}
	tests := []struct {
		name    string
		pkt     []byte
		want    packet
		wantErr error
	}{
		{"tcp4 syn", tcpPacket(a4, b4, 1234, 80, tcpSYN),
			packet{src: a4, dst: b4, srcPort: 1234, dstPort: 80, proto: ProtoTCP, tcpFlags: tcpSYN}, nil},
		{"tcp6 ack", tcpPacket(a6, b6, 1234, 443, tcpACK),
			packet{src: a6, dst: b6, srcPort: 1234, dstPort: 443, proto: ProtoTCP, tcpFlags: tcpACK}, nil},
		{"udp4", udp4Packet(a4, b4, 5000, 53, []byte("q")),
			packet{src: a4, dst: b4, srcPort: 5000, dstPort: 53, proto: ProtoUDP}, nil},
		{"icmp4 echo request", ipPacket(a4, b4, ProtoICMP, icmpEcho(icmp4EchoRequest, 77)),
			packet{src: a4, dst: b4, srcPort: 77, dstPort: 77, proto: ProtoICMP, icmpType: icmp4EchoRequest}, nil},
		{"icmp6 echo reply", ipPacket(a6, b6, ProtoICMPv6, icmpEcho(icmp6EchoReply, 9)),
			packet{src: a6, dst: b6, srcPort: 9, dstPort: 9, proto: ProtoICMPv6, icmpType: icmp6EchoReply}, nil},
		{"ipv6 hop-by-hop then udp", ipPacket(a6, b6, ip6HopByHop, append([]byte{ProtoUDP, 0, 0, 0, 0, 0, 0, 0}, udpHeader(1, 2, nil)...)),
			packet{src: a6, dst: b6, srcPort: 1, dstPort: 2, proto: ProtoUDP}, nil},
		{"empty", nil, packet{}, errTruncated},
		{"version 5", []byte{0x50, 0, 0, 0}, packet{}, errVersion},
		{"short ipv4", tcpPacket(a4, b4, 1, 2, tcpSYN)[:19], packet{}, errTruncated},
		{"ihl below 5", withByte(tcpPacket(a4, b4, 1, 2, tcpSYN), 0, 0x44), packet{}, errHeaderLen},
		{"total length past end", tcpPacket(a4, b4, 1, 2, tcpSYN)[:30], packet{}, errTruncated},
		{"first fragment", withFrag(tcpPacket(a4, b4, 1, 2, tcpSYN), 0x2000), packet{}, errFragment},
		{"later fragment", withFrag(tcpPacket(a4, b4, 1, 2, tcpSYN), 0x0010), packet{}, errFragment},
		{"ipv6 fragment header", ipPacket(a6, b6, ip6Fragment, make([]byte, 16)), packet{}, errFragment},
		{"ipv6 routing header", ipPacket(a6, b6, ip6Routing, make([]byte, 16)), packet{}, errExtHeader},
		{"ipv6 extension past end", ipPacket(a6, b6, ip6DestOpts, []byte{ProtoUDP, 9, 0, 0}), packet{}, errTruncated},
		{"tcp data offset too big", withByte(tcpPacket(a4, b4, 1, 2, tcpSYN), 32, 0xf0), packet{}, errTransport},
		{"short udp", ipPacket(a4, b4, ProtoUDP, []byte{1, 2, 3}), packet{}, errTransport},
		{"icmp4 in ipv6", ipPacket(a6, b6, ProtoICMP, icmpEcho(icmp4EchoRequest, 1)), packet{}, errProtocol},
		{"icmp unreachable", ipPacket(a4, b4, ProtoICMP, icmpEcho(3, 1)), packet{}, errNotEchoICMP},
		{"sctp", ipPacket(a4, b4, 132, make([]byte, 12)), packet{}, errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got packet
			err := parsePacket(tt.pkt, &got)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parsePacket error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(packet{}, quotedFlow{}), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
				t.Fatalf("parsePacket mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePacketDoesNotAllocate(t *testing.T) {
	b := tcpPacket(addrA6, addrB6, 1, 2, tcpSYN)
	var p packet
	if n := testing.AllocsPerRun(100, func() { _ = parsePacket(b, &p) }); n != 0 {
		t.Fatalf("parsePacket allocates %v times per packet", n)
	}
}

// FuzzParsePacket feeds arbitrary bytes to the parser and, through the
// guard, to the whole inbound decision: nothing may panic, and an accepted
// packet must be self-consistent.
func FuzzParsePacket(f *testing.F) {
	f.Add(tcpPacket(addrA4, addrB4, 1234, 80, tcpSYN))
	f.Add(tcpPacket(addrA6, addrB6, 1234, 80, tcpACK|tcpFIN))
	f.Add(udp4Packet(addrA4, addrB4, 1, 53, []byte("x")))
	f.Add(ipPacket(addrA6, addrB6, ProtoICMPv6, icmpEcho(icmp6EchoRequest, 3)))
	f.Add(ipPacket(addrA6, addrB6, ip6HopByHop, append([]byte{ProtoTCP, 0, 0, 0, 0, 0, 0, 0}, tcpHeader(1, 2, tcpSYN)...)))
	g := newFuzzGuard()
	f.Fuzz(func(t *testing.T, b []byte) {
		var p packet
		if err := parsePacket(b, &p); err == nil {
			checkParsed(t, b, &p)
		}
		g.inbound(b, 1)
		g.outbound(b, 1)
	})
}

func checkParsed(t *testing.T, b []byte, p *packet) {
	t.Helper()
	if !p.src.IsValid() || !p.dst.IsValid() || p.src.Is4() != (b[0]>>4 == 4) {
		t.Fatalf("parsed addresses %v -> %v from version %d", p.src, p.dst, b[0]>>4)
	}
	switch p.proto {
	case ProtoTCP, ProtoUDP:
	case ProtoICMP, ProtoICMPv6:
		if p.srcPort != p.dstPort || (!isEchoRequest(p) && !isEchoReply(p)) {
			t.Fatalf("accepted icmp %+v", p)
		}
	default:
		t.Fatalf("accepted protocol %d", p.proto)
	}
}

// newFuzzGuard is a guard for node B that allows everything and serves
// port 80.
func newFuzzGuard() *guard {
	cfg := Config{IPv4: addrB4, IPv6: addrB6, MaxFlows: minFlows}
	var svc services
	svc.init([]Service{{ProtoTCP, 80}, {ProtoUDP, 53}})
	g := newGuard(cfg.guardConfig(), &svc)
	g.filter.set(allowAll)
	return g
}
