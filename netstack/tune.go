package netstack

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TCP buffer sizes. A buffer starts at 256 KiB and grows, by
// receive-buffer auto-tuning, only for a flow that needs it, up to 4 MiB
// (a 670 Mbit/s flow at 50 ms round trip; 1 MiB carried 170 Mbit/s). A
// buffer's bytes are in flight as packets; wireguard-go holds each packet
// in a 64 KiB buffer, so only Config.InFlight packets of a window are let
// into it (Gate) and the rest waits in gVisor's buffers and the UDP
// socket's, at its own size: before that bound a window over 1 MiB (or
// several flows' together) sat in wireguard-go's queues and a node's
// memory grew 64-fold with it. The legacy data path
// (Config.LegacyDataPath) keeps the sizes before issue 12.
const (
	tcpBufMin           = 4 << 10
	tcpBufDefault       = 256 << 10
	tcpBufMax           = 4 << 20
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
