package guard

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// IP protocol numbers the guard understands.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
)

// TCP flags and ICMP echo types.
const (
	tcpFIN           = 0x01
	tcpSYN           = 0x02
	tcpRST           = 0x04
	tcpACK           = 0x10
	icmp4EchoReply   = 0
	icmp4EchoRequest = 8
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

// IPv6 extension headers walked over (hop-by-hop, destination options) or
// refused (routing, fragment).
const (
	ip6HopByHop   = 0
	ip6Routing    = 43
	ip6Fragment   = 44
	ip6DestOpts   = 60
	maxExtHeaders = 4
)

// Reasons a packet cannot be judged; sentinels, so a refusal allocates
// nothing.
var (
	errTruncated = errors.New("truncated packet")
	errVersion   = errors.New("unknown ip version")
	errHeader    = errors.New("bad ip header")
	errFragment  = errors.New("ip fragment")
	errProtocol  = errors.New("unsupported protocol or icmp type")
	errTransport = errors.New("bad transport header")
)

// packet is what the guard reads from one IP packet. For ICMP echo both
// ports hold the echo identifier, so a request and its reply share a flow.
type packet struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	proto            uint8
	tcpFlags         uint8
	icmpType         uint8
}

// parse fills p from the IP packet b. It never panics and never allocates.
func parse(b []byte, p *packet) error {
	if len(b) == 0 {
		return errTruncated
	}
	switch b[0] >> 4 {
	case 4:
		return parse4(b, p)
	case 6:
		return parse6(b, p)
	}
	return errVersion
}

func parse4(b []byte, p *packet) error {
	if len(b) < 20 {
		return errTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total < ihl {
		return errHeader
	}
	if total > len(b) {
		return errTruncated
	}
	if binary.BigEndian.Uint16(b[6:8])&0x3fff != 0 {
		return errFragment
	}
	p.src = netip.AddrFrom4([4]byte(b[12:16]))
	p.dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.proto = b[9]
	return parseTransport(b[ihl:total], p, false)
}

func parse6(b []byte, p *packet) error {
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
		return errHeader
	case ip6Fragment:
		return errFragment
	}
	p.proto = next
	return parseTransport(b[off:end], p, true)
}

// parseTransport fills the transport fields of p from t.
func parseTransport(t []byte, p *packet, v6 bool) error {
	p.srcPort, p.dstPort, p.tcpFlags, p.icmpType = 0, 0, 0, 0
	switch p.proto {
	case protoTCP:
		if len(t) < 20 {
			return errTransport
		}
		p.tcpFlags = t[13]
	case protoUDP:
		if len(t) < 8 {
			return errTransport
		}
	case protoICMP, protoICMPv6:
		return parseICMP(t, p, v6)
	default:
		return errProtocol
	}
	p.srcPort = binary.BigEndian.Uint16(t[0:2])
	p.dstPort = binary.BigEndian.Uint16(t[2:4])
	return nil
}

// parseICMP accepts echo requests and replies of the matching ICMP version.
func parseICMP(t []byte, p *packet, v6 bool) error {
	if v6 != (p.proto == protoICMPv6) || len(t) < 8 {
		return errProtocol
	}
	p.icmpType = t[0]
	if !p.echoRequest() && !p.echoReply() {
		return errProtocol
	}
	id := binary.BigEndian.Uint16(t[4:6])
	p.srcPort, p.dstPort = id, id
	return nil
}

func (p *packet) echoRequest() bool {
	return (p.proto == protoICMP && p.icmpType == icmp4EchoRequest) || (p.proto == protoICMPv6 && p.icmpType == icmp6EchoRequest)
}

func (p *packet) echoReply() bool {
	return (p.proto == protoICMP && p.icmpType == icmp4EchoReply) || (p.proto == protoICMPv6 && p.icmpType == icmp6EchoReply)
}

// startsFlow reports whether p may open a flow: a TCP SYN without ACK or
// RST, any UDP datagram, an ICMP echo request.
func (p *packet) startsFlow() bool {
	switch p.proto {
	case protoTCP:
		return p.tcpFlags&(tcpSYN|tcpACK|tcpRST) == tcpSYN
	case protoUDP:
		return true
	}
	return p.echoRequest()
}

// filterPort is the port a filter rule matches: the destination port for
// TCP and UDP, 0 for ICMP.
func (p *packet) filterPort() uint16 {
	if p.proto == protoTCP || p.proto == protoUDP {
		return p.dstPort
	}
	return 0
}
