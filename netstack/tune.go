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
	opts := []tcpip.SettableTransportProtocolOption{&sack, &cc, &moderate, &rcv, &snd}
	for _, o := range opts {
		if err := ns.SetTransportProtocolOption(tcp.ProtocolNumber, o); err != nil {
			return fmt.Errorf("set tcp option %T: %v", o, err)
		}
	}
	return nil
}
