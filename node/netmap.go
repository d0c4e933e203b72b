package node

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// Errors returned by Engine.Apply.
var (
	// ErrNoBase means a delta arrived before any full map.
	ErrNoBase = errors.New("map delta without a full map first")
	// ErrBadMap means a map message failed validation; nothing of it was
	// applied.
	ErrBadMap = errors.New("invalid map")
)

// netmap is an immutable view of the node's map: the last full map with
// every later delta applied. apply builds a new one; readers load it
// through Engine.nm without locking.
type netmap struct {
	version uint64
	// self is the node itself; its ID is zero before the first full map.
	self wire.Node
	// peers holds every peer of the map by ID, expired ones included.
	peers map[wire.NodeID]wire.Node
	// rules is the inbound filter as received; matcher its compiled form.
	rules   []filter.Rule
	matcher *filter.Matcher
	// timed tells that some rule has an Expires: the engine then enforces
	// the rules live at its clock (Engine.liveMatcherLocked).
	timed bool
	// domain is the fleet's DNS domain from the last full map; empty from
	// a coordinator before protocol 15.
	domain string
	// byName maps a lowercased peer name, and its lowercased FQDN when the
	// map has one, to its ID.
	byName map[string]wire.NodeID
	// byAddr maps a peer's overlay address to its ID.
	byAddr map[netip.Addr]wire.NodeID
	// byHost maps the names of routed devices (a router peer's
	// RouteHosts), short and under domain, to their addresses; a peer's
	// name wins over a device's.
	byHost map[string]netip.Addr
}

// emptyNetmap is the view before any map: no self, no peers, deny all.
func emptyNetmap() *netmap {
	return &netmap{peers: map[wire.NodeID]wire.Node{}, matcher: filter.Compile(nil),
		byName: map[string]wire.NodeID{}, byAddr: map[netip.Addr]wire.NodeID{}, byHost: map[string]netip.Addr{}}
}

// hasSelf reports whether a full map has been applied.
func (nm *netmap) hasSelf() bool { return nm.self.ID != 0 }

// apply returns the view after m. It validates m first and leaves nm
// untouched.
func (nm *netmap) apply(m wire.MapResponse) (*netmap, error) {
	if !m.Full && !nm.hasSelf() {
		return nil, ErrNoBase
	}
	if m.Full && m.Self == nil {
		return nil, fmt.Errorf("%w: full map without self", ErrBadMap)
	}
	next := &netmap{version: m.Version, self: nm.self, rules: nm.rules, matcher: nm.matcher, domain: nm.domain}
	if m.Full {
		// the domain goes into the system's resolver configuration
		// (splitdns): a map whose domain is no DNS name is refused
		if m.DNSDomain != "" {
			if err := dnsname.CheckDomain(m.DNSDomain); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadMap, err)
			}
		}
		next.domain = m.DNSDomain
	}
	if m.Self != nil {
		next.self = *m.Self
	}
	next.peers = applyPeers(nm.peers, m)
	if m.Full || m.FilterChanged {
		rules, err := wire.RulesFrom(m, nm.rules)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMap, err)
		}
		next.rules = rules
	}
	if err := next.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMap, err)
	}
	if m.Full || m.FilterChanged {
		// A join's filter change only adds sources: the matcher is
		// updated, not compiled anew (filter.Matcher.Update).
		next.matcher = nm.matcher.Update(next.rules)
		next.timed = slices.ContainsFunc(next.rules, func(r filter.Rule) bool { return !r.Expires.IsZero() })
	} else {
		next.timed = nm.timed
	}
	next.index()
	return next, nil
}

// applyPeers returns old's peers after m's full list or delta.
func applyPeers(old map[wire.NodeID]wire.Node, m wire.MapResponse) map[wire.NodeID]wire.Node {
	if m.Full {
		peers := make(map[wire.NodeID]wire.Node, len(m.Peers))
		for _, p := range m.Peers {
			peers[p.ID] = p
		}
		return peers
	}
	peers := maps.Clone(old)
	if len(m.PeersGrantsSwap) > 0 {
		for id, p := range peers {
			p.Grants = wire.SwapGrants(p.Grants, m.PeersGrantsSwap)
			peers[id] = p
		}
	}
	for _, p := range m.PeersChanged {
		peers[p.ID] = p
	}
	for _, g := range m.PeersGrants {
		if p, ok := peers[g.ID]; ok {
			p.Grants = g.Grants
			peers[g.ID] = p
		}
	}
	for _, id := range m.PeersRemoved {
		delete(peers, id)
	}
	return peers
}

