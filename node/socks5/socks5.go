// Package socks5 is a small SOCKS5 server (RFC 1928): CONNECT only, no
// authentication (it is meant for a loopback address), with domain names
// and IP literals passed as they are to a caller-supplied dial function.
package socks5

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"

	"github.com/wardnet/ward/node/splice"
)

// DefaultHandshakeTimeout bounds a client's greeting and request.
const DefaultHandshakeTimeout = 10 * time.Second

// Protocol constants of RFC 1928.
const (
	version5       = 5
	methodNoAuth   = 0
	methodNone     = 0xff
	cmdConnect     = 1
	atypIPv4       = 1
	atypDomain     = 3
	atypIPv6       = 4
	repSucceeded   = 0
	repFailure     = 1
	repUnreachable = 4
	repRefused     = 5
	repCmdUnsup    = 7
	repAtypUnsup   = 8
)

// DialFunc connects to host (a domain name or an IP literal, as the client
// sent it) and port. The Server calls it once per CONNECT, with a context
// ended by the handshake timeout or the Server's shutdown.
type DialFunc func(ctx context.Context, host string, port uint16) (net.Conn, error)

// Server serves SOCKS5 clients. Dial is required.
type Server struct {
	// Dial opens the target connections.
	Dial DialFunc
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
	// HandshakeTimeout bounds greeting, request and dial; 0 means
	// DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
}

// Serve accepts clients on l until ctx is done or l fails, then closes l
// and every client connection and returns once all its goroutines have.
// It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return splice.Serve(ctx, l, "socks5 client", s.handle)
}

func (s *Server) log() *slog.Logger {
	if s.Logger == nil {
		return slog.Default()
	}
	return s.Logger
}

// handle serves one client until its connection ends or ctx is done.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	timeout := s.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	c.SetDeadline(time.Now().Add(timeout))
	host, port, err := handshake(c)
	if err != nil {
		s.log().Debug("socks5 handshake", "err", err)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	target, err := s.Dial(dctx, host, port)
	cancel()
	if err != nil {
		s.log().Info("socks5 connect", "host", host, "port", port, "err", err)
		writeReply(c, replyCode(err), nil)
		return
	}
	defer target.Close()
	if err := writeReply(c, repSucceeded, target.LocalAddr()); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	splice.Join(c, target)
}

// replyCode maps a dial error to a SOCKS5 reply code.
func replyCode(err error) byte {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return repRefused
	case errors.Is(err, context.DeadlineExceeded):
		return repUnreachable
	default:
		return repFailure
	}
}
