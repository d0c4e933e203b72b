package netstack

import (
	"os"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/stack/gro"
)

// File implements tun.Device: there is no file descriptor.
func (*Stack) File() *os.File { return nil }

// Name implements tun.Device.
func (*Stack) Name() (string, error) { return "ward", nil }

// MTU implements tun.Device.
func (s *Stack) MTU() (int, error) { return s.mtu, nil }

// Events implements tun.Device: it carries one EventUp and is closed by
// Close.
func (s *Stack) Events() <-chan tun.Event { return s.events }

// BatchSize implements tun.Device.
func (*Stack) BatchSize() int { return batchSize }

// Read implements tun.Device. It blocks until gVisor has sent at least one
// packet, then copies up to len(bufs) packets, each to bufs[i][offset:],
// and sets sizes[i]; the large TCP segments of host GSO are cut into
// packets here (segmenter). Packets of revoked flows are dropped here.
// While wireguard-go holds Config.InFlight packets of earlier Reads that
// its bind has not sent yet, Read waits (see Gate).
// After Close it returns os.ErrClosed. wireguard-go calls it from one
// goroutine.
func (s *Stack) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	want := min(len(bufs), len(sizes), s.readBatch)
	if want == 0 {
		return 0, nil
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		s.outGate.Wait(s.ctx.Done())
		if n := s.fill(bufs[:want], sizes, offset); n > 0 {
			s.outGate.Enter(n)
			return n, nil
		}
		if !s.out.wait() {
			s.seg.release()
			return 0, os.ErrClosed
		}
	}
}

// fill copies queued packets (and the packets of queued segments) into
// bufs until they are full or nothing is queued, dropping those the guard
// refuses or that do not fit, and returns how many it copied.
func (s *Stack) fill(bufs [][]byte, sizes []int, offset int) int {
	sg := &s.seg
	now := s.guard.ct.now()
	n := 0
	for n < len(bufs) {
		if sg.cur == nil {
			pkt, ok := sg.take(s.out)
			if !ok {
				break
			}
			if isHostGSO(pkt) {
				if !sg.start(pkt) {
					s.guard.n.outDropped.Add(1)
				}
				continue
			}
			if s.copyOne(pkt, bufs[n], offset, now) {
				sizes[n] = pkt.Size()
				n++
			}
			pkt.DecRef()
			continue
		}
		if offset+sg.hLen+sg.mss > len(bufs[n]) {
			s.guard.n.outDropped.Add(1)
			sg.drop()
			continue
		}
		dst := bufs[n][offset:]
		size := sg.emit(dst)
		if s.guard.outbound(dst[:size], now) {
			sizes[n] = size
			n++
		}
	}
	return n
}

// copyOne copies pkt, a packet gVisor built whole, to buf[offset:] and
// reports whether the guard passes it; one that does not fit is dropped.
func (s *Stack) copyOne(pkt *stack.PacketBuffer, buf []byte, offset int, now int64) bool {
	size := pkt.Size()
	if offset+size > len(buf) {
		s.guard.n.outDropped.Add(1)
		return false
	}
	dst := buf[offset:]
	copyPacket(dst, pkt)
	return s.guard.outbound(dst[:size], now)
}

// copyPacket copies the whole of pkt (headers and payload) into dst, which
// must be at least pkt.Size() long, without allocating.
func copyPacket(dst []byte, pkt *stack.PacketBuffer) {
	views, off := pkt.AsViewList()
	n := 0
	for v := views.Front(); v != nil; v = v.Next() {
		b := v.AsSlice()
		if off >= len(b) {
			off -= len(b)
			continue
		}
		n += copy(dst[n:], b[off:])
		off = 0
	}
}

// Write implements tun.Device. Each packet, at bufs[i][offset:], is judged
// by the filter; packets that pass are coalesced (GRO) and delivered to
// gVisor. Dropped packets are counted, not reported as errors, so Write
// returns len(bufs) and a nil error. wireguard-go calls it from one
// goroutine per peer.
func (s *Stack) Write(bufs [][]byte, offset int) (int, error) {
	s.inGate.Leave(len(bufs))
	d := s.ep.dispatcherOrNil()
	if d == nil || s.closed() {
		return len(bufs), nil
	}
	g := s.gro.Get().(*groBatch)
	g.Dispatcher = d
	now := s.guard.ct.now()
	for _, b := range bufs {
		if len(b) <= offset {
			continue
		}
		pkt := b[offset:]
		if s.guard.inbound(pkt, now) {
			g.enqueue(pkt)
		}
	}
	g.flush()
	g.Dispatcher = nil
	s.gro.Put(g)
	return len(bufs), nil
}

// groBatch coalesces the TCP segments of one Write call.
type groBatch struct {
	gro.GRO
}

func newGROBatch() *groBatch {
	g := &groBatch{}
	g.Init(true)
	return g
}

// groBucketSize is the number of packets gVisor's GRO holds per bucket.
const groBucketSize = 8

// flush delivers every packet GRO holds. gVisor's GRO.Flush delivers only
// the first packet of each bucket (it follows a list link it has just
// cleared), so it is called once per possible packet in a bucket; a call
// on empty buckets costs a few loads.
func (g *groBatch) flush() {
	for range groBucketSize {
		g.Flush()
	}
}

// enqueue copies packet b into a PacketBuffer and queues it for GRO. The
// packet is marked checksum-validated, as the link endpoint declares
// receive checksum offload (see linkEndpoint.Capabilities).
func (g *groBatch) enqueue(b []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	pkt.NetworkProtocolNumber = networkProtocol(b)
	pkt.RXChecksumValidated = true
	g.Enqueue(pkt)
	pkt.DecRef()
}

// networkProtocol returns the network protocol of IP packet b, which the
// parser has already accepted.
func networkProtocol(b []byte) tcpip.NetworkProtocolNumber {
	if b[0]>>4 == 6 {
		return header.IPv6ProtocolNumber
	}
	return header.IPv4ProtocolNumber
}
