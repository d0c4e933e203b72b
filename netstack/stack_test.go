package netstack

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// noAnswerWait is how long a "gets no answer" check waits.
	noAnswerWait = 300 * time.Millisecond
	// answerWait is a generous bound for traffic that must arrive.
	answerWait = 10 * time.Second
)

// startTCPEcho runs a TCP echo server on 127.0.0.1 and returns its port.
// Each connection echoes until the client half-closes, then half-closes.
func startTCPEcho(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(answerWait))
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// startUDPEcho runs a UDP echo server on 127.0.0.1, returns its port and a
// channel that receives a copy of every datagram.
func startUDPEcho(t *testing.T) (uint16, <-chan []byte) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	got := make(chan []byte, 64)
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			select {
			case got <- bytes.Clone(buf[:n]):
			default:
			}
			c.WriteToUDP(buf[:n], from)
		}
	}()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port), got
}

// waitFor polls cond until it holds, failing the test after answerWait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(answerWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dial connects from s to dst:port, failing the test on error.
func dial(t *testing.T, s *Stack, network string, dst netip.Addr, port uint16) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	defer cancel()
	c, err := s.DialContext(ctx, network, netip.AddrPortFrom(dst, port).String())
	if err != nil {
		t.Fatalf("dial %s %v:%d: %v", network, dst, port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg on c and expects it echoed back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(answerWait))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if string(buf) != msg {
		t.Fatalf("echo = %q, want %q", buf, msg)
	}
}

// expectNoAnswer writes msg on c and expects nothing back: a read timeout,
// not a reset or an ICMP-driven error.
func expectNoAnswer(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(noAnswerWait))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("read = %q, %v; want a timeout", buf[:n], err)
	}
}

// expectDialTimeout expects a TCP dial to get no answer at all.
func expectDialTimeout(t *testing.T, s *Stack, dst netip.Addr, port uint16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), noAnswerWait)
	defer cancel()
	c, err := s.DialContext(ctx, "tcp", netip.AddrPortFrom(dst, port).String())
	if err == nil {
		c.Close()
		t.Fatalf("dial %v:%d connected; want no answer", dst, port)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial %v:%d: %v; want a timeout (no SYN-ACK, no RST)", dst, port, err)
	}
}

func TestExposedTCPRoundTrip(t *testing.T) {
	for _, dst := range []netip.Addr{addrB4, addrB6} {
		t.Run(dst.String(), func(t *testing.T) {
			port := startTCPEcho(t)
			p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoTCP, port}}})
			p.b.SetFilter(allowAll)
			c := dial(t, p.a, "tcp", dst, port)
			roundTrip(t, c, "hello through ward")
			big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
			go c.Write(big)
			got := make([]byte, len(big))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("1 MiB echo: err %v, equal %v", err, bytes.Equal(got, big))
			}
			// Half-close: the server sees EOF, finishes and half-closes too.
			c.(interface{ CloseWrite() error }).CloseWrite()
			if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Fatalf("read after half-close = %d, %v; want EOF", n, err)
			}
			if st := p.b.Stats(); st.Allowed != 1 || st.Denied != 0 {
				t.Fatalf("stats = %+v; want one allowed flow", st)
			}
		})
	}
}

func TestExposedUDPRoundTrip(t *testing.T) {
	for _, dst := range []netip.Addr{addrB4, addrB6} {
		t.Run(dst.String(), func(t *testing.T) {
			port, _ := startUDPEcho(t)
			p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoUDP, port}}})
			p.b.SetFilter(allowAll)
			c := dial(t, p.a, "udp", dst, port)
			roundTrip(t, c, "datagram one")
			roundTrip(t, c, "datagram two")
			if st := p.b.Stats(); st.Allowed != 1 {
				t.Fatalf("stats = %+v; want one allowed flow", st)
			}
		})
	}
}

// TestUnexposedPortRefusesAllowedTCP: a TCP connection the filter allows
// to a port nothing serves is refused at once (a reset, which the dialer
// reports as ECONNREFUSED), while UDP there still gets no answer.
func TestUnexposedPortRefusesAllowedTCP(t *testing.T) {
	tcpPort := startTCPEcho(t) // a real service, but not exposed
	udpPort, udpGot := startUDPEcho(t)
	p := newWardPair(t, nil, nil)
	p.b.SetFilter(allowAll)
	for _, dst := range []netip.Addr{addrB4, addrB6} {
		expectDialRefused(t, p.a, dst, tcpPort)
		expectNoAnswer(t, dial(t, p.a, "udp", dst, udpPort), "anyone?")
	}
	if len(udpGot) != 0 {
		t.Fatal("unexposed UDP service received a datagram")
	}
	// Each of the four flows reached B and was refused or dropped there.
	waitFor(t, "unserved flows counted", func() bool { return p.b.Stats().Unserved >= 4 })
	if st := p.b.Stats(); st.Allowed != 0 || st.Flows != 0 {
		t.Fatalf("stats = %+v; want no allowed or tracked flow", st)
	}
}

