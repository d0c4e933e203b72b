package splice

import (
	"context"
	"log/slog"
	"net"
	"time"
)

// DefaultHandshakeTimeout bounds a proxy client's handshake (greeting,
// request) and the dial to its target.
const DefaultHandshakeTimeout = 10 * time.Second

// DialFunc connects to host (a name or an IP literal, as the client sent
// it) and port. A proxy calls it once per request, with a context ended by
// the handshake timeout or the proxy's shutdown.
type DialFunc func(ctx context.Context, host string, port uint16) (net.Conn, error)

// Proxy is what every local proxy server shares (the SOCKS5 and the HTTP
// proxies embed it): how it dials, logs and bounds a handshake,
// and its accept loop. Dial is required.
type Proxy struct {
	// Dial opens the target connections.
	Dial DialFunc
	// Logger receives the proxy's logs; nil means slog.Default().
	Logger *slog.Logger
	// HandshakeTimeout bounds a client's handshake and the dial; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Limits bound how long a relayed connection may sit idle; the zero
	// value means the defaults.
	Limits Limits
}

// Log returns the proxy's logger.
func (p *Proxy) Log() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// Timeout returns the handshake timeout.
func (p *Proxy) Timeout() time.Duration {
	if p.HandshakeTimeout <= 0 {
		return DefaultHandshakeTimeout
	}
	return p.HandshakeTimeout
}

// Connect dials host:port for a client, within the handshake timeout; a
// failure is logged (what names the proxy, "socks5") and returned.
func (p *Proxy) Connect(ctx context.Context, what, host string, port uint16) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout())
	defer cancel()
	c, err := p.Dial(ctx, host, port)
	if err != nil {
		p.Log().Info(what+" connect", "host", host, "port", port, "err", err)
	}
	return c, err
}

// ServeClients accepts clients on l until ctx is done or l fails (see
// Serve; what names them, "socks5 client") and runs handle for each, with
// the client's connection given a deadline of the handshake timeout,
// reset when ctx ends (the proxy's shutdown cuts it) and closed when handle
// returns. It returns nil when ctx
// ended it.
func (p *Proxy) ServeClients(ctx context.Context, l net.Listener, what string, handle func(context.Context, net.Conn)) error {
	return Serve(ctx, l, what, func(ctx context.Context, c net.Conn) {
		defer c.Close()
		stop := context.AfterFunc(ctx, func() { reset(c) })
		defer stop()
		c.SetDeadline(time.Now().Add(p.Timeout()))
		handle(ctx, c)
	})
}

// Relay joins a client's connection to its target (see Join) until both
// ends finish, ctx ends or the pair sits idle, and logs why a relay that
// did not finish cleanly was cut (what names the proxy, "socks5"): the
// client's connection is then reset, never left half-open.
func (p *Proxy) Relay(ctx context.Context, what string, client, target Conn, to string) {
	if err := Join(ctx, client, target, p.Limits); err != nil {
		p.Log().Info(what+" relay cut", "target", to, "reason", err)
	}
}
