package splice

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// ErrNotLoopback refuses a local proxy address that is not loopback.
var ErrNotLoopback = errors.New("not a loopback address")

// CheckLoopback returns ErrNotLoopback unless addr (host:port) names a
// loopback host: an address in 127.0.0.0/8 or ::1, or "localhost". An
// empty host, 0.0.0.0 and :: mean every interface and are refused.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// Listen opens the TCP listener of a local proxy (what names it, "socks5").
// A proxy asks for no credentials and dials as the node or person running
// it, so anyone who reaches it borrows their identity: addr must be
// loopback (see CheckLoopback) unless allowNonLoopback, and then a warning
// is logged. The bound address is checked too, so a "localhost" that
// resolves elsewhere is refused.
func Listen(addr string, allowNonLoopback bool, what string, log *slog.Logger) (net.Listener, error) {
	if !allowNonLoopback {
		if err := CheckLoopback(addr); err != nil {
			return nil, fmt.Errorf("listen %s: %w (only loopback unless explicitly allowed)", what, err)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", what, err)
	}
	bound := l.Addr().String()
	if err := CheckLoopback(bound); err != nil {
		if !allowNonLoopback {
			l.Close()
			return nil, fmt.Errorf("listen %s: bound %w", what, err)
		}
		log.Warn("proxy listening on a non-loopback address: anyone who reaches it connects into the overlay with this identity, without credentials",
			"proxy", what, "addr", bound)
	}
	return l, nil
}
