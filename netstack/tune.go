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
// for a flow that needs it. A buffer's bytes are in flight as packets, and
// each packet in wireguard-go's queues holds a 64 KiB buffer: the bound on
// the buffers bounds the node's memory under load. The legacy data path
// (Config.LegacyDataPath) keeps the sizes before issue 12.
const (
	tcpBufMin           = 4 << 10
	tcpBufDefault       = 256 << 10
	tcpBufMax           = 1 << 20
	legacyTCPBufDefault = 1 << 20
	legacyTCPBufMax     = 8 << 20
)

// tuneTCP sets the TCP options the Stack runs with: SACK, CUBIC, buffer
// ranges (up to bufMax when not 0) and receive-buffer auto-tuning.
func tuneTCP(ns *stack.Stack, legacy bool, bufMax int) error {
	sack := tcpip.TCPSACKEnabled(true)
	cc := tcpip.CongestionControlOption("cubic")
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	def, maxBuf := tcpBufDefault, tcpBufMax
	switch {
	case legacy:
		def, maxBuf = legacyTCPBufDefault, legacyTCPBufMax
	case bufMax > 0:
		maxBuf = max(bufMax, tcpBufMin)
		def = min(def, maxBuf)
	}
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: tcpBufMin, Default: def, Max: maxBuf}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: tcpBufMin, Default: def, Max: maxBuf}
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
