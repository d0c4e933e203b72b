package wire

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrNotSubnetRoute reports a prefix that cannot be a subnet route.
var ErrNotSubnetRoute = errors.New("not a subnet route")

// CheckRoute reports whether p may be a subnet route (protocol 18): a
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

// RouteState is one route of a node as the admin front ends list it.
type RouteState struct {
	Node  string       `json:"node"`
	Route netip.Prefix `json:"route"`
	// Advertised: the node offers it; Approved: an admin approved it;
	// InUse: it carries traffic (advertised, and approved by an admin or
	// the policy's autoApprovers); Primary: the node is the router in use.
	Advertised bool `json:"advertised"`
	Approved   bool `json:"approved"`
	InUse      bool `json:"in_use"`
	Primary    bool `json:"primary"`
}

// RouteStates lists every route n advertises or has approved, sorted.
func (n AdminNode) RouteStates() []RouteState {
	all := append(slices.Clone(n.AdvertisedRoutes), n.ApprovedRoutes...)
	slices.SortFunc(all, func(a, b netip.Prefix) int { return cmp.Or(a.Addr().Compare(b.Addr()), a.Bits()-b.Bits()) })
	var out []RouteState
	for _, r := range slices.Compact(all) {
		out = append(out, RouteState{Node: n.Name, Route: r, Advertised: slices.Contains(n.AdvertisedRoutes, r),
			Approved: slices.Contains(n.ApprovedRoutes, r), InUse: slices.Contains(n.Routes, r), Primary: slices.Contains(n.PrimaryRoutes, r)})
	}
	return out
}
