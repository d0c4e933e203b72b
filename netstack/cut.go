package netstack

import (
	"encoding/binary"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// cutDenied ends, at once, every tracked inbound flow the current Filter
// denies: its gVisor endpoint is aborted, so a TCP peer gets a RST (which
// the guard lets out) and the local service's connection is reset; a UDP
// peer gets an ICMP port unreachable. Packets the peer still sends on a
// cut flow are answered the same way (guard.answerCut).
func (s *Stack) cutDenied() {
	for _, k := range s.guard.revokeDenied() {
		s.abort(&k)
		if k.proto == ProtoUDP {
			s.inject(unreachableFor(datagramOf(&k)))
		}
	}
}

// abort aborts the gVisor endpoint of flow k, if there is one: a TCP
// connection is reset, a UDP socket closed (gonet's reads do not see the
// error an ICMP port unreachable leaves on a socket, so a socket whose
// peer refused its flow is closed instead).
func (s *Stack) abort(k *flowKey) {
	proto := tcp.ProtocolNumber
	if k.proto == ProtoUDP {
		proto = udp.ProtocolNumber
	} else if k.proto != ProtoTCP {
		return
	}
	netProto := header.IPv4ProtocolNumber
	if k.local.Is6() {
		netProto = header.IPv6ProtocolNumber
	}
	id := stack.TransportEndpointID{
		LocalPort:     k.localPort,
		LocalAddress:  addrOf(k.local),
		RemotePort:    k.remotePort,
		RemoteAddress: addrOf(k.remote),
	}
	if ep := s.ns.FindTransportEndpoint(netProto, proto, id, nicID); ep != nil {
		ep.Abort()
	}
}

// datagramOf returns an empty UDP datagram of flow k as the peer sends
// it, parsed, for an ICMP error to quote.
func datagramOf(k *flowKey) ([]byte, *packet) {
	b, t := ipHeader(k.remote, k.local, ProtoUDP, header.UDPMinimumSize)
	binary.BigEndian.PutUint16(t[0:2], k.remotePort)
	binary.BigEndian.PutUint16(t[2:4], k.localPort)
	binary.BigEndian.PutUint16(t[4:6], header.UDPMinimumSize)
	return b, &packet{src: k.remote, dst: k.local, srcPort: k.remotePort, dstPort: k.localPort, proto: ProtoUDP}
}

// inject queues packet b, made by this node, for wireguard-go to send. A
// full or closed queue drops it, counted as an outbound drop.
func (s *Stack) inject(b []byte) {
	pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(b)})
	if !s.out.push(pkt) {
		pkt.DecRef()
		s.guard.n.outDropped.Add(1)
	}
}
