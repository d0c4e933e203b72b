package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
)

// MaxRoutes bounds the subnet routes of one node, advertised or approved.
const MaxRoutes = 64

// SetAdvertisedRoutes implements Nodes.
func (t nodeTable) SetAdvertisedRoutes(ctx context.Context, id NodeID, routes []netip.Prefix) error {
	return t.setRoutes(ctx, id, "advertised_routes_json", routes)
}

// SetApprovedRoutes implements Nodes.
func (t nodeTable) SetApprovedRoutes(ctx context.Context, id NodeID, routes []netip.Prefix) error {
	return t.setRoutes(ctx, id, "approved_routes_json", routes)
}

// setRoutes writes routes to column col (one of the two route columns).
func (t nodeTable) setRoutes(ctx context.Context, id NodeID, col string, routes []netip.Prefix) error {
	err := checkRoutes(routes)
	if err == nil {
		err = t.db.execOne(ctx, `UPDATE nodes SET `+col+` = ? WHERE id = ?`, encodePrefixes(routes), id)
	}
	if err != nil {
		return fmt.Errorf("set %s of node %d: %w", col, id, err)
	}
	return nil
}

// checkRoutes refuses more than MaxRoutes routes or an invalid prefix.
func checkRoutes(routes []netip.Prefix) error {
	if len(routes) > MaxRoutes {
		return fmt.Errorf("%w: %d routes, at most %d", ErrInvalid, len(routes), MaxRoutes)
	}
	for _, r := range routes {
		if !r.IsValid() {
			return fmt.Errorf("%w: invalid route %v", ErrInvalid, r)
		}
	}
	return nil
}

// NormalRoutes returns routes masked, sorted and without duplicates, in a
// new slice (nil when empty): the form the store keeps.
func NormalRoutes(routes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range routes {
		out = append(out, r.Masked())
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(out)
}

// encodePrefixes stores routes in NormalRoutes form as a JSON array of
// CIDR strings.
func encodePrefixes(routes []netip.Prefix) string {
	s := []string{}
	for _, r := range NormalRoutes(routes) {
		s = append(s, r.String())
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// decodePrefixes reads what encodePrefixes wrote; empty reads as nil.
func decodePrefixes(text string) ([]netip.Prefix, error) {
	s, err := decodeStrings(text)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, v := range s {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return nil, fmt.Errorf("decode route: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}
