package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/netstack"
	"github.com/wardnet/ward/wire"
)

// TUNFunc creates the TUN device for a node whose map describes it as
// self, and gives the interface self's overlay addresses and the routes
// into it; see EngineConfig.TUN. The Engine calls it with its lock held,
// at the first full map and again (after closing the previous device) when
// the overlay addresses change. It must not call back into the Engine. The
// Engine owns the returned device and closes it.
type TUNFunc func(self wire.Node) (tun.Device, error)

// netPlane is the network stack that carries a node's overlay flows above
// wireguard-go: the userspace gVisor netstack, or the operating system's
// stack behind a TUN device. The Engine calls its methods from any
// goroutine.
type netPlane interface {
	// SetFilter replaces the inbound policy; it never blocks for long.
	SetFilter(f netstack.Filter)
	// Stats returns the inbound filter's counters.
	Stats() netstack.Stats
	// DrainFlowCounts hands over what each tracked flow carried since
	// the previous call (see netstack.Stack.DrainFlowCounts).
	DrainFlowCounts(fn func(netstack.FlowCount))
	// DialContext connects through the overlay to address (an IP literal
	// and port); ctx bounds the TCP handshake.
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	// ListenUDP opens a UDP socket on one of the node's overlay addresses.
	ListenUDP(addr netip.AddrPort) (net.PacketConn, error)
	// SetRoutes sets the subnet routes the node serves as a router (its
	// map's Self.Routes): flows to them that the filter allows are
	// forwarded to the host's network.
	SetRoutes(prefixes []netip.Prefix)
	// CutUnreachable ends the flows this node opened toward addresses
	// reachable does not cover (a subnet route left the map).
	CutUnreachable(reachable func(netip.Addr) bool)
}

var (
	_ netPlane = (*netstack.Stack)(nil)
	_ netPlane = (*osPlane)(nil)
)

// osPlane is the operating system's network stack reached through a TUN
// device that a netstack.Guard filters: dials and sockets are the OS's,
// and the OS's routes send them into the TUN.
type osPlane struct {
	guard  *netstack.Guard
	dialer net.Dialer
}

// SetFilter implements netPlane.
func (p *osPlane) SetFilter(f netstack.Filter) { p.guard.SetFilter(f) }

// Stats implements netPlane.
func (p *osPlane) Stats() netstack.Stats { return p.guard.Stats() }

// DrainFlowCounts implements netPlane.
func (p *osPlane) DrainFlowCounts(fn func(netstack.FlowCount)) { p.guard.DrainFlowCounts(fn) }

// DialContext implements netPlane with the OS's dialer.
func (p *osPlane) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return p.dialer.DialContext(ctx, network, address)
}

// SetRoutes implements netPlane: a node in TUN mode (a person's machine)
// serves no routes.
func (p *osPlane) SetRoutes([]netip.Prefix) {}

// CutUnreachable implements netPlane: the OS's sockets are the OS's to
// end (its routes into the TUN go with the map's).
func (p *osPlane) CutUnreachable(func(netip.Addr) bool) {}

// ListenUDP implements netPlane with an OS socket.
func (p *osPlane) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
}

// openPlane returns the device wireguard-go reads and writes and the
// network plane above it: a netstack.Stack for both, or, when cfg.tun is
// set, the TUN it makes behind a netstack.Guard.
func openPlane(cfg dataplaneConfig) (tun.Device, netPlane, error) {
	if cfg.tun == nil {
		st, err := netstack.New(netstack.Config{IPv4: cfg.self.IPv4, IPv6: cfg.self.IPv6, MTU: cfg.mtu, Logger: cfg.log,
			Expose: services(cfg.expose), OnDenied: cfg.onDenied, LegacyDataPath: cfg.legacy, CountFlows: true})
		if err != nil {
			return nil, nil, fmt.Errorf("start netstack: %w", err)
		}
		return st, st, nil
	}
	t, err := cfg.tun(cfg.self)
	if err != nil {
		return nil, nil, fmt.Errorf("open tun: %w", err)
	}
	g, err := netstack.NewGuard(t, netstack.GuardConfig{IPv4: cfg.self.IPv4, IPv6: cfg.self.IPv6, OnDenied: cfg.onDenied, CountFlows: true})
	if err != nil {
		t.Close()
		return nil, nil, fmt.Errorf("guard tun: %w", err)
	}
	return g, &osPlane{guard: g}, nil
}
