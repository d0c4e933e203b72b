package netstack

import (
	"encoding/binary"
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	tcpipsum "gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// ICMP destination-unreachable messages this node answers a cut UDP flow
// with: port unreachable, which the peer's stack reports to the socket as
// "connection refused".
const (
	icmp4DestUnreachable = 3
	icmp4PortUnreachable = 3
	icmp6DestUnreachable = 1
	icmp6PortUnreachable = 4
	// maxQuote4 and maxQuote6 bound how much of the offending packet an
	// ICMP error quotes (RFC 1812 4.3.2.3: at most 576 bytes in all; RFC
	// 4443 2.4: at most the minimum IPv6 MTU).
	maxQuote4 = 576 - header.IPv4MinimumSize - header.ICMPv4MinimumSize
	maxQuote6 = header.IPv6MinimumMTU - header.IPv6MinimumSize - header.ICMPv6MinimumSize
	// answerTTL is the TTL or hop limit of the answers.
	answerTTL = 64
)

// answerFor returns what this node sends back for packet b (parsed into
// p) of a flow the Filter cut: a TCP RST for a TCP segment, an ICMP port
// unreachable for a UDP datagram, nil for anything else (a RST is never
// answered). The answer goes only to the peer that sent b, and is never
// much larger than b, so it cannot be used to reflect traffic at anyone.
func answerFor(b []byte, p *packet) []byte {
	switch {
	case p.proto == ProtoTCP && p.tcpFlags&tcpRST == 0:
		return resetFor(b, p)
	case p.proto == ProtoUDP:
		return unreachableFor(b, p)
	default:
		return nil
	}
}

// resetFor builds the RST that answers TCP segment b (parsed into p) as
// RFC 9293 section 3.10.7.1 answers a segment of no connection: with the
// segment's acknowledgment number as its sequence number when it has one,
// else acknowledging everything the segment occupies.
func resetFor(b []byte, p *packet) []byte {
	t := transportOf(b)
	seg := header.TCP(t)
	f := header.TCPFields{
		SrcPort:    p.dstPort,
		DstPort:    p.srcPort,
		DataOffset: header.TCPMinimumSize,
		Flags:      header.TCPFlagRst,
	}
	if seg.Flags().Contains(header.TCPFlagAck) {
		f.SeqNum = seg.AckNumber()
	} else {
		n := uint32(len(t) - int(seg.DataOffset()))
		if seg.Flags().Contains(header.TCPFlagSyn) {
			n++
		}
		if seg.Flags().Contains(header.TCPFlagFin) {
			n++
		}
		f.AckNum = seg.SequenceNumber() + n
		f.Flags |= header.TCPFlagAck
	}
	out, tr := ipHeader(p.dst, p.src, ProtoTCP, header.TCPMinimumSize)
	tcp := header.TCP(tr)
	tcp.Encode(&f)
	xsum := header.PseudoHeaderChecksum(header.TCPProtocolNumber, addrOf(p.dst), addrOf(p.src), header.TCPMinimumSize)
	tcp.SetChecksum(^tcp.CalculateChecksum(xsum))
	return out
}

// unreachableFor builds the ICMP port unreachable that answers UDP
// datagram b (parsed into p), quoting as much of b as the RFCs allow.
func unreachableFor(b []byte, p *packet) []byte {
	if p.src.Is4() {
		quote := b[:min(len(b), maxQuote4)]
		out, t := ipHeader(p.dst, p.src, ProtoICMP, header.ICMPv4MinimumSize+len(quote))
		m := header.ICMPv4(t)
		m.SetType(icmp4DestUnreachable)
		m.SetCode(icmp4PortUnreachable)
		copy(m[header.ICMPv4MinimumSize:], quote)
		m.SetChecksum(^icmpSum(m, 0))
		return out
	}
	quote := b[:min(len(b), maxQuote6)]
	out, t := ipHeader(p.dst, p.src, ProtoICMPv6, header.ICMPv6MinimumSize+len(quote))
	m := header.ICMPv6(t)
	m.SetType(icmp6DestUnreachable)
	m.SetCode(icmp6PortUnreachable)
	copy(m[header.ICMPv6MinimumSize:], quote)
	xsum := header.PseudoHeaderChecksum(header.ICMPv6ProtocolNumber, addrOf(p.dst), addrOf(p.src), uint16(len(m)))
	m.SetChecksum(^icmpSum(m, xsum))
	return out
}

// ipHeader returns a new packet from src to dst with a transport part of
// n bytes, its IP header filled in, and that transport part.
func ipHeader(src, dst netip.Addr, proto uint8, n int) (pkt, transport []byte) {
	if src.Is4() {
		pkt = make([]byte, header.IPv4MinimumSize+n)
		ip := header.IPv4(pkt)
		ip.Encode(&header.IPv4Fields{
			TotalLength: uint16(len(pkt)),
			TTL:         answerTTL,
			Protocol:    proto,
			SrcAddr:     addrOf(src),
			DstAddr:     addrOf(dst),
		})
		ip.SetChecksum(^ip.CalculateChecksum())
		return pkt, pkt[header.IPv4MinimumSize:]
	}
	pkt = make([]byte, header.IPv6MinimumSize+n)
	header.IPv6(pkt).Encode(&header.IPv6Fields{
		PayloadLength:     uint16(n),
		TransportProtocol: tcpip.TransportProtocolNumber(proto),
		HopLimit:          answerTTL,
		SrcAddr:           addrOf(src),
		DstAddr:           addrOf(dst),
	})
	return pkt, pkt[header.IPv6MinimumSize:]
}

// transportOf returns the transport part of IP packet b, which
// parsePacket has accepted (IPv6 extension headers included).
func transportOf(b []byte) []byte {
	if b[0]>>4 == 4 {
		total := int(binary.BigEndian.Uint16(b[2:4]))
		return b[int(b[0]&0x0f)*4 : total]
	}
	end := header.IPv6MinimumSize + int(binary.BigEndian.Uint16(b[4:6]))
	next, off := b[6], header.IPv6MinimumSize
	for next == ip6HopByHop || next == ip6DestOpts {
		next, off = b[off], off+(int(b[off+1])+1)*8
	}
	return b[off:end]
}

// icmpSum is the Internet checksum's ones'-complement sum of b, starting
// from initial.
func icmpSum(b []byte, initial uint16) uint16 {
	return tcpipsum.Checksum(b, initial)
}

// addrOf converts a to gVisor's address type.
func addrOf(a netip.Addr) tcpip.Address {
	return tcpip.AddrFromSlice(a.AsSlice())
}
