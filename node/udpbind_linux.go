package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/conn"
)

// udpBind is Ward's own Linux UDP bind for wireguard-go (issue 12): the
// same sockets as conn.StdNetBind (udp4 and udp6 on one port, UDP GSO and
// GRO where the kernel has them), without its two copies.
//
//   - Send gives the kernel one message per run of equal-sized packets
//     (the last may be shorter), its iovecs pointing at each packet's own
//     buffer, with a UDP_SEGMENT control message: the kernel cuts the
//     datagrams. StdNetBind appends every packet of the run into the
//     first one's buffer first.
//   - Receive reads a coalesced (GRO) datagram straight into the buffers
//     wireguard-go gave, one segment per buffer: the iovecs are cut at
//     the segment size the last GRO datagram had, so when the next one
//     has the same size (a bulk flow's packets do) every segment lands
//     in its own buffer and nothing is copied. StdNetBind reads into one
//     buffer and copies every segment out. A datagram that does not fit
//     the guess is laid out again through a scratch buffer (copied), and
//     segments beyond the buffers of this call wait for the next.
//   - It reads only into the buffers it was given, so its batch size (how
//     many buffers wireguard-go hands each receive and reader) is a
//     parameter (udpBindBatch): each is a 64 KiB message buffer.
//
// Endpoints are *conn.StdNetEndpoint without a sticky source (the
// pathBind builds them so); replies leave by the routing table's choice
// of source address.
type udpBind struct {
	batch int
	// sockBuf is the sockets' SO_RCVBUF and SO_SNDBUF in bytes; 0 leaves
	// the kernel's defaults (see udpSocketBuffer).
	sockBuf int

	mu sync.Mutex // guards the fields below
	v4 *udpSock
	v6 *udpSock
}

// udpSock is one open socket of a udpBind.
type udpSock struct {
	c   *net.UDPConn
	pc4 *ipv4.PacketConn // one of pc4 and pc6 is set
	pc6 *ipv6.PacketConn
	// tx and rx: UDP segmentation and GRO offload; tx is cleared when the
	// kernel refuses a segmented send (EIO: no checksum offload).
	tx atomic.Bool
	rx bool
}

// udpBindBatchDefault is the batch size when neither the config nor
// WARD_UDP_BATCH gives one (conn.IdealBatchSize, as StdNetBind).
const udpBindBatchDefault = conn.IdealBatchSize

// gsoMaxSegments is the kernel's limit of segments in one UDP_SEGMENT
// send (UDP_MAX_SEGMENTS).
const gsoMaxSegments = 64

// maxUDPPayload4 and maxUDPPayload6 bound one (segmented) datagram's
// payload: the IP length field less the headers it counts.
const (
	maxUDPPayload4 = 1<<16 - 1 - 20 - 8
	maxUDPPayload6 = 1<<16 - 1 - 8
)

// udpBindBatch returns the batch size: n when positive, else
// WARD_UDP_BATCH when it parses (1-128), else udpBindBatchDefault.
func udpBindBatch(n int) int {
	if n <= 0 {
		if v, err := strconv.Atoi(os.Getenv("WARD_UDP_BATCH")); err == nil {
			n = v
		}
	}
	if n <= 0 {
		n = udpBindBatchDefault
	}
	return min(n, conn.IdealBatchSize)
}

// newUDPBind returns Ward's UDP bind with batch buffers per receive (0:
// udpBindBatch's default) and sockBuf bytes of socket buffers (see
// udpSocketBuffer).
func newUDPBind(batch, sockBuf int) conn.Bind {
	return &udpBind{batch: udpBindBatch(batch), sockBuf: udpSocketBuffer(sockBuf)}
}

// DefaultUDPSocketBuffer is the receive and send buffer of the bind's
// sockets, as wireguard-go's StdNetBind asks (7 MiB; forced past
// net.core.rmem_max and wmem_max where the process may). The kernel's
// default (net.core.rmem_default, 208 KiB) holds three GRO datagrams of
// 64 KiB: a burst beyond that was dropped (the UDP RcvbufErrors counter)
// and the TCP flow inside went into loss recovery. The buffers are the
// kernel's memory, used only while datagrams wait, not the process's.
const DefaultUDPSocketBuffer = 7 << 20

