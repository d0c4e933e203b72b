// Package relay copies bytes both ways between two connections, the way a
// proxy does: each side's EOF is passed on as a half-close.
package relay

import (
	"io"
)

// Conn is a byte stream that Relay can copy to and from.
type Conn interface {
	io.ReadWriteCloser
}

// halfCloser is a connection whose write side can be shut alone.
type halfCloser interface {
	CloseWrite() error
}

// Relay copies both ways between a and b until both directions end. When
// one side reaches EOF, the other is half-closed if it can be (CloseWrite)
// and closed otherwise; on an error both are closed. Relay does not close
// a or b when both directions end cleanly; the caller does.
func Relay(a, b Conn) {
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
