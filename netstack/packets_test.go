package netstack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// ipPacket wraps payload in an IPv4 or IPv6 header (by src's family) with
// transport protocol proto.
func ipPacket(src, dst netip.Addr, proto uint8, payload []byte) []byte {
	if src.Is6() {
		b := make([]byte, 40+len(payload))
		b[0] = 6 << 4
		binary.BigEndian.PutUint16(b[4:6], uint16(len(payload)))
		b[6], b[7] = proto, 64
		s, d := src.As16(), dst.As16()
		copy(b[8:24], s[:])
		copy(b[24:40], d[:])
		copy(b[40:], payload)
		return b
	}
	b := make([]byte, 20+len(payload))
	b[0] = 4<<4 | 5
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	b[8], b[9] = 64, proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:12], ^onesSum(b[:20]))
	copy(b[20:], payload)
	return b
}

// onesSum is the Internet checksum's ones'-complement sum of b.
func onesSum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// tcpHeader is a 20-byte TCP header (checksum left zero).
func tcpHeader(srcPort, dstPort uint16, flags uint8) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	b[12] = 5 << 4
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:16], 65535)
	return b
}

// udpHeader is a UDP header and payload with no checksum.
func udpHeader(srcPort, dstPort uint16, payload []byte) []byte {
	b := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:2], srcPort)
	binary.BigEndian.PutUint16(b[2:4], dstPort)
	binary.BigEndian.PutUint16(b[4:6], uint16(len(b)))
	copy(b[8:], payload)
	return b
}

// icmpEcho is an ICMP echo message of type typ with identifier id.
func icmpEcho(typ uint8, id uint16) []byte {
	b := make([]byte, 8)
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:6], id)
	return b
}

func tcpPacket(src, dst netip.Addr, srcPort, dstPort uint16, flags uint8) []byte {
	return ipPacket(src, dst, ProtoTCP, tcpHeader(srcPort, dstPort, flags))
}

func udp4Packet(src, dst netip.Addr, srcPort, dstPort uint16, payload []byte) []byte {
	return ipPacket(src, dst, ProtoUDP, udpHeader(srcPort, dstPort, payload))
}

// injectOutbound queues a hand-made packet as if gVisor had sent it.
func (s *Stack) injectOutbound(tb testing.TB, b []byte) {
	tb.Helper()
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	if !s.out.push(pkt) {
		pkt.DecRef()
		tb.Fatal("outbound queue refused the packet")
	}
}