// expectDialRefused expects a TCP dial to be refused (a reset), not to
// time out: the context's deadline is generous.
func expectDialRefused(t *testing.T, s *Stack, dst netip.Addr, port uint16) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), answerWait)
	defer cancel()
	c, err := s.DialContext(ctx, "tcp", netip.AddrPortFrom(dst, port).String())
	if err == nil {
		c.Close()
		t.Fatalf("dial %v:%d connected; want it refused", dst, port)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %v:%d: %v; want ECONNREFUSED", dst, port, err)
	}
}

func TestDeniedFlowGetsNoAnswer(t *testing.T) {
	tcpPort := startTCPEcho(t)
	udpPort, _ := startUDPEcho(t)
	denied := make(chan DeniedFlow, 16)
	p := newWardPair(t, nil, &Config{
		Expose:   []Service{{ProtoTCP, tcpPort}, {ProtoUDP, udpPort}},
		OnDenied: func(d DeniedFlow) { denied <- d },
	})
	// B keeps the nil filter: every new inbound flow is denied.
	expectDialTimeout(t, p.a, addrB4, tcpPort)
	waitFor(t, "tcp denial", func() bool { return len(denied) > 0 })
	d := <-denied
	want := DeniedFlow{Src: addrA4, Dst: addrB4, Proto: ProtoTCP, Port: tcpPort, Time: d.Time}
	if d != want || d.Time.IsZero() {
		t.Fatalf("denied flow = %+v; want %+v", d, want)
	}
	p.b.SetFilter(denyAll)
	expectNoAnswer(t, dial(t, p.a, "udp", addrB6, udpPort), "let me in")
	waitFor(t, "udp denial", func() bool { return len(denied) > 0 })
	for len(denied) > 0 {
		d = <-denied
	}
	if d.Src != addrA6 || d.Proto != ProtoUDP || d.Port != udpPort || d.Revoked {
		t.Fatalf("denied flow = %+v; want udp from %v to port %d", d, addrA6, udpPort)
	}
	if st := p.b.Stats(); st.Denied < 2 || st.Allowed != 0 {
		t.Fatalf("stats = %+v; want denied flows, none allowed", st)
	}
}

func TestReplyToOutboundFlowPasses(t *testing.T) {
	port := startTCPEcho(t)
	udpPort, _ := startUDPEcho(t)
	p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoTCP, port}, {ProtoUDP, udpPort}}})
	p.a.SetFilter(denyAll) // A accepts no inbound flow, yet its replies pass
	p.b.SetFilter(allowAll)
	roundTrip(t, dial(t, p.a, "tcp", addrB4, port), "tcp reply")
	roundTrip(t, dial(t, p.a, "udp", addrB6, udpPort), "udp reply")
	if st := p.a.Stats(); st.Denied != 0 || st.Unsolicited != 0 {
		t.Fatalf("A stats = %+v; replies must pass as tracked flows", st)
	}
}

func TestFilterSwapCutsEstablishedFlow(t *testing.T) {
	port := startTCPEcho(t)
	denied := make(chan DeniedFlow, 16)
	p := newWardPair(t, nil, &Config{
		Expose:   []Service{{ProtoTCP, port}},
		OnDenied: func(d DeniedFlow) { denied <- d },
	})
	p.b.SetFilter(allowAll)
	c := dial(t, p.a, "tcp", addrB4, port)
	roundTrip(t, c, "before")
	// A new filter that still allows the flow keeps it.
	p.b.SetFilter(FilterFunc(func(src, _ netip.Addr, _ uint8, _ uint16) bool { return src == addrA4 }))
	roundTrip(t, c, "still allowed")
	p.b.SetFilter(denyAll)
	if err := readEnd(t, c); !isReset(err) {
		t.Fatalf("read after the cut = %v; want a reset", err)
	}
	waitFor(t, "revocation", func() bool { return p.b.Stats().Revoked == 1 })
	waitFor(t, "revocation report", func() bool { return len(denied) > 0 })
	if d := <-denied; !d.Revoked || d.Src != addrA4 || d.Port != port {
		t.Fatalf("denied flow = %+v; want revoked flow from %v to %d", d, addrA4, port)
	}
}

