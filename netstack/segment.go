package netstack

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// segmenter turns the packets gVisor queued into IP packets for
// wireguard-go. With host GSO (linkEndpoint.SupportedGSO), gVisor hands
// over TCP segments of up to gsoMaxSize bytes with a partial checksum; the
// segmenter cuts each into packets of at most the segment's MSS, straight
// into wireguard-go's buffers, and completes every checksum. One copy per
// byte, one header build per packet: gVisor's own segmentation costs a
// packet buffer, a copy and a pass through its IP layer per packet.
// Other packets are copied as they are.
//
// A segment may need more packets than one Read has buffers for: the
// segmenter keeps it, and the next Read goes on where this one stopped.
// It is used by one reader at a time (Stack.Read holds readMu).
type segmenter struct {
	// pending are packets popped from the queue and not yet emitted,
	// pend[next:] of them; each holds a reference.
	pend [batchSize]*stack.PacketBuffer
	next int
	n    int

	// cur is the segment being cut (nil: none), with its headers (network
	// and transport, copied into every packet), its MSS, its payload size
	// and how much of it is emitted, and a cursor into its payload.
	cur   *stack.PacketBuffer
	hdr   [maxSegHeader]byte
	nhLen int // network header length
	hLen  int // network + transport header length
	mss   int
	total int
	done  int
	view  *buffer.View
	voff  int
}

// maxSegHeader is the largest network plus transport header of a segment:
// an IPv6 header with room for extension headers, or an IPv4 header with
// options, and a TCP header with options.
const maxSegHeader = 128 + 60

// drop drops the segment being cut, if any.
func (sg *segmenter) drop() {
	if sg.cur != nil {
		sg.cur.DecRef()
		sg.cur, sg.view = nil, nil
	}
}

// release drops every packet the segmenter holds.
func (sg *segmenter) release() {
	sg.drop()
	for ; sg.next < sg.n; sg.next++ {
		sg.pend[sg.next].DecRef()
		sg.pend[sg.next] = nil
	}
}

// take pops the next queued packet into the segmenter, from its pending
// ones or the queue; it reports false when there is none.
func (sg *segmenter) take(q *packetQueue) (*stack.PacketBuffer, bool) {
	if sg.next == sg.n {
		sg.next, sg.n = 0, q.pop(sg.pend[:])
		if sg.n == 0 {
			return nil, false
		}
	}
	pkt := sg.pend[sg.next]
	sg.pend[sg.next] = nil
	sg.next++
	return pkt, true
}

// isHostGSO reports whether pkt is a TCP segment gVisor left for the link
// endpoint to cut and checksum.
func isHostGSO(pkt *stack.PacketBuffer) bool {
	t := pkt.GSOOptions.Type
	return t == stack.GSOTCPv4 || t == stack.GSOTCPv6
}

// start makes pkt, a host-GSO segment, the one being cut. It reports false
// (and releases pkt) when its headers are not what a segment's are.
func (sg *segmenter) start(pkt *stack.PacketBuffer) bool {
	nh, th := pkt.NetworkHeader().Slice(), pkt.TransportHeader().Slice()
	mss := int(pkt.GSOOptions.MSS)
	if len(nh)+len(th) > len(sg.hdr) || len(th) < header.TCPMinimumSize || len(nh) == 0 || mss <= 0 {
		pkt.DecRef()
		return false
	}
	sg.nhLen = copy(sg.hdr[:], nh)
	sg.hLen = sg.nhLen + copy(sg.hdr[sg.nhLen:], th)
	sg.mss = mss
	sg.total = pkt.Size() - sg.hLen
	sg.done = 0
	sg.cur = pkt
	views, off := pkt.AsViewList()
	sg.view, sg.voff = views.Front(), off+sg.hLen
	sg.skipEmpty()
	return true
}

// skipEmpty moves the payload cursor past exhausted views.
func (sg *segmenter) skipEmpty() {
	for sg.view != nil && sg.voff >= sg.view.Size() {
		sg.voff -= sg.view.Size()
		sg.view = sg.view.Next()
	}
}

// emit writes the next packet of the current segment to dst, which must
// hold hLen+mss bytes, and returns its size; when the segment is done it
// releases it.
func (sg *segmenter) emit(dst []byte) int {
	n := min(sg.mss, sg.total-sg.done)
	first, last := sg.done == 0, sg.done+n == sg.total
	copy(dst, sg.hdr[:sg.hLen])
	sg.copyPayload(dst[sg.hLen : sg.hLen+n])
	size := sg.hLen + n
	ip, tcp := dst[:sg.nhLen], header.TCP(dst[sg.nhLen:size])
	tcp.SetSequenceNumber(header.TCP(sg.hdr[sg.nhLen:sg.hLen]).SequenceNumber() + uint32(sg.done))
	flags := tcp.Flags()
	if !last {
		flags &^= header.TCPFlagFin | header.TCPFlagPsh
	}
	if !first {
		flags &^= header.TCPFlagCwr
	}
	tcp.SetFlags(uint8(flags))
	var addrs []byte
	if ip[0]>>4 == 4 {
		v4 := header.IPv4(ip)
		v4.SetTotalLength(uint16(size))
		v4.SetID(header.IPv4(sg.hdr[:]).ID() + uint16(sg.done/sg.mss))
		v4.SetChecksum(0)
		v4.SetChecksum(^v4.CalculateChecksum())
		addrs = ip[12:20]
	} else {
		header.IPv6(ip).SetPayloadLength(uint16(size - header.IPv6MinimumSize))
		addrs = ip[8:40]
	}
	tcpLen := size - sg.nhLen
	pseudo := checksum.Combine(checksum.Checksum(addrs, 0), uint16(header.TCPProtocolNumber))
	pseudo = checksum.Combine(pseudo, uint16(tcpLen))
	tcp.SetChecksum(0)
	tcp.SetChecksum(^checksum.Checksum(tcp, pseudo))
	sg.done += n
	if last {
		sg.drop()
	}
	return size
}

// copyPayload fills dst from the payload cursor and advances it.
func (sg *segmenter) copyPayload(dst []byte) {
	for len(dst) > 0 && sg.view != nil {
		k := copy(dst, sg.view.AsSlice()[sg.voff:])
		dst = dst[k:]
		sg.voff += k
		sg.skipEmpty()
	}
}
