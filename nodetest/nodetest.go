// Package nodetest holds what the tests of devices and people's machines
// share: logs shown when a test fails, TCP echo servers, polling, a SOCKS5
// CONNECT, a self-signed TLS certificate, a real coordinator on loopback (dev mode, SQLite in a temporary
// directory) with its admin API and pre-auth keys, running node agents
// and desktop client daemons, and an attacker: a bare WireGuard peer with
// a stolen key that sends hand-made packets. Only tests import it; package node's own
// tests cannot (nodetest imports node), and keep their few helpers.
package nodetest

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/node"
)

// Logger returns a debug logger whose output the test prints, under name,
// if it fails.
func Logger(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter(t, name), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// LogWriter returns a writer, safe for concurrent use, whose contents the
// test prints, under name, if it fails: a process's output, say.
func LogWriter(t testing.TB, name string) io.Writer {
	w := &LockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, w.String())
		}
	})
	return w
}

// LockedBuffer is a bytes.Buffer safe for concurrent writes and reads.
type LockedBuffer struct {
	mu  sync.Mutex // mu guards buf
	buf bytes.Buffer
}

// Write appends p.
func (b *LockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *LockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// echoIdle ends an echo connection idle this long.
const echoIdle = 30 * time.Second

// EchoServer runs a TCP echo server on 127.0.0.1 until the test ends and
// returns its port.
func EchoServer(t testing.TB) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A node cannot expose its ping port: a listener the system happened
	// to put there failed a test in CI ("cannot expose port 41641").
	for l.Addr().(*net.TCPAddr).Port == int(node.PingPort) {
		held := l
		if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		held.Close()
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(echoIdle))
				io.Copy(c, c)
			})
		}
	})
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// Echo writes msg on c and expects it back within d.
func Echo(c net.Conn, msg string, d time.Duration) error {
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

// Eventually polls cond until it holds, and returns how long that took;
// the test fails once d has passed.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

// SOCKSConnect opens a SOCKS5 CONNECT to host:port through proxy, within
// d, and returns the connection, or an error carrying the reply code.
func SOCKSConnect(proxy, host string, port uint16, d time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, d)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(d))
	req := []byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}
	req = append(append(req, host...), byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	// The greeting's answer (2), the reply's head (4), then its bound
	// address as its type says (IPv4, IPv6 or a name) and port.
	var rep [6]byte
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("socks5 reply: %w", err)
	}
	if rep[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("socks5 reply code %d", rep[3])
	}
	var rest int
	switch rep[5] {
	case 1:
		rest = 4 + 2
	case 4:
		rest = 16 + 2
	case 3:
		var l [1]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			c.Close()
			return nil, fmt.Errorf("socks5 reply: %w", err)
		}
		rest = int(l[0]) + 2
	default:
		c.Close()
		return nil, fmt.Errorf("socks5 reply: address type %d", rep[5])
	}
	if _, err := io.ReadFull(c, make([]byte, rest)); err != nil {
		c.Close()
		return nil, fmt.Errorf("socks5 reply: %w", err)
	}
	c.SetDeadline(time.Time{})
	return c, nil
}