// udpSocketBuffer returns the socket buffer size for n
// (EngineConfig.UDPSocketBuffer): DefaultUDPSocketBuffer for 0, none
// (the kernel's defaults) for a negative n, else n.
func udpSocketBuffer(n int) int {
	switch {
	case n == 0:
		return DefaultUDPSocketBuffer
	case n < 0:
		return 0
	}
	return n
}

// listenUDP opens network on port with GRO asked for.
func listenUDP(network string, port, sockBuf int) (*net.UDPConn, int, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			// Best effort: a kernel without GRO leaves rx off.
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
			if sockBuf > 0 {
				// Best effort too: the plain options stop at the
				// sysctl maxima, the forced ones need CAP_NET_ADMIN.
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sockBuf)
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuf)
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf)
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf)
			}
		})
	}}
	pc, err := lc.ListenPacket(context.Background(), network, ":"+strconv.Itoa(port))
	if err != nil {
		return nil, 0, err
	}
	c := pc.(*net.UDPConn)
	return c, c.LocalAddr().(*net.UDPAddr).Port, nil
}

// newUDPSock wraps an open socket and finds its offloads.
func newUDPSock(c *net.UDPConn, six bool) *udpSock {
	s := &udpSock{c: c}
	if six {
		s.pc6 = ipv6.NewPacketConn(c)
	} else {
		s.pc4 = ipv4.NewPacketConn(c)
	}
	if rc, err := c.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
			s.tx.Store(err == nil)
			v, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO)
			s.rx = err == nil && v == 1
		})
	}
	return s
}

func (s *udpSock) readBatch(ms []ipv6.Message) (int, error) {
	if s.pc6 != nil {
		return s.pc6.ReadBatch(ms, 0)
	}
	return s.pc4.ReadBatch(ms, 0)
}

func (s *udpSock) writeBatch(ms []ipv6.Message) (int, error) {
	if s.pc6 != nil {
		return s.pc6.WriteBatch(ms, 0)
	}
	return s.pc4.WriteBatch(ms, 0)
}

// Open opens udp4 and udp6 on one port (any free one for 0).
func (b *udpBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.v4 != nil || b.v6 != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	var c4, c6 *net.UDPConn
	actual := int(port)
	for tries := 0; ; tries++ {
		var err error
		c4, actual, err = listenUDP("udp4", int(port), b.sockBuf)
		if err != nil && !errors.Is(err, syscall.EAFNOSUPPORT) {
			return nil, 0, fmt.Errorf("udp bind: listen udp4 on %d: %w", port, err)
		}
		if c4 == nil {
			actual = int(port)
		}
		c6, actual, err = listenUDP("udp6", actual, b.sockBuf)
		if err == nil {
			break
		}
		if port == 0 && c4 != nil && errors.Is(err, syscall.EADDRINUSE) && tries < 100 {
			c4.Close()
			continue
		}
		if errors.Is(err, syscall.EAFNOSUPPORT) {
			c6 = nil
			if c4 != nil {
				actual = c4.LocalAddr().(*net.UDPAddr).Port
			}
			break
		}
		if c4 != nil {
			c4.Close()
		}
		return nil, 0, fmt.Errorf("udp bind: listen udp6 on %d: %w", actual, err)
	}
	var fns []conn.ReceiveFunc
	if c4 != nil {
		b.v4 = newUDPSock(c4, false)
		fns = append(fns, b.v4.receiver(b.batch))
	}
	if c6 != nil {
		b.v6 = newUDPSock(c6, true)
		fns = append(fns, b.v6.receiver(b.batch))
	}
	if len(fns) == 0 {
		return nil, 0, syscall.EAFNOSUPPORT
	}
	return fns, uint16(actual), nil
}

// Close closes both sockets (their receivers return errors).
func (b *udpBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var err error
	for _, s := range []*udpSock{b.v4, b.v6} {
		if s != nil {
			err = errors.Join(err, s.c.Close())
		}
	}
	b.v4, b.v6 = nil, nil
	return err
}

