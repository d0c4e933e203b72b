package netstack

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TestTCPBufferMaxBoundsBuffers: Config.TCPBufferMax sets the bound TCP
// buffers grow to (and caps their starting size), 0 keeps 1 MiB, and the
// legacy data path keeps its 8 MiB.
func TestTCPBufferMaxBoundsBuffers(t *testing.T) {
	v4, v6 := netip.MustParseAddr("100.64.0.1"), netip.MustParseAddr("fd7a:115c:a1e0::1")
	tests := []struct {
		cfg         Config
		wantDefault int
		wantMax     int
	}{
		{Config{}, tcpBufDefault, tcpBufMax},
		{Config{TCPBufferMax: 512 << 10}, tcpBufDefault, 512 << 10},
		{Config{TCPBufferMax: 128 << 10}, 128 << 10, 128 << 10},
		{Config{LegacyDataPath: true, TCPBufferMax: 128 << 10}, legacyTCPBufDefault, legacyTCPBufMax},
	}
	for _, tt := range tests {
		s := newTestStack(t, &tt.cfg, v4, v6)
		var rcv tcpip.TCPReceiveBufferSizeRangeOption
		var snd tcpip.TCPSendBufferSizeRangeOption
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
			t.Fatal(err)
		}
		if err := s.ns.TransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
			t.Fatal(err)
		}
		if rcv.Default != tt.wantDefault || rcv.Max != tt.wantMax || snd.Default != tt.wantDefault || snd.Max != tt.wantMax {
			t.Errorf("config %+v: receive %+v, send %+v; want default %d, max %d", tt.cfg, rcv, snd, tt.wantDefault, tt.wantMax)
		}
	}
}
