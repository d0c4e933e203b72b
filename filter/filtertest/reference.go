// Package filtertest holds a reference evaluator of filter rules for tests:
// a plain linear scan, obviously correct and slow, against which the
// compiled filter.Matcher is checked (by fuzzing, in package filter and
// package acl).
package filtertest

import (
	"net/netip"
	"slices"

	"github.com/wardnet/ward/filter"
)

// Match is the reference answer to filter.Matcher.Match: whether rules
// allow a new flow from src to dst (port on protocols with ports) over
// proto, and the index of the deciding rule: the first deny rule that
// matches, else the first accept rule that matches, else -1. Like
// the Matcher it skips rules that fail Validate and denies mixed address
// families, IPv4-mapped IPv6 and invalid addresses.
func Match(rules []filter.Rule, src, dst netip.Addr, proto filter.Proto, port uint16) (bool, int) {
	if !comparable(src, dst) {
		return false, -1
	}
	for i, r := range rules {
		if r.Deny && allows(r, src, dst, proto, port) {
			return false, i
		}
	}
	for i, r := range rules {
		if !r.Deny && allows(r, src, dst, proto, port) {
			return true, i
		}
	}
	return false, -1
}

// MatchPrefix is the reference answer to filter.Matcher.MatchPrefix: whether
// every address of dst is allowed from src. It enumerates dst, so it only
// answers for prefixes of at most 1<<16 addresses (ok reports whether it
// answered).
func MatchPrefix(rules []filter.Rule, src netip.Addr, dst netip.Prefix, proto filter.Proto, port uint16) (allowed, ok bool) {
	if !dst.IsValid() {
		return false, true
	}
	if dst.Addr().BitLen()-dst.Bits() > 16 {
		return false, false
	}
	dst = dst.Masked()
	for a := dst.Addr(); a.IsValid() && dst.Contains(a); a = a.Next() {
		if allowed, _ := Match(rules, src, a, proto, port); !allowed {
			return false, true
		}
	}
	return true, true
}

func comparable(src, dst netip.Addr) bool {
	return src.IsValid() && dst.IsValid() && src.Is4() == dst.Is4() && !src.Is4In6() && !dst.Is4In6()
}

// allows reports whether r matches the flow (whatever its action).
func allows(r filter.Rule, src, dst netip.Addr, proto filter.Proto, port uint16) bool {
	if r.Validate() != nil || !slices.Contains(r.EffectiveProtos(), proto) {
		return false
	}
	if !slices.ContainsFunc(r.Src, func(p netip.Prefix) bool { return p.Contains(src) }) {
		return false
	}
	for _, d := range r.Dst {
		if !d.Net.Contains(dst) {
			continue
		}
		if !proto.HasPorts() || slices.ContainsFunc(d.Ports, func(pr filter.PortRange) bool { return pr.Contains(port) }) {
			return true
		}
	}
	return false
}
