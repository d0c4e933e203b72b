package netstack

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// startTCPService runs a TCP server on 127.0.0.1 that sends hello on each
// connection, then reads until the connection ends, and sends how it
// ended on the returned channel. It returns the server's port.
func startTCPService(t *testing.T) (uint16, <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ended := make(chan error, 4)
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(answerWait))
		io.WriteString(c, "hello")
		_, err = io.Copy(io.Discard, c)
		ended <- err
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port), ended
}

// readEnd reads c until it fails and returns the error, failing the test
// if nothing ends the connection within answerWait.
func readEnd(t *testing.T, c net.Conn) error {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(answerWait))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the cut flow went silent: %v; want it ended at once", err)
	}
	return err
}

// isReset reports whether err says the connection was reset: an errno
// from the OS, gVisor's text through gonet.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || (err != nil && strings.Contains(err.Error(), "connection reset by peer"))
}

// TestPolicyCutTCPFlowEndsWithReset: when a new Filter denies an
// established TCP flow, both ends learn at once, while neither is
// sending: the peer's connection is reset (not left waiting on silence)
// and so is the local service's, and the cut is reported.
func TestPolicyCutTCPFlowEndsWithReset(t *testing.T) {
	port, serviceEnd := startTCPService(t)
	denied := make(chan DeniedFlow, 16)
	p := newWardPair(t, nil, &Config{
		Expose:   []Service{{ProtoTCP, port}},
		OnDenied: func(d DeniedFlow) { denied <- d },
	})
	p.b.SetFilter(allowAll)
	c := dial(t, p.a, "tcp", addrB4, port)
	buf := make([]byte, 5)
	c.SetReadDeadline(time.Now().Add(answerWait))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v; want hello", buf, err)
	}
	p.b.SetFilter(denyAll)
	if err := readEnd(t, c); !isReset(err) {
		t.Fatalf("peer's read after the cut = %v; want connection reset", err)
	}
	select {
	case err := <-serviceEnd:
		if !isReset(err) {
			t.Fatalf("local service's read after the cut = %v; want connection reset", err)
		}
	case <-time.After(answerWait):
		t.Fatal("the local service's connection stayed open after the cut")
	}
	if d := <-denied; !d.Revoked || d.Src != addrA4 || d.Port != port {
		t.Fatalf("denied flow = %+v; want revoked flow from %v to %d", d, addrA4, port)
	}
}

// TestPolicyCutUDPFlowGetsUnreachable: when a new Filter denies a UDP
// flow, the peer learns at once through an ICMP port unreachable, which
// its guard lets in because it quotes a flow the peer opened with that
// node: the peer's socket ends instead of waiting on silence.
func TestPolicyCutUDPFlowGetsUnreachable(t *testing.T) {
	port, _ := startUDPEcho(t)
	p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoUDP, port}}})
	p.b.SetFilter(allowAll)
	c := dial(t, p.a, "udp", addrB4, port)
	roundTrip(t, c, "before")
	p.b.SetFilter(denyAll)
	if err := readEnd(t, c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Fatalf("peer's read after the cut = %v; want the socket ended", err)
	}
	if st := p.a.Stats(); st.Unsolicited != 0 || st.Malformed != 0 {
		t.Fatalf("peer's stats = %+v; the unreachable must pass its guard", st)
	}
}

