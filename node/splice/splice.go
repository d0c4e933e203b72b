// Package splice joins two byte streams the way a local proxy does:
// Join copies both ways and passes each side's EOF on as a half-close. It
// also holds what every local proxy shares: the loopback-only listener
// (Listen, CheckLoopback), the accept loop (Serve) and BufferedConn. It
// is not a relay server: it moves bytes between connections this process
// already holds.
package splice

import (
	"io"
)

// Conn is a byte stream that Join can copy to and from.
type Conn interface {
	io.ReadWriteCloser
}

// halfCloser is a connection whose write side can be shut alone.
type halfCloser interface {
	CloseWrite() error
}

// Join copies both ways between a and b until both directions end. When
// one side reaches EOF, the other is half-closed if it can be (CloseWrite)
// and closed otherwise; on an error both are closed. Join does not close
// a or b when both directions end cleanly; the caller does.
func Join(a, b Conn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(a, b)
	}()
	copyHalf(b, a)
	<-done
}

// copyHalf copies src to dst, then passes the EOF on to dst.
func copyHalf(dst, src Conn) {
	_, err := io.Copy(dst, src)
	if hc, ok := dst.(halfCloser); ok && err == nil {
		if hc.CloseWrite() == nil {
			return
		}
	}
	dst.Close()
	src.Close()
}
