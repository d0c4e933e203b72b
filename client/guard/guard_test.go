package guard

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/wardnet/ward/filter"
)

var (
	self  = netip.MustParseAddr("100.64.0.2")
	peer  = netip.MustParseAddr("100.64.0.1")
	other = netip.MustParseAddr("100.64.0.9")
	lan   = netip.MustParseAddr("192.0.2.7")
)

// tcp4 builds an IPv4 TCP segment.
func tcp4(src, dst netip.Addr, sport, dport uint16, flags byte) []byte {
	b := make([]byte, 40)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:4], 40)
	b[8], b[9] = 64, protoTCP
	copy(b[12:16], src.AsSlice())
	copy(b[16:20], dst.AsSlice())
	binary.BigEndian.PutUint16(b[20:22], sport)
	binary.BigEndian.PutUint16(b[22:24], dport)
	b[32] = 5 << 4
	b[33] = flags
	return b
}

// allow22 lets peer open TCP flows to self's port 22.
func allow22(src netip.Addr) *filter.Matcher {
	return filter.Compile([]filter.Rule{{Src: []netip.Prefix{netip.PrefixFrom(src, 32)},
		Dst: []filter.DstNet{{Net: netip.PrefixFrom(self, 32), Ports: []filter.PortRange{{First: 22, Last: 22}}}}, Protos: []filter.Proto{filter.ProtoTCP}}})
}

func TestInbound(t *testing.T) {
	tests := []struct {
		name string
		pkt  []byte
		want Reason
	}{
		{"granted SYN", tcp4(peer, self, 40000, 22, tcpSYN), Pass},
		{"ungranted port", tcp4(peer, self, 40000, 80, tcpSYN), Denied},
		{"ungranted source", tcp4(other, self, 40000, 22, tcpSYN), Denied},
		{"segment without SYN", tcp4(peer, self, 40001, 22, tcpACK), Unsolicited},
		{"for the local network", tcp4(peer, lan, 40000, 22, tcpSYN), NotLocal},
		{"spoofing this machine", tcp4(self, self, 40000, 22, tcpSYN), NotLocal},
		{"truncated", tcp4(peer, self, 40000, 22, tcpSYN)[:30], Malformed},
		{"empty", nil, Malformed},
	}
	for _, tt := range tests {
		g := New(Config{IPv4: self})
		g.SetMatcher(allow22(peer))
		if got := g.Inbound(tt.pkt); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRepliesToLocalFlowsPass(t *testing.T) {
	g := New(Config{IPv4: self}) // no matcher: nothing may open a flow here
	if !g.Outbound(tcp4(self, peer, 50000, 443, tcpSYN)) {
		t.Fatal("outbound SYN dropped")
	}
	if got := g.Inbound(tcp4(peer, self, 443, 50000, tcpSYN|tcpACK)); got != Pass {
		t.Fatalf("reply to a local flow: %q", got)
	}
	if got := g.Inbound(tcp4(peer, self, 443, 50001, tcpSYN|tcpACK)); got != Unsolicited {
		t.Fatalf("SYN-ACK for no flow: %q", got)
	}
}

// TestRevokedGrantCutsOpenFlow pins convention 13: a filter change that
// denies a tracked inbound flow cuts it both ways.
func TestRevokedGrantCutsOpenFlow(t *testing.T) {
	var denied []Flow
	g := New(Config{IPv4: self, OnDenied: func(f Flow) { denied = append(denied, f) }})
	g.SetMatcher(allow22(peer))
	if g.Inbound(tcp4(peer, self, 40000, 22, tcpSYN)) != Pass || !g.Outbound(tcp4(self, peer, 22, 40000, tcpSYN|tcpACK)) {
		t.Fatal("flow not opened")
	}
	g.SetMatcher(allow22(other))
	if got := g.Inbound(tcp4(peer, self, 40000, 22, tcpACK)); got != Revoked {
		t.Fatalf("packet of a revoked flow: %q", got)
	}
	if g.Outbound(tcp4(self, peer, 22, 40000, tcpACK)) {
		t.Fatal("reply of a revoked flow passed")
	}
	if st := g.Stats(); st.Revoked != 1 || len(denied) != 1 || !denied[0].Revoked {
		t.Fatalf("stats %+v, reports %+v", st, denied)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(tcp4(peer, self, 1, 22, tcpSYN))
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 17, 64})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p packet
		_ = parse(b, &p)
		g := New(Config{IPv4: self})
		g.SetMatcher(allow22(peer))
		g.Inbound(b)
		g.Outbound(b)
	})
}

func BenchmarkInboundEstablished(b *testing.B) {
	g := New(Config{IPv4: self})
	g.SetMatcher(allow22(peer))
	g.Inbound(tcp4(peer, self, 40000, 22, tcpSYN))
	pkt := tcp4(peer, self, 40000, 22, tcpACK)
	b.ReportAllocs()
	for b.Loop() {
		g.Inbound(pkt)
	}
}
