package netstack

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// TCP flags used by the filter.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// ICMP message types used by the filter.
const (
	icmp4EchoReply   = 0
	icmp4EchoRequest = 8
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

// IPv6 extension headers the parser walks over or refuses.
const (
	ip6HopByHop   = 0
	ip6Routing    = 43
	ip6Fragment   = 44
	ip6DestOpts   = 60
	maxExtHeaders = 4
)

// Reasons a packet cannot be judged. They are sentinels, so returning one
// does not allocate.
var (
	errTruncated   = errors.New("truncated packet")
	errVersion     = errors.New("unknown ip version")
	errHeaderLen   = errors.New("bad ip header length")
	errFragment    = errors.New("ip fragment")
	errExtHeader   = errors.New("unsupported ipv6 extension header")
	errProtocol    = errors.New("unsupported transport protocol")
	errTransport   = errors.New("bad transport header")
	errBadAddress  = errors.New("bad source or destination address")
	errNotEchoICMP = errors.New("icmp message is not an echo")
)

// packet is what the filter needs to know about one IP packet. For ICMP
// echo messages both ports hold the echo identifier, so an echo request and
// its reply share a flow key.
type packet struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	tcpFlags         uint8
	icmpType         uint8
	// icmpErr is set for an ICMP destination unreachable whose quoted
	// packet is a TCP segment or UDP datagram; quoted then names it.
	icmpErr bool
	quoted  quotedFlow
}

// quotedFlow is the flow of the packet an ICMP error quotes, as that
// packet was sent.
type quotedFlow struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
}

// parsePacket fills p from the IP packet b. It never panics and never
// allocates; it returns one of the err* sentinels for a packet the filter
// cannot judge.
func parsePacket(b []byte, p *packet) error {
	if len(b) == 0 {
		return errTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return parseIPv4(b, p)
	case 6:
		return parseIPv6(b, p)
	default:
		return errVersion
	}
}

func parseIPv4(b []byte, p *packet) error {
	if len(b) < 20 {
		return errTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total < ihl {
		return errHeaderLen
	}
	if total > len(b) {
		return errTruncated
	}
	// More-fragments flag or a non-zero offset: ports cannot be judged.
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return errFragment
	}
	p.src = netip.AddrFrom4([4]byte(b[12:16]))
	p.dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.proto = b[9]
	return parseTransport(b[ihl:total], p, false)
}

func parseIPv6(b []byte, p *packet) error {
	if len(b) < 40 {
		return errTruncated
	}
	end := 40 + int(binary.BigEndian.Uint16(b[4:6]))
	if end > len(b) {
		return errTruncated
	}
	p.src = netip.AddrFrom16([16]byte(b[8:24]))
	p.dst = netip.AddrFrom16([16]byte(b[24:40]))
	next, off := b[6], 40
	for range maxExtHeaders {
		if next != ip6HopByHop && next != ip6DestOpts {
			break
		}
		if off+2 > end {
			return errTruncated
		}
		next, off = b[off], off+(int(b[off+1])+1)*8
	}
	if off > end {
		return errTruncated
	}
	switch next {
	case ip6HopByHop, ip6DestOpts, ip6Routing:
		return errExtHeader
	case ip6Fragment:
		return errFragment
	}
	p.proto = next
	return parseTransport(b[off:end], p, true)
}

// parseTransport fills the transport fields of p from the transport header
// and payload t.
func parseTransport(t []byte, p *packet, v6 bool) error {
	p.srcPort, p.dstPort, p.tcpFlags, p.icmpType, p.icmpErr = 0, 0, 0, 0, false
	switch p.proto {
	case ProtoTCP:
		if len(t) < 20 {
			return errTransport
		}
		if off := int(t[12]>>4) * 4; off < 20 || off > len(t) {
			return errTransport
		}
		p.tcpFlags = t[13]
	case ProtoUDP:
		if len(t) < 8 {
			return errTransport
		}
	case ProtoICMP, ProtoICMPv6:
		return parseICMP(t, p, v6)
	default:
		return errProtocol
	}
	p.srcPort = binary.BigEndian.Uint16(t[0:2])
	p.dstPort = binary.BigEndian.Uint16(t[2:4])
	return nil
}

// parseICMP accepts only echo requests and replies, and destination
// unreachable messages that quote a TCP or UDP packet, of the ICMP version
// that matches the IP version.
func parseICMP(t []byte, p *packet, v6 bool) error {
	if v6 != (p.proto == ProtoICMPv6) {
		return errProtocol
	}
	if len(t) < 8 {
		return errTransport
	}
	p.icmpType = t[0]
	if isUnreachable(p) {
		if parseQuoted(t[8:], v6, &p.quoted) != nil {
			return errNotEchoICMP
		}
		p.icmpErr = true
		return nil
	}
	if !isEchoRequest(p) && !isEchoReply(p) {
		return errNotEchoICMP
	}
	id := binary.BigEndian.Uint16(t[4:6])
	p.srcPort, p.dstPort = id, id
	return nil
}

func isUnreachable(p *packet) bool {
	return (p.proto == ProtoICMP && p.icmpType == icmp4DestUnreachable) ||
		(p.proto == ProtoICMPv6 && p.icmpType == icmp6DestUnreachable)
}

// parseQuoted fills q from the start of the packet an ICMP error quotes:
// an IP header without extension headers or fragmentation, then at least
// the ports of a TCP or UDP header. The quote may be cut short after
// them.
func parseQuoted(b []byte, v6 bool, q *quotedFlow) error {
	var t []byte
	switch {
	case !v6 && len(b) >= 20 && b[0]>>4 == 4:
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || ihl > len(b) || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return errHeaderLen
		}
		q.src, q.dst, q.proto = netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])), b[9]
		t = b[ihl:]
	case v6 && len(b) >= 40 && b[0]>>4 == 6:
		q.src, q.dst, q.proto = netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), b[6]
		t = b[40:]
	default:
		return errTruncated
	}
	if (q.proto != ProtoTCP && q.proto != ProtoUDP) || len(t) < 4 {
		return errTransport
	}
	q.srcPort, q.dstPort = binary.BigEndian.Uint16(t[0:2]), binary.BigEndian.Uint16(t[2:4])
	return nil
}

func isEchoRequest(p *packet) bool {
	return (p.proto == ProtoICMP && p.icmpType == icmp4EchoRequest) ||
		(p.proto == ProtoICMPv6 && p.icmpType == icmp6EchoRequest)
}

func isEchoReply(p *packet) bool {
	return (p.proto == ProtoICMP && p.icmpType == icmp4EchoReply) ||
		(p.proto == ProtoICMPv6 && p.icmpType == icmp6EchoReply)
}

// startsFlow reports whether p opens a new flow: a TCP SYN without ACK, any
// UDP datagram, an ICMP echo request.
func (p *packet) startsFlow() bool {
	switch p.proto {
	case ProtoTCP:
		return p.tcpFlags&(tcpSYN|tcpACK|tcpRST) == tcpSYN
	case ProtoUDP:
		return true
	default:
		return isEchoRequest(p)
	}
}

// filterPort is the port passed to Filter.Allow: the destination port for
// TCP and UDP, 0 for ICMP.
func (p *packet) filterPort() uint16 {
	if p.proto == ProtoTCP || p.proto == ProtoUDP {
		return p.dstPort
	}
	return 0
}
