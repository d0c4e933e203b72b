package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
)

// OverlayIPv4 returns the overlay's IPv4 range, routed into the TUN.
func OverlayIPv4() netip.Prefix { return netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, 0, 0}), 10) }

// assignment is one overlay address the TUN gets and the overlay range
// routed into the TUN with that address as source.
type assignment struct {
	addr  netip.Addr
	route netip.Prefix
	// optional failures are logged and leave the others working (IPv6
	// disabled on the host).
	optional bool
}

// assignments returns what the TUN gets for the node's overlay addresses
// v4 and v6 (each may be invalid: none): v4 and the route for
// OverlayIPv4(), v6 and the route for its /48 (the coordinator's ULA
// prefix). An address of the wrong family is refused.
func assignments(v4, v6 netip.Addr) ([]assignment, error) {
	var as []assignment
	if v4.IsValid() {
		if !v4.Is4() {
			return nil, fmt.Errorf("overlay ipv4 address %v is not IPv4", v4)
		}
		as = append(as, assignment{addr: v4, route: OverlayIPv4()})
	}
	if v6.IsValid() {
		if !v6.Is6() || v6.Is4In6() || v6.Zone() != "" {
			return nil, fmt.Errorf("overlay ipv6 address %v is not a plain IPv6 address", v6)
		}
		pfx, _ := v6.Prefix(48) // cannot fail for an IPv6 address
		as = append(as, assignment{addr: v6, route: pfx, optional: true})
	}
	return as, nil
}

// errRoutesUnsupported: subnet routes in TUN mode are built for Linux only.
var errRoutesUnsupported = errors.New("subnet routes in TUN mode are not supported on this OS yet (use the proxies)")
