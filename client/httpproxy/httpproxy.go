// Package httpproxy is a small HTTP CONNECT proxy server: a client sends
// "CONNECT host:port HTTP/1.1", the server dials host:port through a
// caller-supplied function and, on success, answers 200 and relays bytes
// both ways. It speaks only CONNECT and asks for no authentication: it is
// meant for a loopback address, like node/socks5.
package httpproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

// DefaultHandshakeTimeout bounds a client's request and the dial.
const DefaultHandshakeTimeout = 10 * time.Second

// DialFunc connects to host (a name or an IP literal, as the client sent
// it) and port. The Server calls it once per CONNECT with a context ended
// by the handshake timeout or the Server's shutdown.
type DialFunc func(ctx context.Context, host string, port uint16) (net.Conn, error)

// Server serves HTTP CONNECT clients. Dial is required.
type Server struct {
	// Dial opens the target connections.
	Dial DialFunc
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// HandshakeTimeout bounds the request and the dial; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Serve accepts clients on l until ctx is done or l fails, then closes l
// and every client connection and returns once all its goroutines have.
// It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return splice.Serve(ctx, l, "http proxy client", s.handle)
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

func (s *Server) timeout() time.Duration {
	if s.HandshakeTimeout <= 0 {
		return DefaultHandshakeTimeout
	}
	return s.HandshakeTimeout
}

// handle serves one client until its connection ends or ctx is done.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(s.timeout()))
	br := bufio.NewReader(c)
	host, port, err := readConnect(br)
	if err != nil {
		s.log().Debug("http proxy request", "err", err)
		reply(c, statusOf(err), err.Error())
		return
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout())
	target, err := s.Dial(dctx, host, port)
	cancel()
	if err != nil {
		s.log().Info("http proxy connect", "host", host, "port", port, "err", err)
		c.SetDeadline(time.Now().Add(s.timeout())) // the dial may have used it all
		reply(c, statusOf(err), err.Error())
		return
	}
	defer target.Close()
	if _, err := fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	splice.Join(&splice.BufferedConn{Conn: c, R: br}, target)
}

// Request errors.
var (
	errMethod = errors.New("only CONNECT is supported: this proxy reaches the overlay, not the web")
	errTarget = errors.New("want CONNECT host:port")
)

// readConnect reads one request and returns its CONNECT target.
func readConnect(br *bufio.Reader) (string, uint16, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %w", errTarget, err)
	}
	if req.Method != http.MethodConnect {
		return "", 0, errMethod
	}
	host, ps, err := net.SplitHostPort(req.RequestURI)
	if err != nil || host == "" {
		return "", 0, errTarget
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return "", 0, errTarget
	}
	return host, uint16(port), nil
}

// statusOf maps a request or dial error to an HTTP status.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, errTarget):
		return http.StatusBadRequest
	case errors.Is(err, localapi.ErrNoPeer):
		return http.StatusNotFound
	case errors.Is(err, localapi.ErrNotReady):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// reply sends an error response with a one-line text body.
func reply(c net.Conn, code int, msg string) {
	body := msg + "\n"
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}
