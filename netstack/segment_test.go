package netstack

import (
	"bytes"
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// gsoSegment builds a TCP segment as gVisor hands it to a host-GSO link
// endpoint: headers for the whole payload, a partial checksum, GSO
// options with the MSS.
func gsoSegment(src, dst netip.Addr, seq uint32, flags header.TCPFlags, payload []byte, mss uint16) *stack.PacketBuffer {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{ReserveHeaderBytes: 128, Payload: buffer.MakeWithData(payload)})
	tcp := header.TCP(pkt.TransportHeader().Push(header.TCPMinimumSize))
	tcp.Encode(&header.TCPFields{SrcPort: 40000, DstPort: 5001, SeqNum: seq, AckNum: 7, DataOffset: header.TCPMinimumSize,
		Flags: flags, WindowSize: 1000})
	tcp.SetChecksum(0x1234) // a partial checksum, which the segmenter must replace
	gso := stack.GSO{Type: stack.GSOTCPv4, NeedsCsum: true, MSS: mss, L3HdrLen: header.IPv4MinimumSize}
	if src.Is4() {
		ip := header.IPv4(pkt.NetworkHeader().Push(header.IPv4MinimumSize))
		ip.Encode(&header.IPv4Fields{TotalLength: uint16(pkt.Size()), ID: 100, TTL: 64, Protocol: uint8(header.TCPProtocolNumber),
			SrcAddr: tcpip.AddrFrom4(src.As4()), DstAddr: tcpip.AddrFrom4(dst.As4())})
		pkt.NetworkProtocolNumber = header.IPv4ProtocolNumber
	} else {
		ip := header.IPv6(pkt.NetworkHeader().Push(header.IPv6MinimumSize))
		ip.Encode(&header.IPv6Fields{PayloadLength: uint16(pkt.Size() - header.IPv6MinimumSize), TransportProtocol: header.TCPProtocolNumber,
			HopLimit: 64, SrcAddr: tcpip.AddrFrom16(src.As16()), DstAddr: tcpip.AddrFrom16(dst.As16())})
		pkt.NetworkProtocolNumber = header.IPv6ProtocolNumber
		gso.Type, gso.L3HdrLen = stack.GSOTCPv6, header.IPv6MinimumSize
	}
	pkt.GSOOptions = gso
	return pkt
}

// TestHostGSOSegmentsBecomeValidPackets queues large segments as gVisor
// does with host GSO and reads them as wireguard-go does, with fewer
// buffers than the segments need: every packet must fit the MSS, carry
// valid IP and TCP checksums (a kernel peer checks them), consecutive
// sequence numbers, FIN and PSH on the last packet only, and the payload
// must arrive whole and in order.
func TestHostGSOSegmentsBecomeValidPackets(t *testing.T) {
	const mss = 1380
	for _, tc := range []struct {
		name     string
		src, dst netip.Addr
		size     int
	}{
		{"ipv4", addrA4, addrB4, 40*mss + 17},
		{"ipv6", addrA6, addrB6, 3*mss - 1},
		{"ipv4 one packet", addrA4, addrB4, 200},
		{"ipv4 no payload", addrA4, addrB4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStack(t, nil, addrA4, addrA6)
			payload := make([]byte, tc.size)
			for i := range payload {
				payload[i] = byte(i * 7)
			}
			const seq = 0xfffff000 // wraps within the segment
			if !s.out.push(gsoSegment(tc.src, tc.dst, seq, header.TCPFlagAck|header.TCPFlagPsh|header.TCPFlagFin, payload, mss)) {
				t.Fatal("queue refused the segment")
			}
			var got []byte
			wantPkts := max(1, (tc.size+mss-1)/mss)
			nextSeq := uint32(seq)
			for pkts := 0; pkts < wantPkts; {
				bufs := make([][]byte, 4) // fewer than a segment needs
				for i := range bufs {
					bufs[i] = make([]byte, 16+1500)
				}
				sizes := make([]int, len(bufs))
				n, err := s.Read(bufs, sizes, 16)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				for i := range n {
					pkts++
					last := pkts == wantPkts
					data := checkSegmentPacket(t, bufs[i][16:16+sizes[i]], mss, nextSeq, last)
					nextSeq += uint32(len(data))
					got = append(got, data...)
				}
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload of %d bytes arrived as %d bytes, or changed", len(payload), len(got))
			}
		})
	}
}

