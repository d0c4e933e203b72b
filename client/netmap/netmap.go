// Package netmap is the desktop client's view of its map: the last full
// wire.MapResponse with every later delta applied, validated, and indexed by
// peer name and overlay address. A View is immutable; Apply returns a new
// one, so readers load the current View through an atomic.Pointer without
// locking.
package netmap

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// Errors returned by View.Apply.
var (
	// ErrNoBase means a delta arrived before any full map.
	ErrNoBase = errors.New("map delta without a full map first")
	// ErrBadMap means a map message failed validation; nothing of it was
	// applied.
	ErrBadMap = errors.New("invalid map")
)

// View is an immutable view of a node's map. Its maps and slices must not
// be modified.
type View struct {
	// Version is the version of the last message applied.
	Version uint64
	// Self is the node itself; its ID is zero before the first full map.
	Self wire.Node
	// Peers holds every peer of the map by ID, expired ones included.
	Peers map[wire.NodeID]wire.Node
	// Rules is the inbound filter as received; Matcher its compiled form
	// (never nil).
	Rules   []filter.Rule
	Matcher *filter.Matcher

	byName map[string]wire.NodeID
	byAddr map[netip.Addr]wire.NodeID
}

// Empty is the view before any map: no self, no peers, deny all.
func Empty() *View {
	return &View{Peers: map[wire.NodeID]wire.Node{}, Matcher: filter.Compile(nil),
		byName: map[string]wire.NodeID{}, byAddr: map[netip.Addr]wire.NodeID{}}
}

// HasSelf reports whether a full map has been applied.
func (v *View) HasSelf() bool { return v.Self.ID != 0 }

// Apply returns the view after m, a full map or a delta against v. It
// validates m first and leaves v untouched; keep-alives return v.
func (v *View) Apply(m wire.MapResponse) (*View, error) {
	if m.KeepAlive {
		return v, nil
	}
	if !m.Full && !v.HasSelf() {
		return nil, ErrNoBase
	}
	if m.Full && m.Self == nil {
		return nil, fmt.Errorf("%w: full map without self", ErrBadMap)
	}
	next := &View{Version: m.Version, Self: v.Self, Rules: v.Rules, Matcher: v.Matcher}
	if m.Self != nil {
		next.Self = *m.Self
	}
	next.Peers = applyPeers(v.Peers, m)
	if m.Full || m.FilterChanged {
		next.Rules = m.Filter
	}
	if err := next.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadMap, err)
	}
	if m.Full || m.FilterChanged {
		next.Matcher = filter.Compile(next.Rules)
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
	for _, p := range m.PeersChanged {
		peers[p.ID] = p
	}
	for _, id := range m.PeersRemoved {
		delete(peers, id)
	}
	return peers
}

// validate checks self, peers and rules.
func (v *View) validate() error {
	if v.Self.ID == 0 {
		return errors.New("self has no id")
	}
	if err := checkAddrs(v.Self); err != nil {
		return fmt.Errorf("self: %w", err)
	}
	seen := map[netip.Addr]wire.NodeID{v.Self.IPv4: v.Self.ID, v.Self.IPv6: v.Self.ID}
	for id, p := range v.Peers {
		if err := checkPeer(p, seen); err != nil {
			return fmt.Errorf("peer %d: %w", id, err)
		}
	}
	for i, r := range v.Rules {
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

// index fills byName and byAddr.
func (v *View) index() {
	v.byName = make(map[string]wire.NodeID, len(v.Peers))
	v.byAddr = make(map[netip.Addr]wire.NodeID, 2*len(v.Peers))
	for id, p := range v.Peers {
		name := strings.ToLower(p.Name)
		if old, dup := v.byName[name]; name != "" && (!dup || id < old) {
			v.byName[name] = id
		}
		for _, a := range []netip.Addr{p.IPv4, p.IPv6} {
			if a.IsValid() {
				v.byAddr[a] = id
			}
		}
	}
}

// Lookup finds a peer by name (case-insensitive, an optional trailing dot)
// or by overlay address.
func (v *View) Lookup(peer string) (wire.Node, bool) {
	if a, err := netip.ParseAddr(peer); err == nil {
		id, ok := v.byAddr[a.Unmap()]
		return v.Peers[id], ok
	}
	id, ok := v.byName[strings.ToLower(strings.TrimSuffix(peer, "."))]
	return v.Peers[id], ok
}

// Resolve returns the overlay address to dial for peer (a name or an
// overlay address; IPv4 when a named peer has one) and the peer, or
// ok=false when no peer whose key is valid at now matches.
func (v *View) Resolve(peer string, now time.Time) (netip.Addr, wire.Node, bool) {
	p, ok := v.Lookup(peer)
	if !ok || Expired(p, now) || p.WGKey == v.Self.WGKey {
		return netip.Addr{}, wire.Node{}, false
	}
	if a, err := netip.ParseAddr(peer); err == nil {
		return a.Unmap(), p, true
	}
	if p.IPv4.IsValid() {
		return p.IPv4, p, true
	}
	return p.IPv6, p, true
}

// Active returns the peers whose key is valid at now, other than the node
// itself, sorted by name then ID.
func (v *View) Active(now time.Time) []wire.Node {
	out := make([]wire.Node, 0, len(v.Peers))
	for _, p := range v.Peers {
		if !Expired(p, now) && p.WGKey != v.Self.WGKey {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b wire.Node) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Expired reports whether n's key expiry has passed at now.
func Expired(n wire.Node, now time.Time) bool {
	return !n.KeyExpiry.IsZero() && !now.Before(n.KeyExpiry)
}
