// Package netstack gives a Ward node its network stack: a
// golang.zx2c4.com/wireguard/tun.Device backed by a userspace gVisor TCP/IP
// stack, so wireguard-go runs without a kernel TUN device or root.
//
// # Data path
//
// wireguard-go writes decrypted packets into a Stack (Stack.Write). Every
// packet is parsed and judged by the inbound packet filter before gVisor sees
// it; packets that pass are coalesced (GRO) and delivered to gVisor. Packets
// that gVisor sends (replies, outbound connections) are queued by the
// Stack's link endpoint and handed to wireguard-go in batches (Stack.Read).
//
// # Inbound filter and connection tracking
//
// A Filter, set with Stack.SetFilter, decides every new inbound flow: a TCP
// SYN, the first UDP datagram of a flow, an ICMP echo request. A nil Filter
// denies every new inbound flow. Flows this node opens (seen on the Read
// side) are tracked, so their replies pass whatever the Filter says. An
// allowed inbound flow is tracked too and passes until it expires; but when
// the Filter is replaced, each tracked inbound flow is checked against the
// new Filter on its next packet, and a flow the new Filter denies is cut
// (its packets are dropped in both directions from then on). Everything
// else (unsolicited packets, denied flows, malformed packets, fragments) is
// dropped silently: gVisor never answers with a TCP RST or an ICMP
// unreachable for it. Denied new flows are reported through
// Config.OnDenied; every drop is counted in Stats.
//
// # Services
//
// An allowed inbound TCP connection or UDP flow to an exposed port
// (Config.Expose, Stack.Expose) on the node's overlay address is forwarded
// to 127.0.0.1 on the same port. A flow to a port that is neither exposed
// nor listened on (Stack.ListenTCP, Stack.ListenUDP) gets no answer at all.
//
// # Outbound
//
// Stack.DialContext opens TCP and UDP connections through the overlay to
// other nodes' overlay addresses.
//
// # Lifecycle
//
// New starts the stack and one housekeeping goroutine; Close stops every
// goroutine the Stack owns (including forwarded connections) and is
// idempotent. wireguard-go's Device.Close also closes its tun.Device, so a
// Stack handed to device.NewDevice is closed by it.
package netstack
