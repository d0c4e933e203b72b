package splice

import (
	"bufio"
	"net"
)

// BufferedConn is a connection read through a bufio.Reader that may already
// hold bytes the peer sent (after an HTTP request or a CONNECT answer). It
// half-closes like the connection underneath.
type BufferedConn struct {
	net.Conn
	// R reads the buffered bytes first, then the connection.
	R *bufio.Reader
}

// Read reads buffered bytes first, then from the connection.
func (c *BufferedConn) Read(p []byte) (int, error) { return c.R.Read(p) }

// CloseWrite shuts the write side when the connection supports it, else
// closes it.
func (c *BufferedConn) CloseWrite() error {
	if hc, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return hc.CloseWrite()
	}
	return c.Conn.Close()
}
