// Package stunserver answers STUN Binding requests (RFC 8489, formerly RFC
// 5389) on UDP so that a node learns the address its packets come from on
// the far side of a NAT (its reflexive address). It answers nothing else,
// never sends more bytes than it received, and limits each source address,
// so it can serve neither as an amplifier nor as a reflector of floods.
package stunserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/pion/stun/v3"

	"github.com/wardnet/ward/ratelimit"
)

// Defaults for the per-source limit: a netcheck sends a handful of
// requests, retries included, so 20 at once and 10 a second after that
// leave honest clients untouched and cap what a spoofed flood can reflect.
const (
	DefaultBurst   = 20
	DefaultEvery   = 100 * time.Millisecond
	DefaultMaxKeys = 65536
)

// maxRequest is the largest datagram read: a Binding request needs far
// less, and anything longer is truncated and then fails to decode.
const maxRequest = 1500

// Server answers Binding requests on one UDP socket.
type Server struct {
	// Limit bounds answers per source address; New sets the defaults.
	Limit *ratelimit.Keyed[netip.Addr]
	// Log receives read errors; nil logs nothing.
	Log *slog.Logger
}

// New returns a server with the default per-source limit.
func New(log *slog.Logger) *Server {
	return &Server{Limit: ratelimit.New[netip.Addr](DefaultEvery, DefaultBurst, DefaultMaxKeys), Log: log}
}

// Serve answers Binding requests on conn until ctx ends or conn fails; it
// closes conn when ctx ends and then returns nil.
func (s *Server) Serve(ctx context.Context, conn net.PacketConn) error {
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	buf := make([]byte, maxRequest)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("read stun request on %s: %w", conn.LocalAddr(), err)
		}
		src, ok := addrPort(from)
		if !ok {
			continue
		}
		if ok, _ := s.Limit.Allow(src.Addr(), time.Now()); !ok {
			continue
		}
		resp, ok := Response(buf[:n], src)
		if !ok {
			continue
		}
		if _, err := conn.WriteTo(resp, from); err != nil && s.Log != nil {
			s.Log.Debug("stun: answer", "to", src, "err", err)
		}
	}
}

// addrPort returns from as an unmapped netip.AddrPort.
func addrPort(from net.Addr) (netip.AddrPort, bool) {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}, false
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// Response returns the Binding success response to req, a request seen
// from src, carrying src as XOR-MAPPED-ADDRESS; ok is false (send nothing)
// when req is not a well-formed Binding request or when the response would
// be longer than req. Errors are never answered: a reply of any kind to a
// spoofed source is reflection.
func Response(req []byte, src netip.AddrPort) (resp []byte, ok bool) {
	if !stun.IsMessage(req) {
		return nil, false
	}
	m := &stun.Message{Raw: append([]byte(nil), req...)}
	if err := m.Decode(); err != nil || m.Type != stun.BindingRequest || int(m.Length)+20 != len(req) {
		return nil, false
	}
	out, err := stun.Build(stun.NewTransactionIDSetter(m.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: src.Addr().AsSlice(), Port: int(src.Port())})
	if err != nil || len(out.Raw) > len(req) {
		return nil, false
	}
	return out.Raw, true
}