func TestSpoofedSourceDroppedByWireGuard(t *testing.T) {
	port, got := startUDPEcho(t)
	p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoUDP, port}}})
	p.b.SetFilter(allowAll)
	// Control: the same hand-made packet with A's real source arrives.
	p.a.injectOutbound(t, udp4Packet(addrA4, addrB4, 40000, port, []byte("genuine")))
	select {
	case d := <-got:
		if string(d) != "genuine" {
			t.Fatalf("service got %q; want %q", d, "genuine")
		}
	case <-time.After(answerWait):
		t.Fatal("genuine packet did not arrive")
	}
	before := p.b.Stats()
	spoofed := netip.MustParseAddr("100.64.0.99")
	p.a.injectOutbound(t, udp4Packet(spoofed, addrB4, 40001, port, []byte("spoofed")))
	// A genuine packet behind it on the same tracked flow: once it has
	// arrived, the spoofed one (sent first, same peer) had its chance.
	p.a.injectOutbound(t, udp4Packet(addrA4, addrB4, 40000, port, []byte("marker")))
	select {
	case d := <-got:
		if string(d) != "marker" {
			t.Fatalf("service got %q; want only %q", d, "marker")
		}
	case <-time.After(answerWait):
		t.Fatal("marker packet did not arrive")
	}
	// wireguard-go dropped the spoofed packet before B's Stack: no counter
	// moved (the marker belongs to a tracked flow and moves none).
	if after := p.b.Stats(); after != before {
		t.Fatalf("B stats changed from %+v to %+v; the spoofed packet reached the Stack", before, after)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("traffic", func(t *testing.T) {
		tcpPort := startTCPEcho(t)
		udpPort, _ := startUDPEcho(t)
		p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoTCP, tcpPort}, {ProtoUDP, udpPort}}})
		p.b.SetFilter(allowAll)
		roundTrip(t, dial(t, p.a, "tcp", addrB4, tcpPort), "open tcp")
		roundTrip(t, dial(t, p.a, "udp", addrB4, udpPort), "open udp")
		l, err := p.b.ListenTCP(netip.AddrPortFrom(addrB6, 7000))
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		go func() {
			if c, err := l.Accept(); err == nil {
				c.Close()
			}
		}()
		// Leave the flows open: Close must end them.
	})
	deadline := time.Now().Add(answerWait)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines after close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s := newTestStack(t, nil, addrA4, addrA6)
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Read(make([][]byte, 1), make([]int, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after close: %v; want os.ErrClosed", err)
	}
	if _, err := s.DialContext(context.Background(), "tcp", "100.64.0.2:80"); !errors.Is(err, ErrClosed) {
		t.Fatalf("dial after close: %v; want ErrClosed", err)
	}
}

func TestListenUDPServesPeers(t *testing.T) {
	p := newWardPair(t, nil, nil)
	p.b.SetFilter(allowAll)
	pc, err := p.b.ListenUDP(netip.AddrPortFrom(addrB6, 6000))
	if err != nil {
		t.Fatalf("listen udp: %v", err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	roundTrip(t, dial(t, p.a, "udp6", addrB6, 6000), "to a listener")
	pc.Close()
	if p.b.svc.serves(ProtoUDP, 6000) {
		t.Fatal("port still served after the listener closed")
	}
}

func TestForwardedUDPFlowEndsWhenIdle(t *testing.T) {
	port, _ := startUDPEcho(t)
	idle := 100 * time.Millisecond
	p := newWardPair(t, nil, &Config{Expose: []Service{{ProtoUDP, port}}, UDPIdleTimeout: idle})
	p.b.SetFilter(allowAll)
	c := dial(t, p.a, "udp", addrB4, port)
	roundTrip(t, c, "first")
	flows := func() int {
		p.b.conns.mu.Lock()
		defer p.b.conns.mu.Unlock()
		return len(p.b.conns.conns)
	}
	if n := flows(); n != 2 {
		t.Fatalf("%d forwarded connections, want 2 (overlay and local)", n)
	}
	waitFor(t, "idle flow to end", func() bool { return flows() == 0 })
	// The conntrack entry outlives the relay; a new datagram starts a new
	// relay to the service.
	roundTrip(t, c, "second")
}
