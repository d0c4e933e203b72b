package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/wardnet/ward/filter"
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
	_ netPlane = (*kernelNet)(nil)
)

// osSockets are the operating system's dials and sockets, which its routes
// send into the overlay's interface (a TUN, or a kernel WireGuard link).
type osSockets struct {
	dialer net.Dialer
}

// DialContext implements netPlane with the OS's dialer.
func (p *osSockets) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return p.dialer.DialContext(ctx, network, address)
}

// ListenUDP implements netPlane with an OS socket.
func (p *osSockets) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	return net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
}

// osPlane is the operating system's network stack reached through a TUN
// device that a netstack.Guard filters: dials and sockets are the OS's,
// and the OS's routes send them into the TUN.
type osPlane struct {
	osSockets
	guard *netstack.Guard
}

// SetFilter implements netPlane.
func (p *osPlane) SetFilter(f netstack.Filter) { p.guard.SetFilter(f) }

// Stats implements netPlane.
func (p *osPlane) Stats() netstack.Stats { return p.guard.Stats() }

// DrainFlowCounts implements netPlane.
func (p *osPlane) DrainFlowCounts(fn func(netstack.FlowCount)) { p.guard.DrainFlowCounts(fn) }

// SetRoutes implements netPlane: a node in TUN mode (a person's machine)
// serves no routes.
func (p *osPlane) SetRoutes([]netip.Prefix) {}

// CutUnreachable implements netPlane: the OS's sockets are the OS's to
// end (its routes into the TUN go with the map's).
func (p *osPlane) CutUnreachable(func(netip.Addr) bool) {}

// openPlane returns the device wireguard-go reads and writes and the
// network plane above it: a netstack.Stack for both, or, when cfg.tun is
// set, the TUN it makes behind a netstack.Guard.
func openPlane(cfg dataplaneConfig) (tun.Device, netPlane, error) {
	if cfg.tun == nil {
		st, err := netstack.New(netstack.Config{IPv4: cfg.self.IPv4, IPv6: cfg.self.IPv6, MTU: cfg.mtu, Logger: cfg.log,
			Expose: services(cfg.expose), OnDenied: cfg.onDenied, LegacyDataPath: cfg.legacy, CountFlows: true, TCPBufferMax: cfg.tcpBufMax,
			ReadBatch: cfg.readBatch, CopyBuffer: cfg.copyBuf, InFlight: cfg.inFlight})
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

// KernelFunc opens the kernel WireGuard link for a node whose map
// describes it as self, with self's overlay addresses and the routes into
// it; see EngineConfig.Kernel. The Engine calls it with its lock held, at
// the first full map and again (after closing the previous link) when the
// overlay addresses change. It must not call back into the Engine. The
// Engine owns the returned link and closes it.
type KernelFunc func(self wire.Node) (KernelLink, error)

// KernelLink is a kernel WireGuard link (package kernelwg) as the Engine
// drives it: with the UAPI text it gives wireguard-go, and the inbound
// filter's rules, which the link enforces itself.
type KernelLink interface {
	// IpcSet applies UAPI "set" lines (without "set=1"), as
	// device.Device.IpcSet does. Endpoints are addresses (ip:port).
	IpcSet(uapi string) error
	// IpcGet returns the link's state as UAPI "get" lines, as
	// device.Device.IpcGet does.
	IpcGet() (string, error)
	// Up brings the link up.
	Up() error
	// Close removes the link and its filter.
	Close()
	// SetFilter enforces f on the flows that arrive from the link.
	SetFilter(f KernelFilter) error
	// SetPeerRoutes routes prefixes (the subnet routes the map sends
	// through peers) into the link, replacing those it routed before.
	SetPeerRoutes(prefixes []netip.Prefix) error
}

// KernelFilter is the inbound policy a KernelLink enforces, as the
// netstack's filter does: a new flow arriving from the link passes when
// Rules allow it (filter.Matcher semantics: denies first, default deny),
// or when it is UDP to PingPort from one of PingFrom (the active peers);
// every packet of a flow a peer started is checked again, so a policy
// change cuts it; replies to the node's own flows pass.
type KernelFilter struct {
	Rules    []filter.Rule
	PingFrom []netip.Addr
	PingPort uint16
}

// kernelNet is the network plane over a kernel WireGuard link: the OS's
// stack and sockets, with the link's own filter.
type kernelNet struct {
	osSockets
	k   KernelLink
	log *slog.Logger
}

// SetFilter implements netPlane: it installs the policy's live rules in
// the link; a failure is logged and leaves the previous rules.
func (p *kernelNet) SetFilter(f netstack.Filter) {
	pol, ok := f.(*policy)
	if !ok {
		p.log.Error("kernel engine: filter is not a policy; the previous one stays")
		return
	}
	kf := KernelFilter{Rules: pol.m.Rules(), PingPort: PingPort}
	for a := range pol.peers {
		kf.PingFrom = append(kf.PingFrom, a)
	}
	slices.SortFunc(kf.PingFrom, netip.Addr.Compare)
	if err := p.k.SetFilter(kf); err != nil {
		p.log.Error("kernel engine: install filter; the previous one stays", "err", err)
	}
}

// Stats implements netPlane: the kernel keeps no counters Ward reads.
func (p *kernelNet) Stats() netstack.Stats { return netstack.Stats{} }

// DrainFlowCounts implements netPlane: the kernel engine has no flow log.
func (p *kernelNet) DrainFlowCounts(func(netstack.FlowCount)) {}

// SetRoutes implements netPlane: the OS forwards routed flows itself
// (net.ipv4.ip_forward), behind the link's filter.
func (p *kernelNet) SetRoutes([]netip.Prefix) {}

// CutUnreachable implements netPlane: the OS's sockets are the OS's to
// end.
func (p *kernelNet) CutUnreachable(func(netip.Addr) bool) {}
