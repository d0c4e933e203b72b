package splice

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wait bounds every wait for something that must happen.
const wait = 10 * time.Second

// tcpPair returns the two ends of a TCP connection on loopback.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

// pipePair returns the two ends of a net.Pipe, which cannot half-close.
func pipePair(t *testing.T) (net.Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// exchange writes req from client and resp from server, each followed by
// a half-close, and checks that each side reads the other's bytes and
// then EOF: a proxy passes an end of stream on.
func exchange(t *testing.T, client, server net.Conn, req, resp string) {
	t.Helper()
	errc := make(chan error, 2)
	go func() { errc <- send(client, req) }()
	go func() { errc <- send(server, resp) }()
	for _, c := range []struct {
		conn net.Conn
		want string
	}{{server, req}, {client, resp}} {
		c.conn.SetReadDeadline(time.Now().Add(wait))
		got, err := io.ReadAll(c.conn)
		if err != nil || string(got) != c.want {
			t.Fatalf("read %q, %v; want %q then EOF", got, err, c.want)
		}
	}
	for range 2 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// send writes s and shuts c's write side (closing c when it cannot).
func send(c net.Conn, s string) error {
	if _, err := io.WriteString(c, s); err != nil {
		return err
	}
	if hc, ok := c.(halfCloser); ok {
		return hc.CloseWrite()
	}
	return nil
}

// TestJoin splices a client's TCP connection to a server's and checks
// that bytes go both ways, each end of stream is passed on as a
// half-close, and Join returns.
func TestJoin(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB: more than any buffer
	tests := []struct {
		name      string
		req, resp string
	}{
		{"a line each way", "ping", "pong"},
		{"1 MiB each way", big, big},
		{"one way only", "request", ""},
		{"nothing sent", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, a := tcpPair(t)
			b, server := tcpPair(t)
			done := make(chan struct{})
			go func() { Join(context.Background(), a, b, Limits{}); close(done) }()
			exchange(t, client, server, tt.req, tt.resp)
			select {
			case <-done:
			case <-time.After(wait):
				t.Fatal("Join did not return after both directions ended")
			}
			// A clean end leaves closing to the caller.
			if err := a.Close(); err != nil {
				t.Errorf("Join closed a after a clean end: %v", err)
			}
		})
	}
}

// TestJoinClosesWhatCannotHalfClose: a side that cannot shut its write
// side alone is closed when the other side ends, so its peer sees EOF
// instead of hanging.
func TestJoinClosesWhatCannotHalfClose(t *testing.T) {
	client, a := tcpPair(t)
	b, server := pipePair(t)
	done := make(chan struct{})
	go func() { Join(context.Background(), a, b, Limits{}); close(done) }()
	if err := send(client, "hello"); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "hello" {
		t.Fatalf("server read %q, %v; want hello then EOF", got, err)
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Join did not return")
	}
}

// TestJoinEndsOnReset: when one side fails, both are closed and Join
// returns, even though the other side never ends by itself.
func TestJoinEndsOnReset(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	done := make(chan struct{})
	go func() { Join(context.Background(), a, b, Limits{}); close(done) }()
	client.(*net.TCPConn).SetLinger(0) // Close sends a reset
	client.Close()
	server.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadAll(server); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("server's read = %v; want the reset passed on", err)
	}
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Join did not return after a reset")
	}
}

func TestBufferedConn(t *testing.T) {
	tests := []struct {
		name string
		pair func(*testing.T) (net.Conn, net.Conn)
	}{
		{"tcp: CloseWrite half-closes", tcpPair},
		{"pipe: CloseWrite closes", pipePair},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, peer := tt.pair(t)
			go func() { io.WriteString(peer, "GET / HTTP/1.1\r\n\r\nearly bytes") }()
			r := bufio.NewReader(c)
			if line, err := r.ReadString('\n'); err != nil || line != "GET / HTTP/1.1\r\n" {
				t.Fatalf("read %q, %v", line, err)
			}
			bc := &BufferedConn{Conn: c, R: r}
			got := make([]byte, len("\r\nearly bytes"))
			bc.SetReadDeadline(time.Now().Add(wait))
			if _, err := io.ReadFull(bc, got); err != nil || string(got) != "\r\nearly bytes" {
				t.Fatalf("BufferedConn read %q, %v; want the buffered bytes first", got, err)
			}
			if err := bc.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			peer.SetReadDeadline(time.Now().Add(wait))
			if n, err := peer.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("peer read %d, %v after CloseWrite; want an end of stream", n, err)
			}
		})
	}
}