// A Read returns at most Config.ReadBatch packets though wireguard-go
// offers 128 buffers (it holds one 64 KiB buffer per packet a Read may
// fill: the ones never filled are never written), and the packets of a
// segment longer than that come whole and in order over the next Reads.
func TestReadReturnsAtMostReadBatch(t *testing.T) {
	const mss = 1380
	for _, tc := range []struct {
		name  string
		cfg   Config
		batch int
	}{
		{"default", Config{}, DefaultReadBatch},
		{"configured", Config{ReadBatch: 5}, 5},
		{"legacy", Config{LegacyDataPath: true}, batchSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStack(t, &tc.cfg, addrA4, addrA6)
			wantPkts := 0
			var payload []byte
			for i := range 3 { // 3 segments of 45 packets: more than any batch
				seg := make([]byte, 45*mss)
				for j := range seg {
					seg[j] = byte(i*45*mss + j)
				}
				if !s.out.push(gsoSegment(addrA4, addrB4, uint32(len(payload)), header.TCPFlagAck, seg, mss)) {
					t.Fatal("queue refused the segment")
				}
				payload = append(payload, seg...)
				wantPkts += 45
			}
			var got []byte
			bufs := make([][]byte, batchSize)
			for i := range bufs {
				bufs[i] = make([]byte, 16+1500)
			}
			sizes := make([]int, len(bufs))
			for pkts := 0; pkts < wantPkts; {
				n, err := s.Read(bufs, sizes, 16)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if n > tc.batch || (n < tc.batch && pkts+n < wantPkts) {
					t.Fatalf("read returned %d packets with %d to come, want %d", n, wantPkts-pkts, tc.batch)
				}
				for i := range n {
					data := checkSegmentPacket(t, bufs[i][16:16+sizes[i]], mss, uint32(len(got)), false)
					got = append(got, data...)
				}
				pkts += n
			}
			if !bytes.Equal(got, payload) {
				t.Fatalf("payload of %d bytes arrived as %d bytes, or changed", len(payload), len(got))
			}
		})
	}
}

// checkSegmentPacket checks one packet cut from a segment and returns its
// TCP payload.
func checkSegmentPacket(t *testing.T, b []byte, mss int, seq uint32, last bool) []byte {
	t.Helper()
	var src, dst tcpip.Address
	var tcp header.TCP
	if b[0]>>4 == 4 {
		ip := header.IPv4(b)
		if !ip.IsValid(len(b)) || int(ip.TotalLength()) != len(b) || ip.CalculateChecksum() != 0xffff {
			t.Fatalf("bad IPv4 header: total %d of %d bytes, checksum sum %#x", ip.TotalLength(), len(b), ip.CalculateChecksum())
		}
		src, dst, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	} else {
		ip := header.IPv6(b)
		if int(ip.PayloadLength())+header.IPv6MinimumSize != len(b) {
			t.Fatalf("bad IPv6 payload length %d for %d bytes", ip.PayloadLength(), len(b))
		}
		src, dst, tcp = ip.SourceAddress(), ip.DestinationAddress(), header.TCP(ip.Payload())
	}
	data := tcp.Payload()
	if len(data) > mss {
		t.Fatalf("packet carries %d payload bytes, more than the MSS %d", len(data), mss)
	}
	if !tcp.IsChecksumValid(src, dst, checksum.Checksum(data, 0), uint16(len(data))) {
		t.Fatal("bad TCP checksum")
	}
	if tcp.SequenceNumber() != seq {
		t.Fatalf("sequence number %#x, want %#x", tcp.SequenceNumber(), seq)
	}
	fin := tcp.Flags()&(header.TCPFlagFin|header.TCPFlagPsh) != 0
	if fin != last || tcp.Flags()&header.TCPFlagAck == 0 {
		t.Fatalf("flags %v on packet (last: %v)", tcp.Flags(), last)
	}
	return data
}
