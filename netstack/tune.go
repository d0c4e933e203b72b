package netstack

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TCP buffer sizes. gVisor's defaults (1 MiB, growing to 4 MiB) are
// tuned for a datacenter; on a device the overlay's bandwidth-delay
// product is modest, and receive-buffer auto-tuning grows a buffer only
// for a flow that needs it.
const (
	tcpBufMin     = 4 << 10
	tcpBufDefault = 1 << 20
	tcpBufMax     = 8 << 20
)

// tuneTCP sets the TCP options the Stack runs with: SACK, CUBIC, buffer
// ranges and receive-buffer auto-tuning.
func tuneTCP(ns *stack.Stack) error {
	sack := tcpip.TCPSACKEnabled(true)
	cc := tcpip.CongestionControlOption("cubic")
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcpBufMin, Default: tcpBufDefault, Max: tcpBufMax}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: tcpBufMin, Default: tcpBufDefault, Max: tcpBufMax}
	// RACK loss detection off: with it (gVisor's default), a flow that
	// lost every segment of its window during a path outage never had its
	// retransmission timer fire again (no timeout in 15 s after the path
	// came back; TestStreamingFlowRecoversAfterPathOutage), so it stalled
	// for good after a NAT rebind, a relay restart or a key rotation.
	// Without RACK, SACK-based recovery and the RTO work as in RFC 6298.
	recovery := tcpip.TCPRecovery(0)
	opts := []tcpip.SettableTransportProtocolOption{&sack, &cc, &moderate, &rcv, &snd, &recovery}
	for _, o := range opts {
		if err := ns.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			return fmt.Errorf("set tcp option %T: %v", o, err)
		}
	}
	return nil
}