// TestCutFlowPacketsAnswered: a packet a peer still sends on a cut flow
// is dropped and answered, to that peer only: a TCP segment with a RST
// the peer's stack accepts (its sequence number is the segment's
// acknowledgment), a UDP datagram with an ICMP port unreachable quoting
// it; a RST gets nothing.
func TestCutFlowPacketsAnswered(t *testing.T) {
	tests := []struct {
		name      string
		src, dst  netip.Addr
		open, cut []byte
		want      func(t *testing.T, a []byte)
	}{
		{"tcp ack", addrA4, addrB4, tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), withAck(tcpPacket(addrA4, addrB4, 40000, 80, tcpACK), 1000, 5000),
			func(t *testing.T, a []byte) {
				wantAnswer(t, a, packet{src: addrB4, dst: addrA4, srcPort: 80, dstPort: 40000, proto: ProtoTCP, tcpFlags: tcpRST})
				if seq := header.TCP(transportOf(a)).SequenceNumber(); seq != 5000 {
					t.Fatalf("reset seq = %d, want the segment's ack 5000", seq)
				}
			}},
		{"tcp ipv6", addrA6, addrB6, tcpPacket(addrA6, addrB6, 40000, 80, tcpSYN), withAck(tcpPacket(addrA6, addrB6, 40000, 80, tcpACK), 7, 9),
			func(t *testing.T, a []byte) {
				wantAnswer(t, a, packet{src: addrB6, dst: addrA6, srcPort: 80, dstPort: 40000, proto: ProtoTCP, tcpFlags: tcpRST})
			}},
		{"udp", addrA4, addrB4, udp4Packet(addrA4, addrB4, 5000, 53, nil), udp4Packet(addrA4, addrB4, 5000, 53, []byte("query")),
			func(t *testing.T, a []byte) {
				wantAnswer(t, a, packet{src: addrB4, dst: addrA4, proto: ProtoICMP, icmpType: icmp4DestUnreachable, icmpErr: true,
					quoted: quotedFlow{src: addrA4, dst: addrB4, srcPort: 5000, dstPort: 53, proto: ProtoUDP}})
			}},
		{"udp ipv6", addrA6, addrB6, ipPacket(addrA6, addrB6, ProtoUDP, udpHeader(5000, 53, nil)), ipPacket(addrA6, addrB6, ProtoUDP, udpHeader(5000, 53, nil)),
			func(t *testing.T, a []byte) {
				wantAnswer(t, a, packet{src: addrB6, dst: addrA6, proto: ProtoICMPv6, icmpType: icmp6DestUnreachable, icmpErr: true,
					quoted: quotedFlow{src: addrA6, dst: addrB6, srcPort: 5000, dstPort: 53, proto: ProtoUDP}})
			}},
		{"tcp reset", addrA4, addrB4, tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), tcpPacket(addrA4, addrB4, 40000, 80, tcpRST),
			func(t *testing.T, a []byte) {
				if a != nil {
					t.Fatalf("a reset was answered: %x", a)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGuard(GuardConfig{IPv4: addrB4, IPv6: addrB6, MaxFlows: DefaultMaxFlows}, nil)
			var answers [][]byte
			g.answer = func(b []byte) { answers = append(answers, b) }
			g.filter.set(allowAll)
			if !g.inbound(tt.open, g.ct.now()) {
				t.Fatal("the flow did not open")
			}
			g.filter.set(denyAll)
			if cut := g.revokeDenied(); len(cut) != 1 {
				t.Fatalf("revokeDenied cut %d flows, want 1", len(cut))
			}
			if g.inbound(tt.cut, g.ct.now()) {
				t.Fatal("a packet of the cut flow passed")
			}
			var a []byte
			if len(answers) > 0 {
				a = answers[0]
			}
			tt.want(t, a)
		})
	}
}

// withAck sets TCP packet b's sequence and acknowledgment numbers (its
// checksum is not kept).
func withAck(b []byte, seq, ack uint32) []byte {
	tcp := header.TCP(transportOf(b))
	tcp.SetSequenceNumber(seq)
	tcp.SetAckNumber(ack)
	return b
}

// wantAnswer parses answer a and compares it with want, and checks its
// IPv4 header and transport checksums.
func wantAnswer(t *testing.T, a []byte, want packet) {
	t.Helper()
	var got packet
	if err := parsePacket(a, &got); err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(packet{}, quotedFlow{}), cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
		t.Fatalf("answer mismatch (-want +got):\n%s", diff)
	}
	tr := transportOf(a)
	proto := tcpip.TransportProtocolNumber(want.proto)
	var xsum uint16
	if want.src.Is4() {
		if !header.IPv4(a).IsChecksumValid() {
			t.Fatal("bad IPv4 header checksum")
		}
	}
	if want.proto != ProtoICMP {
		xsum = header.PseudoHeaderChecksum(proto, addrOf(want.src), addrOf(want.dst), uint16(len(tr)))
	}
	if got := icmpSum(tr, xsum); got != 0xffff {
		t.Fatalf("bad %d checksum: sum %#x", want.proto, got)
	}
}

// TestFlowRevokedByPacketIsStillEnded: a packet that meets the new Filter
// before SetFilter's walk revokes its flow on the packet path; the walk
// still hands the flow to the stack to end (once), or its gVisor endpoint
// and the local service's connection would stay open.
func TestFlowRevokedByPacketIsStillEnded(t *testing.T) {
	g := newGuard(GuardConfig{IPv4: addrB4, MaxFlows: DefaultMaxFlows}, nil)
	g.filter.set(allowAll)
	if !g.inbound(tcpPacket(addrA4, addrB4, 40000, 80, tcpSYN), g.ct.now()) {
		t.Fatal("the flow did not open")
	}
	g.filter.set(denyAll)
	if g.inbound(tcpPacket(addrA4, addrB4, 40000, 80, tcpACK), g.ct.now()) {
		t.Fatal("a packet of the revoked flow passed")
	}
	if cut := g.revokeDenied(); len(cut) != 1 || cut[0].remotePort != 40000 {
		t.Fatalf("revokeDenied = %+v; want the flow the packet revoked", cut)
	}
	if cut := g.revokeDenied(); len(cut) != 0 {
		t.Fatalf("second revokeDenied = %+v; want each flow ended once", cut)
	}
}
