//go:build linux

package rawio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a connected loopback TCP pair: the dialled side wrapped,
// the accepted side as it is.
func pair(t *testing.T) (*Conn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	w, ok := Wrap(c).(*Conn)
	if !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", c, Wrap(c))
	}
	return w, s.(*net.TCPConn)
}

// TestCarriesDataExactly sends data both ways through a wrapped
// connection, in writes larger than the socket buffers (so a write
// finds no room and waits) and reads of every size, and checks every
// byte and the EOF after a half-close.
func TestCarriesDataExactly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		size, chunk int
		readBuf     int
	}{
		{"small", 1000, 100, 7},
		{"one write", 64 << 10, 64 << 10, 32 << 10},
		{"writes past the socket buffers", 16 << 20, 4 << 20, 32 << 10},
		{"many small reads", 1 << 20, 1 << 10, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rawSends := range []bool{true, false} {
				w, peer := pair(t)
				var src io.Writer = peer
				var dst io.Reader = w
				var closeSrc = peer.CloseWrite
				if rawSends {
					src, dst, closeSrc = w, peer, w.CloseWrite
				}
				data := make([]byte, tc.size)
				for i := range data {
					data[i] = byte(rand.IntN(256))
				}
				errc := make(chan error, 1)
				go func() {
					for off := 0; off < len(data); off += tc.chunk {
						end := min(off+tc.chunk, len(data))
						n, err := src.Write(data[off:end])
						if err != nil || n != end-off {
							errc <- errors.Join(err, errors.New("short write"))
							return
						}
					}
					errc <- closeSrc()
				}()
				var got bytes.Buffer
				buf := make([]byte, tc.readBuf)
				for {
					n, err := dst.Read(buf)
					got.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("read after %d bytes: %v", got.Len(), err)
					}
				}
				if err := <-errc; err != nil {
					t.Fatalf("write: %v", err)
				}
				if !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("raw sends %v: got %d bytes, want %d, equal prefix %d", rawSends, got.Len(), len(data), commonPrefix(got.Bytes(), data))
				}
			}
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestReadEndsOnCloseAndDeadline: a Read waiting for data ends when the
// connection is closed (net.ErrClosed) or its deadline passes
// (os.ErrDeadlineExceeded), and a zero-length Read returns at once.
func TestReadEndsOnCloseAndDeadline(t *testing.T) {
	w, _ := pair(t)
	if n, err := w.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
	w.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := w.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	w.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := w.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	w.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read of a closed conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a Read waiting for data did not end when its connection was closed")
	}
}

// TestWriteFailsWhenPeerResets: writes to a peer that reset the
// connection fail (ECONNRESET or EPIPE), not hang, and the process
// survives the SIGPIPE.
func TestWriteFailsWhenPeerResets(t *testing.T) {
	w, peer := pair(t)
	peer.SetLinger(0)
	peer.Close()
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := w.Write(buf); err != nil {
			var oe *net.OpError
			if !errors.As(err, &oe) || oe.Op != "write" {
				t.Fatalf("write error %v is not a write *net.OpError", err)
			}
			return
		}
	}
	t.Fatal("writes to a reset peer kept succeeding")
}

// TestWrapLeavesOthersAndObeysSetEnabled: Wrap wraps only TCP
// connections, and none while disabled.
func TestWrapLeavesOthersAndObeysSetEnabled(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Error("Wrap wrapped a net.Pipe")
	}
	_, peer := pair(t)
	SetEnabled(false)
	defer SetEnabled(true)
	if Wrap(peer) != net.Conn(peer) {
		t.Error("Wrap wrapped while disabled")
	}
}
