package wire

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrNotSubnetRoute reports a prefix that cannot be a subnet route.
var ErrNotSubnetRoute = errors.New("not a subnet route")

// CheckRoute reports whether p may be a subnet route (protocol 15): a
// valid prefix at least /8 long for IPv4 and /16 for IPv6 (a default
// route would make the router an exit node), overlapping neither
// loopback nor the overlay's own 100.64.0.0/10.
func CheckRoute(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%w: invalid prefix", ErrNotSubnetRoute)
	case p.Addr().Is4() && p.Bits() < 8, p.Addr().Is6() && p.Bits() < 16:
		return fmt.Errorf("%w: %v is wider than /8 (IPv4) or /16 (IPv6)", ErrNotSubnetRoute, p)
	}
	for _, no := range []netip.Prefix{loopback4, loopback6, overlay4} {
		if p.Overlaps(no) {
			return fmt.Errorf("%w: %v overlaps %v", ErrNotSubnetRoute, p, no)
		}
	}
	return nil
}

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.MustParsePrefix("::1/128")
	overlay4  = netip.MustParsePrefix("100.64.0.0/10")
)
