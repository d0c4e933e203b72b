package netstack

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

const (
	// nicID is the one NIC of the gVisor stack.
	nicID tcpip.NICID = 1
	// batchSize is the number of packets Read and Write move per call; it
	// matches wireguard-go's UDP batch size.
	batchSize = 128
	// outQueueLen bounds the packets waiting for Read.
	outQueueLen = 4096
	// sweepInterval is how often expired flows are removed.
	sweepInterval = 30 * time.Second
)

// Stack is a tun.Device backed by a gVisor network stack, with the inbound
// packet filter, exposed-service forwarding and an outbound dialer. Create
// it with New; it is safe for concurrent use.
type Stack struct {
	log    *slog.Logger
	mtu    int
	v4, v6 netip.Addr // either may be zero
	ns     *stack.Stack
	ep     *linkEndpoint
	out    *packetQueue
	guard  *guard
	svc    services
	conns  connGroup
	events chan tun.Event
	// gro holds *groBatch values for Write.
	gro sync.Pool
	// readMu serializes Read, the one user of seg.
	readMu sync.Mutex
	seg    segmenter
	// readBatch bounds the packets one Read returns (Config.ReadBatch).
	readBatch int
	// outGate and inGate bound the packets wireguard-go holds
	// (Config.InFlight; nil: no bound): Read waits on outGate and the
	// bind's Send lets them out; the bind's receive waits on inGate and
	// Write lets them out.
	outGate, inGate *Gate
	// udpIdle ends forwarded UDP flows.
	udpIdle time.Duration
	// copyBuf is the most bytes each direction of an exposed service's
	// flow reads at once (pipeBuf; legacyPipeBuf on the legacy data
	// path; see pipe).
	copyBuf int

	// closing is set when Close begins; the packet path reads it.
	closing atomic.Bool
	// ctx is cancelled by Close; it bounds local dials.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

var _ tun.Device = (*Stack)(nil)

// New validates cfg and starts a Stack. The Filter starts nil, so every new
// inbound flow is denied until SetFilter is called.
func New(cfg Config) (*Stack, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stack{
		log:       cfg.Logger,
		mtu:       cfg.MTU,
		v4:        cfg.IPv4,
		v6:        cfg.IPv6,
		out:       newPacketQueue(outQueueLen),
		events:    make(chan tun.Event, 1),
		udpIdle:   cfg.UDPIdleTimeout,
		readBatch: cfg.ReadBatch,
		outGate:   newGate(cfg.InFlight, inFlightStall),
		inGate:    newGate(cfg.InFlight, inFlightStall),
		copyBuf:   pipeBuf,
	}
	if cfg.LegacyDataPath {
		s.copyBuf = legacyPipeBuf
	}
	if cfg.CopyBuffer > 0 {
		s.copyBuf = cfg.CopyBuffer
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.svc.init(cfg.Expose)
	s.guard = newGuard(cfg.guardConfig(), &s.svc)
	s.guard.answer, s.guard.refused = s.inject, s.abort
	gso := stack.HostGSOSupported
	if cfg.LegacyDataPath {
		gso = stack.GVisorGSOSupported
	}
	s.ep = newLinkEndpoint(uint32(cfg.MTU), s.out, gso, &s.guard.n.outDropped)
	s.gro.New = func() any { return newGROBatch() }
	if err := s.startGVisor(cfg.LegacyDataPath, cfg.TCPBufferMax); err != nil {
		s.cancel()
		s.ns.Destroy()
		return nil, err
	}
	s.wg.Add(1)
	go s.sweepLoop()
	s.events <- tun.EventUp
	return s, nil
}

// startGVisor creates the gVisor stack, its NIC, addresses, routes and
// forwarders.
func (s *Stack) startGVisor(legacy bool, bufMax int) error {
	s.ns = stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
	})
	if err := tuneTCP(s.ns, legacy, bufMax); err != nil {
		return err
	}
	if err := s.ns.CreateNIC(nicID, s.ep); err != nil {
		return fmt.Errorf("create nic: %v", err)
	}
	for _, a := range []netip.Addr{s.v4, s.v6} {
		if err := s.addAddress(a); err != nil {
			return err
		}
	}
	s.installForwarders()
	return nil
}

// addAddress assigns a (if valid) to the NIC and routes its family there.
func (s *Stack) addAddress(a netip.Addr) error {
	if !a.IsValid() {
		return nil
	}
	proto, subnet := ipv4.ProtocolNumber, header.IPv4EmptySubnet
	if a.Is6() {
		proto, subnet = ipv6.ProtocolNumber, header.IPv6EmptySubnet
	}
	pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(a.AsSlice()).WithPrefix()}
	if err := s.ns.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("add address %v: %v", a, err)
	}
	s.ns.AddRoute(tcpip.Route{Destination: subnet, NIC: nicID})
	return nil
}

// sweepLoop removes expired flows until Close.
func (s *Stack) sweepLoop() {
	defer s.wg.Done()
	s.guard.sweepLoop(s.ctx)
}

// SetFilter replaces the inbound Filter; nil denies every new inbound flow.
// Tracked inbound flows are checked against f at once, and those f denies
// are cut: ended with a TCP RST or an ICMP port unreachable to the peer
// and a reset of the local service's connection (see cutDenied).
func (s *Stack) SetFilter(f Filter) {
	s.guard.filter.set(f)
	s.cutDenied()
}

// Stats returns the filter counters.
func (s *Stack) Stats() Stats {
	return s.guard.stats()
}

// Addrs returns the node's overlay addresses; either may be the zero Addr.
func (s *Stack) Addrs() (v4, v6 netip.Addr) {
	return s.v4, s.v6
}

// Expose forwards allowed inbound flows to svc's port on the overlay
// addresses to 127.0.0.1 on the same port. It is idempotent.
func (s *Stack) Expose(svc Service) error {
	if err := svc.validate(); err != nil {
		return err
	}
	s.svc.expose(svc)
	return nil
}

// Unexpose stops forwarding new flows to svc; flows already forwarded go
// on until they end. It is idempotent.
func (s *Stack) Unexpose(svc Service) {
	s.svc.unexpose(svc)
}

// Exposed returns the exposed services, in no particular order.
func (s *Stack) Exposed() []Service {
	return s.svc.list()
}

// Close stops the Stack: Read returns os.ErrClosed, Write drops, forwarded
// connections and listeners close, and every goroutine the Stack started
// has returned when Close returns. It is idempotent and always returns nil.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.cancel()
		s.out.close()
		s.conns.close()
		s.ns.Close()
		s.conns.wait()
		s.wg.Wait()
		s.ns.Wait()
		close(s.events)
	})
	return nil
}

// closed reports whether Close has begun.
func (s *Stack) closed() bool {
	return s.closing.Load()
}

// InFlight returns the gates that bound the packets wireguard-go holds
// (Config.InFlight; both nil when unbounded): out is entered by Read and
// must be left by the bind as it sends (Gate.Leave with the packets of
// each send); in must be waited on (Gate.Wait) before each receive of the
// bind and entered with the data packets it received, and is left by
// Write.
func (s *Stack) InFlight() (out, in *Gate) { return s.outGate, s.inGate }
