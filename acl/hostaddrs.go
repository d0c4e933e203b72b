package acl

import (
	"net/netip"
	"slices"
	"strings"
)

// HostAddr is a "hosts" entry that names one address.
type HostAddr struct {
	// Name is the entry's name as the policy spells it.
	Name string
	// Addr is the one address it names.
	Addr netip.Addr
}

// HostAddrs returns the policy's "hosts" entries that name a single
// address (written bare, or as a /32 or /128), sorted by name: those
// that may serve as names of devices. An entry naming a wider prefix is
// a set of addresses, not a device, and is left out.
func (rs *Ruleset) HostAddrs() []HostAddr {
	var out []HostAddr
	for name, p := range rs.hosts {
		if p.IsSingleIP() {
			out = append(out, HostAddr{Name: name, Addr: p.Addr()})
		}
	}
	slices.SortFunc(out, func(a, b HostAddr) int { return strings.Compare(a.Name, b.Name) })
	return out
}