// SetMark sets SO_MARK on both sockets.
func (b *udpBind) SetMark(mark uint32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range []*udpSock{b.v4, b.v6} {
		if s == nil {
			continue
		}
		rc, err := s.c.SyscallConn()
		if err != nil {
			return fmt.Errorf("udp bind: set mark: %w", err)
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return fmt.Errorf("udp bind: set mark: %w", err)
		}
		if serr != nil {
			return fmt.Errorf("udp bind: set mark: %w", serr)
		}
	}
	return nil
}

// BatchSize is how many buffers wireguard-go hands a receive and a send.
func (b *udpBind) BatchSize() int { return b.batch }

// ParseEndpoint parses "host:port".
func (b *udpBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("udp bind: endpoint %q: %w", s, err)
	}
	return &conn.StdNetEndpoint{AddrPort: a}, nil
}

// sendMsgs is one Send's messages and control buffers, pooled.
type sendMsgs struct {
	ms   []ipv6.Message
	oobs [][]byte
	addr net.UDPAddr
}

var sendPool = sync.Pool{New: func() any {
	s := &sendMsgs{ms: make([]ipv6.Message, conn.IdealBatchSize), oobs: make([][]byte, conn.IdealBatchSize)}
	for i := range s.oobs {
		s.oobs[i] = make([]byte, 0, unix.CmsgSpace(2))
	}
	s.addr.IP = make(net.IP, 16)
	return s
}}

