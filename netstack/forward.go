package netstack

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/wardnet/ward/internal/copygrow"
)

const (
	// maxPendingSYN bounds TCP handshakes being forwarded at once.
	maxPendingSYN = 256
	// localDialTimeout bounds dialing the local service.
	localDialTimeout = 5 * time.Second
	// Keepalive on forwarded TCP connections, so a flow cut by the
	// filter, or a vanished peer, ends instead of holding the local
	// connection open.
	keepaliveIdle     = time.Minute
	keepaliveInterval = 15 * time.Second
	keepaliveCount    = 4
)

// installForwarders makes gVisor hand packets for ports without a listener
// to the Stack's forwarders. The handlers report every packet handled, so
// gVisor never answers a closed port with a RST or an ICMP unreachable.
func (s *Stack) installForwarders() {
	tf := tcp.NewForwarder(s.ns, 0, maxPendingSYN, s.forwardTCP)
	s.ns.SetTransportProtocolHandler(tcp.ProtocolNumber, func(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
		tf.HandlePacket(id, pkt)
		return true
	})
	uf := udp.NewForwarder(s.ns, s.forwardUDP)
	s.ns.SetTransportProtocolHandler(udp.ProtocolNumber, func(id stack.TransportEndpointID, pkt *stack.PacketBuffer) bool {
		uf.HandlePacket(id, pkt)
		return true
	})
}

// localAddr is the 127.0.0.1 address a forwarded flow to port goes to.
func localAddr(port uint16) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
}

// forwardTCP handles a SYN to a port without a listener; the guard passes
// only SYNs the Filter allowed. gVisor calls it on a goroutine of its own.
// An unexposed port, or an exposed one whose local service refuses, gets
// a RST; otherwise the handshake completes and the connection is spliced
// to the local service.
func (s *Stack) forwardTCP(r *tcp.ForwarderRequest) {
	id := r.ID()
	dst, routed := s.routedDst(id.LocalAddress, id.LocalPort)
	if !routed && !s.svc.isExposed(Service{Proto: ProtoTCP, Port: id.LocalPort}) {
		r.Complete(true)
		return
	}
	if !s.conns.start() {
		r.Complete(false) // closing
		return
	}
	defer s.conns.done()
	var local net.Conn
	var err error
	if routed {
		local, err = s.dialRouted("tcp", dst)
	} else {
		local, err = s.dialLocal(id.LocalPort)
	}
	if err != nil {
		s.log.Debug("dial exposed service", "port", id.LocalPort, "err", err)
		r.Complete(true)
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		s.log.Debug("accept forwarded connection", "port", id.LocalPort, "err", terr)
		r.Complete(true)
		local.Close()
		return
	}
	r.Complete(false)
	setKeepalive(ep)
	s.splice(gonet.NewTCPConn(&wq, ep), local.(*net.TCPConn))
}

// dialLocal connects to the local service on port, giving up on Close.
func (s *Stack) dialLocal(port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, localDialTimeout)
	defer cancel()
	var d net.Dialer
	return d.DialContext(ctx, "tcp", localAddr(port))
}

func setKeepalive(ep tcpip.Endpoint) {
	idle := tcpip.KeepaliveIdleOption(keepaliveIdle)
	intvl := tcpip.KeepaliveIntervalOption(keepaliveInterval)
	ep.SetSockOpt(&idle)
	ep.SetSockOpt(&intvl)
	ep.SetSockOptInt(tcpip.KeepaliveCountOption, keepaliveCount)
	ep.SocketOptions().SetKeepAlive(true)
}

// halfCloser is a connection whose write side can be shut alone.
type halfCloser interface {
	net.Conn
	CloseWrite() error
}

// splice copies both ways between a and b, passing each side's EOF on as
// a half-close, and closes both when both directions are done or the
// Stack closes.
func (s *Stack) splice(a, b halfCloser) {
	if !s.conns.track(a) {
		b.Close()
		return
	}
	if !s.conns.track(b) {
		s.conns.untrack(a)
		return
	}
	defer s.conns.untrack(a)
	defer s.conns.untrack(b)
	if !s.conns.start() {
		return
	}
	done := make(chan struct{})
	go func() {
		defer s.conns.done()
		defer close(done)
		pipe(b, a, s.copyBuf)
	}()
	pipe(a, b, s.copyBuf)
	<-done
}

// pipeBuf is the most a direction of an exposed service's flow reads at
// once from the local socket or the netstack; it starts with
// copygrow.Start (io.Copy's 32 KiB, and the legacy data path's most). A
// direction whose read fills its buffer is a bulk transfer, and grows it
// (as the SOCKS5 relay's, splice.DefaultBuffer): through the overlay
// (issue 12), with a node's Go code on one processor, 32 KiB cost
// 1.02-1.19x the CPU per byte of 128 KiB; an idle or interactive flow
// keeps 32 KiB a direction. Config.CopyBuffer measures other sizes.
const (
	pipeBuf       = copygrow.Bulk
	legacyPipeBuf = 32 << 10
)

// pipe copies src to dst, then half-closes dst. A copy ends with an error
// when either side resets, the filter cuts the flow (its endpoint is
// aborted) or the Stack closes them; dst is then reset when it is a local
// TCP connection, so the service learns the flow was cut rather than
// ended, and the error is not reported.
func pipe(dst, src halfCloser, bufSize int) {
	if err := copygrow.Copy(dst, src, bufSize); err != nil {
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // Close sends a RST
		}
		_ = dst.Close()
		return
	}
	_ = dst.CloseWrite()
}

// forwardUDP handles the first datagram of a flow to a port without a
// listener. gVisor calls it on the packet path, so it must not block. An
// unexposed port gets nothing; an exposed one gets a flow relayed to the
// local service until it is idle for Config.UDPIdleTimeout.
func (s *Stack) forwardUDP(r *udp.ForwarderRequest) {
	id := r.ID()
	dst, routed := s.routedDst(id.LocalAddress, id.LocalPort)
	if !routed {
		dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), id.LocalPort)
	}
	if (!routed && !s.svc.isExposed(Service{Proto: ProtoUDP, Port: id.LocalPort})) || !s.conns.start() {
		return
	}
	local, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		s.log.Debug("dial exposed service", "port", id.LocalPort, "err", err)
		s.conns.done()
		return
	}
	var wq waiter.Queue
	ep, terr := r.CreateEndpoint(&wq)
	if terr != nil {
		s.log.Debug("accept forwarded flow", "port", id.LocalPort, "err", terr)
		local.Close()
		s.conns.done()
		return
	}
	go func() {
		defer s.conns.done()
		newUDPRelay(gonet.NewUDPConn(&wq, ep), local, s.udpIdle).run(&s.conns)
	}()
}
