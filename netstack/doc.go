// Package netstack gives a Ward node its network stack: a
// golang.zx2c4.com/wireguard/tun.Device backed by a userspace gVisor TCP/IP
// stack, so wireguard-go runs without a kernel TUN device or root, with a
// stateful inbound packet filter in front of gVisor.
//
// # API
//
//   - New(Config) starts a Stack for the node's overlay addresses
//     (Config.IPv4, Config.IPv6) and MTU (default 1420). It validates the
//     Config and returns an error wrapping ErrInvalidConfig; it never
//     panics. Hand the Stack to device.NewDevice as its tun.Device.
//   - Stack.SetFilter(Filter) installs the inbound policy; until then, and
//     whenever it is nil, every new inbound flow is denied. Filter is one
//     method, Allow(src, dst, proto, dstPort); FilterFunc adapts a func.
//   - Config.OnDenied(DeniedFlow) reports each denied new flow and each
//     flow cut by a Filter change; Stack.Stats() returns the counters.
//   - Stack.Expose(Service) / Unexpose / Exposed, and Config.Expose,
//     choose which TCP and UDP ports are forwarded to 127.0.0.1.
//   - Stack.DialContext(ctx, network, address) opens outbound TCP or UDP
//     connections through the overlay; Stack.ListenTCP and
//     Stack.ListenUDP serve a port on an overlay address in process.
//   - Stack.Close() stops everything and is idempotent.
//
// # Data path
//
// wireguard-go writes decrypted packets into a Stack (Stack.Write, up to
// BatchSize packets per call). Every packet is parsed and judged by the
// inbound filter before gVisor sees it; packets that pass are coalesced
// (GRO) and delivered to gVisor. Packets that gVisor sends (replies,
// outbound connections, split from large TCP segments by gVisor GSO) are
// queued by the Stack's link endpoint without copying and copied once,
// in batches, into wireguard-go's buffers (Stack.Read).
//
// # Inbound filter and connection tracking
//
// The Filter decides every new inbound flow: a TCP SYN, the first UDP
// datagram of a flow, an ICMP echo request. An allowed flow is admitted
// only if something serves its port (an exposed service or a Stack
// listener; gVisor answers echo requests itself), and is then tracked.
// An allowed TCP SYN to a port nothing serves is answered with a reset
// (the source may open the flow, so "nothing listens" tells it nothing
// the policy does not grant, and its dial fails at once); an allowed UDP
// datagram there is dropped.
// Flows this node opens (seen on the Read side) are tracked too, so their
// replies pass whatever the Filter says. Each Filter gets a generation
// number; a tracked inbound flow remembers the generation that last
// allowed it. SetFilter checks every tracked inbound flow against the new
// Filter at once; a flow it denies is cut: its packets are dropped both
// ways from then on, so a revoked grant also ends flows already open, and
// both ends learn at once: the gVisor endpoint is aborted (a TCP peer gets
// a RST, the local service's connection is reset), a UDP peer gets an ICMP
// port unreachable, and what the peer still sends on the cut flow is
// answered the same way. The peer is the one that had the flow, so this
// tells it nothing new. An ICMP destination unreachable is let in only
// from the far end of a tracked flow it quotes (a UDP socket this node
// opened is then closed). Everything else (unsolicited packets, denied
// flows, malformed packets, IP fragments, other ICMP) is dropped silently
// and counted: gVisor never sees it, so it never answers with a TCP RST or
// an ICMP unreachable. A denied source learns nothing, not even whether
// the node is there. The flow table is sharded, bounded by
// Config.MaxFlows (least recently seen flows are evicted when full), and
// expires flows (UDP after 2 minutes, TCP after 2 hours established, a
// minute opening, 30 seconds closing). The packet path takes one shard
// read lock per packet and allocates nothing.
//
// # Services
//
// An allowed inbound TCP connection to an exposed port is answered only
// once a connection to 127.0.0.1 on the same port succeeds (a refused
// local dial gets a RST), then spliced both ways with half-close. A UDP
// flow to an exposed port gets its own local socket, closed after
// Config.UDPIdleTimeout without traffic. On a port that is neither exposed
// nor listened on, an allowed TCP connection gets a RST and UDP gets no
// answer.
//
// Stack.DialContext reports a connection the peer reset as
// syscall.ECONNREFUSED, as the OS's dialer does.
//
// # Lifecycle
//
// New starts the gVisor stack and one housekeeping goroutine; Close stops
// every goroutine the Stack owns (including forwarded connections). A
// Stack handed to device.NewDevice is closed by the device's Close.
package netstack
