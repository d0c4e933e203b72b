package netstack

import (
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// gsoMaxSize is the largest TCP segment gVisor builds before it (gVisor
// GSO, the legacy data path) or the Stack's segmenter (host GSO) cuts it
// into MTU-sized packets: fewer, larger segments make the TCP sender
// cheaper. It leaves room for the largest IPv4 header, so the IP total
// length of a segment fits in 16 bits.
const gsoMaxSize = 1<<16 - 1 - header.IPv4MaximumHeaderSize

// linkEndpoint is the gVisor link layer of a Stack: packets gVisor sends
// are queued for Stack.Read; packets from Stack.Write are delivered through
// the attached dispatcher. It has no link header and no link addresses.
type linkEndpoint struct {
	mtu        atomic.Uint32
	dispatcher atomic.Pointer[dispatcherRef]
	out        *packetQueue
	// gso is the segmentation offload the endpoint offers.
	gso stack.SupportedGSO
	// drops counts packets refused because the queue was full or closed.
	drops *atomic.Uint64
}

// dispatcherRef boxes an interface for atomic.Pointer.
type dispatcherRef struct{ d stack.NetworkDispatcher }

var (
	_ stack.LinkEndpoint = (*linkEndpoint)(nil)
	_ stack.GSOEndpoint  = (*linkEndpoint)(nil)
)

func newLinkEndpoint(mtu uint32, out *packetQueue, gso stack.SupportedGSO, drops *atomic.Uint64) *linkEndpoint {
	e := &linkEndpoint{out: out, gso: gso, drops: drops}
	e.mtu.Store(mtu)
	return e
}

// MTU implements stack.LinkEndpoint.
func (e *linkEndpoint) MTU() uint32 { return e.mtu.Load() }

// SetMTU implements stack.LinkEndpoint.
func (e *linkEndpoint) SetMTU(mtu uint32) { e.mtu.Store(mtu) }

// MaxHeaderLength implements stack.LinkEndpoint: there is no link header.
func (*linkEndpoint) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint: there are no link addresses.
func (*linkEndpoint) LinkAddress() tcpip.LinkAddress { return "" }

// SetLinkAddress implements stack.LinkEndpoint; it does nothing.
func (*linkEndpoint) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint. It declares receive
// checksum offload: every inbound packet was authenticated end to end by
// WireGuard's AEAD, so IP, TCP and UDP checksums add nothing, and GRO'd
// packets (whose IPv4 header checksum GRO does not update) stay valid.
// Checksums are still computed on send: the peer may be a kernel stack
// that checks them.
func (*linkEndpoint) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityRXChecksumOffload
}

// Attach implements stack.LinkEndpoint.
func (e *linkEndpoint) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		e.dispatcher.Store(nil)
		return
	}
	e.dispatcher.Store(&dispatcherRef{d: d})
}

// IsAttached implements stack.LinkEndpoint.
func (e *linkEndpoint) IsAttached() bool { return e.dispatcher.Load() != nil }

// Wait implements stack.LinkEndpoint: the endpoint owns no goroutines.
func (*linkEndpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (*linkEndpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint: there is no link header.
func (*linkEndpoint) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint: there is no link header.
func (*linkEndpoint) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.LinkEndpoint; the Stack closes the queue itself.
func (*linkEndpoint) Close() {}

// SetOnCloseAction implements stack.LinkEndpoint; it does nothing.
func (*linkEndpoint) SetOnCloseAction(func()) {}

// GSOMaxSize implements stack.GSOEndpoint.
func (*linkEndpoint) GSOMaxSize() uint32 { return gsoMaxSize }

// SupportedGSO implements stack.GSOEndpoint: host GSO (the Stack's
// segmenter cuts gVisor's large TCP segments as Read copies them out), or
// on the legacy data path gVisor GSO (gVisor cuts them before
// WritePackets).
func (e *linkEndpoint) SupportedGSO() stack.SupportedGSO { return e.gso }

// WritePackets implements stack.LinkEndpoint: it queues the packets for
// Stack.Read, holding a reference to each. A full queue drops the rest,
// as a full NIC ring would; TCP recovers.
func (e *linkEndpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	n := 0
	for _, pkt := range pkts.AsSlice() {
		if !e.out.push(pkt.IncRef()) {
			pkt.DecRef()
			e.drops.Add(uint64(pkts.Len() - n))
			if n == 0 {
				return 0, &tcpip.ErrNoBufferSpace{}
			}
			break
		}
		n++
	}
	return n, nil
}

// dispatcherOrNil returns the attached dispatcher, or nil when the NIC is
// detached.
func (e *linkEndpoint) dispatcherOrNil() stack.NetworkDispatcher {
	if r := e.dispatcher.Load(); r != nil {
		return r.d
	}
	return nil
}
