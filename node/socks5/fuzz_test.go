package socks5

import (
	"bytes"
	"net"
	"testing"
	"time"
)

// FuzzHandshake feeds arbitrary client bytes to the handshake: it must
// neither panic nor hang, and must accept only well-formed CONNECTs.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 4, 'c', 'a', 'm', '1', 0, 22})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 100, 64, 0, 1, 0, 80})
	f.Add([]byte{5, 1, 2})
	f.Add([]byte{4, 1, 0, 80})
	f.Fuzz(func(t *testing.T, in []byte) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		go func() {
			b.Write(in)
			b.Close()
		}()
		a.SetDeadline(time.Now().Add(time.Second))
		go func() {
			// Drain replies so the handshake's writes do not block.
			var sink bytes.Buffer
			sink.ReadFrom(b)
		}()
		_, _, err := handshake(a)
		if err == nil && (len(in) < 10 || in[0] != 5) {
			t.Fatalf("accepted malformed request %x", in)
		}
	})
}
