package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
)

// DialContext connects through the overlay to address, an IP literal and
// port ("100.64.0.2:80", "[fd7a::2]:53"; no host names). network is "tcp",
// "tcp4", "tcp6", "udp", "udp4" or "udp6". The flow is tracked, so its
// replies pass the inbound filter. ctx bounds the TCP handshake; UDP does
// not block.
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if err := checkFamily(network, ap.Addr()); err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	if s.closed() {
		return nil, fmt.Errorf("dial %s %s: %w", network, address, ErrClosed)
	}
	fa, proto := fullAddr(ap)
	var c net.Conn
	switch network {
	case "tcp", "tcp4", "tcp6":
		c, err = gonet.DialContextTCP(ctx, s.ns, fa, proto)
		err = refusedAsErrno(err)
	default:
		c, err = gonet.DialUDP(s.ns, nil, &fa, proto)
	}
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, address, err)
	}
	return c, nil
}

// refused is gVisor's text for a connection the peer reset; gonet's
// dialer hands tcpip errors on as text only.
var refused = (&tcpip.ErrConnectionRefused{}).String()

// refusedAsErrno makes a dial the peer refused (a reset to the SYN) end in
// syscall.ECONNREFUSED, as the OS's dialer does, so callers tell "nothing
// listens there" from other failures with errors.Is.
func refusedAsErrno(err error) error {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Err == nil || oe.Err.Error() != refused {
		return err
	}
	c := *oe
	c.Err = syscall.ECONNREFUSED
	return &c
}

// checkFamily rejects unknown networks and addresses of the wrong family.
func checkFamily(network string, a netip.Addr) error {
	switch network {
	case "tcp", "udp":
		return nil
	case "tcp4", "udp4":
		if a.Is4() {
			return nil
		}
	case "tcp6", "udp6":
		if a.Is6() {
			return nil
		}
	default:
		return net.UnknownNetworkError(network)
	}
	return fmt.Errorf("address family does not match network %s", network)
}

// fullAddr converts ap to a gVisor address on the Stack's NIC.
func fullAddr(ap netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	proto := ipv4.ProtocolNumber
	if ap.Addr().Is6() {
		proto = ipv6.ProtocolNumber
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(ap.Addr().AsSlice()), Port: ap.Port()}, proto
}

// ListenTCP listens for TCP connections on addr, whose address must be one
// of the node's overlay addresses. Connections still pass the inbound
// filter first. Closing the listener stops serving the port.
func (s *Stack) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	svc := Service{Proto: ProtoTCP, Port: addr.Port()}
	if err := s.checkListen(addr, svc); err != nil {
		return nil, fmt.Errorf("listen tcp %v: %w", addr, err)
	}
	fa, proto := fullAddr(addr)
	s.svc.listen(svc)
	l, err := gonet.ListenTCP(s.ns, fa, proto)
	if err != nil {
		s.svc.unlisten(svc)
		return nil, fmt.Errorf("listen tcp %v: %w", addr, err)
	}
	return &tcpListener{TCPListener: l, release: s.releaser(svc)}, nil
}

// ListenUDP opens a UDP socket on addr, whose address must be one of the
// node's overlay addresses. Datagrams still pass the inbound filter first.
// Closing the socket stops serving the port.
func (s *Stack) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	svc := Service{Proto: ProtoUDP, Port: addr.Port()}
	if err := s.checkListen(addr, svc); err != nil {
		return nil, fmt.Errorf("listen udp %v: %w", addr, err)
	}
	fa, proto := fullAddr(addr)
	s.svc.listen(svc)
	c, err := gonet.DialUDP(s.ns, &fa, nil, proto)
	if err != nil {
		s.svc.unlisten(svc)
		return nil, fmt.Errorf("listen udp %v: %w", addr, err)
	}
	return &udpListener{UDPConn: c, release: s.releaser(svc)}, nil
}

func (s *Stack) checkListen(addr netip.AddrPort, svc Service) error {
	if !addr.IsValid() || !s.guard.isLocal(addr.Addr()) {
		return ErrNotLocal
	}
	if err := svc.validate(); err != nil {
		return err
	}
	if s.closed() {
		return ErrClosed
	}
	return nil
}

// releaser returns a function that stops serving svc, once.
func (s *Stack) releaser(svc Service) func() {
	var once sync.Once
	return func() { once.Do(func() { s.svc.unlisten(svc) }) }
}

// tcpListener stops serving its port when closed.
type tcpListener struct {
	*gonet.TCPListener
	release func()
}

// Close closes the listener and stops serving its port.
func (l *tcpListener) Close() error {
	l.release()
	return l.TCPListener.Close()
}

// udpListener stops serving its port when closed.
type udpListener struct {
	*gonet.UDPConn
	release func()
}

// Close closes the socket and stops serving its port.
func (l *udpListener) Close() error {
	l.release()
	return l.UDPConn.Close()
}
