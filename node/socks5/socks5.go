// Package socks5 is a small SOCKS5 server (RFC 1928): CONNECT only, no
// authentication (it is meant for a loopback address), with domain names
// and IP literals passed as they are to a caller-supplied dial function.
package socks5

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/node/splice"
)

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
	repNotAllowed  = 2
	repUnreachable = 4
	repRefused     = 5
	repCmdUnsup    = 7
	repAtypUnsup   = 8
)

// Server serves SOCKS5 clients; its Proxy's Dial is required.
type Server struct {
	splice.Proxy
}

// Serve accepts clients on l until ctx is done or l fails, then closes l
// and every client connection and returns once all its goroutines have.
// It returns nil when ctx ended it.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	return s.ServeClients(ctx, l, "socks5 client", s.handle)
}

// handle serves one client until its connection ends or ctx is done.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	host, port, err := handshake(c)
	if err != nil {
		s.Log().Debug("socks5 handshake", "err", err)
		return
	}
	target, err := s.Connect(ctx, "socks5", host, port)
	if err != nil {
		writeReply(c, replyCode(err), nil)
		return
	}
	defer target.Close()
	if err := writeReply(c, repSucceeded, target.LocalAddr()); err != nil {
		return
	}
	c.SetDeadline(time.Time{})
	s.Relay(ctx, "socks5", c, target, net.JoinHostPort(host, strconv.Itoa(int(port))))
}

// replyCode maps a dial error to a SOCKS5 reply code: a port the policy
// does not grant is "connection not allowed by ruleset", one nothing
// listens on "connection refused", a name no peer has (short or under the
// fleet domain) "host unreachable".
func replyCode(err error) byte {
	switch {
	case errors.Is(err, localapi.ErrNotGranted):
		return repNotAllowed
	case errors.Is(err, syscall.ECONNREFUSED):
		return repRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, localapi.ErrNoPeer):
		return repUnreachable
	default:
		return repFailure
	}
}