// validate checks self, peers and rules.
func (nm *netmap) validate() error {
	if nm.self.ID == 0 {
		return errors.New("self has no id")
	}
	if err := checkAddrs(nm.self); err != nil {
		return fmt.Errorf("self: %w", err)
	}
	seen := map[netip.Addr]wire.NodeID{nm.self.IPv4: nm.self.ID, nm.self.IPv6: nm.self.ID}
	for id, p := range nm.peers {
		if err := checkPeer(p, seen); err != nil {
			return fmt.Errorf("peer %d: %w", id, err)
		}
	}
	for i, r := range nm.rules {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("filter rule %d: %w", i, err)
		}
	}
	return nil
}

// checkPeer checks p and claims its addresses in seen.
func checkPeer(p wire.Node, seen map[netip.Addr]wire.NodeID) error {
	if p.ID == 0 || p.WGKey.IsZero() {
		return errors.New("no id or no wireguard key")
	}
	if err := checkAddrs(p); err != nil {
		return err
	}
	for _, g := range p.Grants {
		for _, r := range g.Ports {
			if r.First > r.Last {
				return fmt.Errorf("grant %s: port range %d-%d is reversed", g.Proto.Name(), r.First, r.Last)
			}
		}
	}
	for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
		if !a.IsValid() {
			continue
		}
		if other, dup := seen[a]; dup && other != p.ID {
			return fmt.Errorf("address %v also belongs to node %d", a, other)
		}
		seen[a] = p.ID
	}
	return nil
}

// checkAddrs checks that n has at least one overlay address, each of the
// right family.
func checkAddrs(n wire.Node) error {
	if !n.IPv4.IsValid() && !n.IPv6.IsValid() {
		return errors.New("no overlay address")
	}
	if n.IPv4.IsValid() && !n.IPv4.Is4() {
		return fmt.Errorf("ipv4 address %v is not IPv4", n.IPv4)
	}
	if n.IPv6.IsValid() && (!n.IPv6.Is6() || n.IPv6.Is4In6()) {
		return fmt.Errorf("ipv6 address %v is not IPv6", n.IPv6)
	}
	return nil
}

// index fills byName, byAddr and byHost.
func (nm *netmap) index() {
	nm.byName = make(map[string]wire.NodeID, len(nm.peers))
	nm.byAddr = make(map[netip.Addr]wire.NodeID, 2*len(nm.peers))
	for id, p := range nm.peers {
		for _, name := range []string{p.Name, p.FQDN} {
			name = strings.ToLower(name)
			if old, dup := nm.byName[name]; name != "" && (!dup || id < old) {
				nm.byName[name] = id
			}
		}
		for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
			if a.IsValid() {
				nm.byAddr[a] = id
			}
		}
	}
	nm.indexHosts()
}

// lookup finds a peer by name or FQDN (case-insensitive, an optional
// trailing dot) or by overlay address.
func (nm *netmap) lookup(peer string) (wire.Node, bool) {
	if a, err := netip.ParseAddr(peer); err == nil {
		id, ok := nm.byAddr[a.Unmap()]
		if !ok {
			return nm.routerOf(a.Unmap())
		}
		return nm.peers[id], ok
	}
	id, ok := nm.byName[dnsname.Canonical(peer)]
	return nm.peers[id], ok
}

// routerOf finds the peer whose map routes hold a (the longest match):
// the subnet router this node reaches a through.
func (nm *netmap) routerOf(a netip.Addr) (wire.Node, bool) {
	var best wire.Node
	bits := -1
	for _, p := range nm.peers {
		for _, r := range p.Routes {
			if r.Contains(a) && r.Bits() > bits {
				best, bits = p, r.Bits()
			}
		}
	}
	return best, bits >= 0
}

// expired reports whether p's key expiry has passed at now.
func expired(p wire.Node, now time.Time) bool {
	return !p.KeyExpiry.IsZero() && !now.Before(p.KeyExpiry)
}
