package relay

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// corkConn is a node's connection to its relay, below TLS when there is
// TLS. While corked, writes gather in a buffer that uncork writes at once:
// the WebSocket library writes a client's message through a 4 KiB buffer,
// one write per 4 KiB, and a batch then leaves in one system call.
type corkConn struct {
	net.Conn

	mu sync.Mutex // mu guards the following and orders writes
	// corked gathers writes in buf until uncork.
	corked bool
	buf    []byte
}

// Write writes p, or gathers it while c is corked.
func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// acked is how many bytes written the peer's TCP acknowledged; 0 when
// the system cannot tell.
func (c *corkConn) acked() uint64 {
	n, _ := bytesAcked(c.Conn)
	return n
}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

// uncork writes what was gathered; ctx ending closes the connection.
func (c *corkConn) uncork(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if len(c.buf) == 0 {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { c.Conn.Close() })
	defer stop()
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	if cap(c.buf) > 2*MaxMessage {
		c.buf = nil
	}
	return err
}

// corking returns hc with a transport of its own whose connections are
// corkConns, and a function returning the last one it dialed; hc itself
// when its transport is not an *http.Transport (nil means
// http.DefaultClient's).
func corking(hc *http.Client) (*http.Client, func() *corkConn) {
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return hc, func() *corkConn { return nil }
	}
	tr := t.Clone()
	dial := tr.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	var last atomic.Pointer[corkConn]
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		cc := &corkConn{Conn: c}
		last.Store(cc)
		return cc, nil
	}
	own := *hc
	own.Transport = tr
	return &own, last.Load
}