// TestServe: each accepted connection is handled; cancelling ctx closes
// the listener, and Serve returns nil only after every handler returned.
// A listener that fails for another reason is an error.
func TestServe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var handled, running atomic.Int32
	served := make(chan struct{}, 8)
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, l, "test", func(ctx context.Context, c net.Conn) {
			running.Add(1)
			defer running.Add(-1)
			defer c.Close()
			handled.Add(1)
			served <- struct{}{}
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // a handler still busy when Serve is asked to stop
		})
	}()
	for range 3 {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		select {
		case <-served:
		case <-time.After(wait):
			t.Fatal("connection not handled")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil || handled.Load() != 3 || running.Load() != 0 {
			t.Fatalf("Serve = %v with %d handled, %d still running; want nil, 3, 0", err, handled.Load(), running.Load())
		}
	case <-time.After(wait):
		t.Fatal("Serve did not return after ctx ended")
	}
	if _, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		t.Error("the listener still accepts after Serve returned")
	}

	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { time.Sleep(20 * time.Millisecond); l2.Close() }()
	if err := Serve(context.Background(), l2, "test", func(context.Context, net.Conn) {}); err == nil || !strings.Contains(err.Error(), "accept test") {
		t.Fatalf("Serve on a failed listener = %v, want an accept error", err)
	}
}

// relayPair starts Join between two TCP pairs' inner ends with lim and
// ctx, and returns the outer ends (client, server) and Join's result.
func relayPair(t *testing.T, ctx context.Context, lim Limits) (client, server net.Conn, result <-chan error) {
	t.Helper()
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	res := make(chan error, 1)
	go func() { res <- Join(ctx, a, b, lim) }()
	return client, server, res
}

// wantCut waits for Join's result and checks it is want, and that each of
// conns sees its connection reset.
func wantCut(t *testing.T, res <-chan error, want error, conns ...net.Conn) {
	t.Helper()
	select {
	case err := <-res:
		if !errors.Is(err, want) {
			t.Fatalf("Join = %v, want %v", err, want)
		}
	case <-time.After(wait):
		t.Fatal("Join did not return: the relay stayed open")
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadAll(c); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read = %v; want a reset, not a clean end or silence", err)
		}
	}
}

// TestRelayEndsWithContext: a relay both of whose sides are blocked in a
// read ends when its context does (the proxy's shutdown), and both ends
// are reset.
func TestRelayEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client, server, res := relayPair(t, ctx, Limits{})
	exchangeOnce(t, client, server)
	cancel()
	wantCut(t, res, context.Canceled, client, server)
}

// TestRelayIdleTimesOut: a relay with no byte either way for its idle
// limit is cut, and both ends are reset.
func TestRelayIdleTimesOut(t *testing.T) {
	client, server, res := relayPair(t, context.Background(), Limits{Idle: 200 * time.Millisecond})
	exchangeOnce(t, client, server)
	wantCut(t, res, ErrIdle, client, server)
}

// TestRelayHalfOpenTimesOut: once the client has finished sending, a
// server that never answers nor closes holds the relay only for the
// half-closed idle limit, however long the full idle limit.
func TestRelayHalfOpenTimesOut(t *testing.T) {
	client, server, res := relayPair(t, context.Background(), Limits{Idle: time.Hour, HalfClosedIdle: 200 * time.Millisecond})
	if err := send(client, "request"); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(wait))
	if got, err := io.ReadAll(server); err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v; want the request and its end", got, err)
	}
	wantCut(t, res, ErrIdle, client)
}

// TestRelayBusyOneWayIsNotIdle: bytes flowing one way keep a relay alive
// past its idle limit, though the other way is silent.
func TestRelayBusyOneWayIsNotIdle(t *testing.T) {
	idle := 500 * time.Millisecond
	client, server, res := relayPair(t, context.Background(), Limits{Idle: idle})
	go func() {
		for range 20 { // 4 idle limits' worth
			if _, err := io.WriteString(server, "tick"); err != nil {
				return
			}
			time.Sleep(idle / 5)
		}
		server.(*net.TCPConn).CloseWrite()
	}()
	client.SetReadDeadline(time.Now().Add(wait))
	got, err := io.ReadAll(client)
	if err != nil || len(got) != 20*len("tick") {
		t.Fatalf("client read %d bytes, %v; want every tick then EOF", len(got), err)
	}
	client.(*net.TCPConn).CloseWrite()
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("Join = %v, want a clean end", err)
		}
	case <-time.After(wait):
		t.Fatal("Join did not return")
	}
}

// exchangeOnce sends a byte each way through the relay.
func exchangeOnce(t *testing.T, client, server net.Conn) {
	t.Helper()
	for _, p := range [][2]net.Conn{{client, server}, {server, client}} {
		if _, err := p[0].Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		p[1].SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadFull(p[1], make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
}