// Send sends bufs to ep: with segmentation offload, one message per run
// of equal-sized packets (gsoRuns), each packet its own iovec.
func (b *udpBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	dst := ep.DstIP()
	var port uint16
	if se, ok := ep.(*conn.StdNetEndpoint); ok {
		port = se.Port()
	} else {
		a, err := netip.ParseAddrPort(ep.DstToString())
		if err != nil {
			return fmt.Errorf("udp bind: send to %s: %w", ep.DstToString(), err)
		}
		dst, port = a.Addr(), a.Port()
	}
	b.mu.Lock()
	s := b.v4
	six := dst.Is6() && !dst.Is4In6()
	if six {
		s = b.v6
	}
	b.mu.Unlock()
	if s == nil {
		return syscall.EAFNOSUPPORT
	}
	sm := sendPool.Get().(*sendMsgs)
	defer func() {
		for i := range sm.ms {
			sm.ms[i] = ipv6.Message{}
		}
		sendPool.Put(sm)
	}()
	if six {
		a := dst.As16()
		sm.addr.IP = append(sm.addr.IP[:0], a[:]...)
	} else {
		a := dst.Unmap().As4()
		sm.addr.IP = append(sm.addr.IP[:0], a[:]...)
	}
	sm.addr.Port = int(port)
	maxPayload := maxUDPPayload4
	if six {
		maxPayload = maxUDPPayload6
	}
	for len(bufs) > 0 {
		chunk := bufs[:min(len(bufs), len(sm.ms))]
		bufs = bufs[len(chunk):]
		offload := s.tx.Load()
		n := fillSend(sm, chunk, offload, maxPayload)
		err := s.sendAll(sm.ms[:n])
		if err != nil && offload && isEIO(err) {
			// The device cannot checksum segments: plain sends from now on.
			s.tx.Store(false)
			n = fillSend(sm, chunk, false, maxPayload)
			err = s.sendAll(sm.ms[:n])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fillSend lays chunk out in sm's messages and returns how many.
func fillSend(sm *sendMsgs, chunk [][]byte, offload bool, maxPayload int) int {
	n := 0
	for start, end := range gsoRuns(chunk, offload, maxPayload) {
		m := &sm.ms[n]
		m.Buffers = chunk[start:end]
		m.Addr = &sm.addr
		m.OOB = sm.oobs[n][:0]
		if end-start > 1 {
			m.OOB = appendGSO(m.OOB, len(chunk[start]))
		}
		n++
	}
	return n
}

// gsoRuns yields the [start, end) runs of bufs that go as one segmented
// datagram: equal sizes but for a shorter last one, at most
// gsoMaxSegments, at most maxPayload bytes. Without offload every packet
// is its own run.
func gsoRuns(bufs [][]byte, offload bool, maxPayload int) func(func(int, int) bool) {
	return func(yield func(int, int) bool) {
		for start := 0; start < len(bufs); {
			end := start + 1
			if offload {
				seg, total := len(bufs[start]), len(bufs[start])
				for end < len(bufs) && end-start < gsoMaxSegments && seg > 0 {
					l := len(bufs[end])
					if l > seg || total+l > maxPayload {
						break
					}
					total += l
					end++
					if l < seg {
						break
					}
				}
			}
			if !yield(start, end) {
				return
			}
			start = end
		}
	}
}

// appendGSO appends a UDP_SEGMENT control message for segments of size.
func appendGSO(oob []byte, size int) []byte {
	l := unix.CmsgSpace(2)
	oob = oob[:l]
	clear(oob)
	h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	nativePutUint16(oob[unix.CmsgLen(0):], uint16(size))
	return oob
}

// groSize returns the segment size of a GRO control message in oob (0:
// none, one datagram).
func groSize(oob []byte) int {
	for len(oob) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafePointer(&oob[0]))
		l := int(h.Len)
		if l < unix.CmsgLen(0) || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(2) {
			data := oob[unix.CmsgLen(0):l]
			if len(data) >= 4 {
				return int(nativeUint32(data))
			}
			return int(nativeUint16(data))
		}
		sp := unix.CmsgSpace(l - unix.CmsgLen(0))
		if sp > len(oob) {
			return 0
		}
		oob = oob[sp:]
	}
	return 0
}

func isEIO(err error) bool { return errors.Is(err, unix.EIO) }

// sendAll writes every message (sendmmsg may take a part).
func (s *udpSock) sendAll(ms []ipv6.Message) error {
	for len(ms) > 0 {
		n, err := s.writeBatch(ms)
		if err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

// udpReceiver is one socket's receive state; wireguard-go calls a
// ReceiveFunc from one goroutine, so it needs no lock.
type udpReceiver struct {
	s     *udpSock
	batch int
	// guess is the segment size of the last coalesced datagram: the
	// iovecs are cut at it (0: one iovec per message).
	guess int
	ms    []ipv6.Message
	oobs  [][]byte
	iovs  [][][]byte
	// scratch holds, per message, a datagram laid out again; pending
	// are its segments this call had no buffer for.
	scratch [][]byte
	pending []pendingSeg
}

// pendingSeg is a received segment waiting for a buffer.
type pendingSeg struct {
	data []byte
	ep   conn.Endpoint
}

// receiver returns the socket's ReceiveFunc for batch buffers.
func (s *udpSock) receiver(batch int) conn.ReceiveFunc {
	group := batch
	if s.rx {
		group = min(batch, gsoMaxSegments)
	} else {
		group = 1
	}
	nmsg := batch / group
	r := &udpReceiver{s: s, batch: batch, ms: make([]ipv6.Message, nmsg), oobs: make([][]byte, nmsg),
		iovs: make([][][]byte, nmsg), scratch: make([][]byte, nmsg)}
	for i := range r.oobs {
		r.oobs[i] = make([]byte, unix.CmsgSpace(4))
		r.iovs[i] = make([][]byte, 0, group)
	}
	return r.receive
}

// receive fills bufs from the socket (or from the pending segments).
func (r *udpReceiver) receive(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	if len(r.pending) > 0 {
		n := 0
		for n < len(bufs) && len(r.pending) > 0 {
			p := r.pending[0]
			sizes[n] = copy(bufs[n][:cap(bufs[n])], p.data)
			eps[n] = p.ep
			r.pending[0] = pendingSeg{}
			r.pending = r.pending[1:]
			n++
		}
		return n, nil
	}
	group := 1
	if r.s.rx {
		group = min(len(bufs), gsoMaxSegments)
	}
	nmsg := min(len(r.ms), max(len(bufs)/group, 1))
	g := r.guess
	for k := range nmsg {
		lo, hi := k*group, min((k+1)*group, len(bufs))
		iov := r.iovs[k][:0]
		if g == 0 {
			iov = append(iov, bufs[lo][:cap(bufs[lo])])
		} else {
			for i := lo; i < hi-1; i++ {
				iov = append(iov, bufs[i][:g])
			}
			iov = append(iov, bufs[hi-1][:cap(bufs[hi-1])])
		}
		r.iovs[k] = iov
		r.ms[k] = ipv6.Message{Buffers: iov, OOB: r.oobs[k]}
	}
	n, err := r.s.readBatch(r.ms[:nmsg])
	if err != nil {
		return 0, err
	}
	last := 0
	for k := range n {
		m := &r.ms[k]
		lo, hi := k*group, min((k+1)*group, len(bufs))
		var ep conn.Endpoint = &conn.StdNetEndpoint{}
		if ua, ok := m.Addr.(*net.UDPAddr); ok {
			a := ua.AddrPort()
			ep = &conn.StdNetEndpoint{AddrPort: netip.AddrPortFrom(a.Addr().Unmap(), a.Port())}
		}
		seg := 0
		if r.s.rx {
			seg = groSize(m.OOB[:m.NN])
		}
		used := r.place(k, m, seg, bufs[lo:hi], sizes[lo:hi], ep)
		for i := lo; i < hi; i++ {
			eps[i] = ep
		}
		if used > 0 {
			last = lo + used
		}
		if seg > 0 {
			r.guess = seg
		}
	}
	return last, nil
}

// place sets the sizes of the packets message k put into bufs (its
// group) and returns how many buffers hold one; segments beyond them go
// to pending.
func (r *udpReceiver) place(k int, m *ipv6.Message, seg int, bufs [][]byte, sizes []int, ep conn.Endpoint) int {
	clear(sizes)
	if m.N == 0 {
		return 0
	}
	iov := m.Buffers
	// Fast path: one iovec, one datagram; or the segment size matched
	// the guess, so segment j sits in iovec j (the last iovec may hold
	// several).
	if len(iov) == 1 && seg == 0 || len(iov) > 1 && seg == len(iov[0]) || len(iov) > 1 && seg == 0 && m.N <= len(iov[0]) {
		if seg == 0 {
			sizes[0] = m.N
			return 1
		}
		left := m.N
		for j := range iov {
			if j == len(iov)-1 {
				break
			}
			if left <= seg {
				sizes[j] = left
				return j + 1
			}
			sizes[j] = seg
			left -= seg
		}
		j := len(iov) - 1
		tail := iov[j][:left]
		sizes[j] = min(seg, left)
		if left > seg {
			r.queue(k, tail[seg:], seg, ep)
		}
		return j + 1
	}
	// Slow path: gather the datagram and cut it again.
	if r.scratch[k] == nil {
		r.scratch[k] = make([]byte, 1<<16)
	}
	data := r.scratch[k][:0]
	if len(iov) == 1 {
		// One buffer: its first segment stays, the others are copied out.
		data = iov[0][:m.N]
	} else {
		left := m.N
		for _, v := range iov {
			c := min(left, len(v))
			data = append(data, v[:c]...)
			left -= c
		}
	}
	if seg == 0 {
		seg = len(data)
	}
	i := 0
	for len(data) > 0 && i < len(bufs) {
		c := min(seg, len(data))
		sizes[i] = copy(bufs[i][:cap(bufs[i])], data[:c])
		data = data[c:]
		i++
	}
	if len(data) > 0 {
		r.queue(k, data, seg, ep)
	}
	return i
}

// queue keeps data's segments of seg bytes for the next receive. Data
// in a caller's buffer is copied to message k's scratch first (the
// caller reuses its buffers).
func (r *udpReceiver) queue(k int, data []byte, seg int, ep conn.Endpoint) {
	if r.scratch[k] == nil {
		r.scratch[k] = make([]byte, 1<<16)
	}
	if !inside(r.scratch[k], data) {
		data = append(r.scratch[k][:0], data...)
	}
	for len(data) > 0 {
		c := min(seg, len(data))
		r.pending = append(r.pending, pendingSeg{data: data[:c], ep: ep})
		data = data[c:]
	}
}
