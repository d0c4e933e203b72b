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
			go func() { Join(a, b); close(done) }()
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
	go func() { Join(a, b); close(done) }()
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
	go func() { Join(a, b); close(done) }()
	client.(*net.TCPConn).SetLinger(0) // Close sends a reset
	client.Close()
	server.SetReadDeadline(time.Now().Add(wait))
	if _, err := io.ReadAll(server); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("server never saw the end: %v", err)
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
