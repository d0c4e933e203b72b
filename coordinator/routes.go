package coordinator

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// Subnet routes (issue 14). A node's route is in use when it advertises it
// and an admin approved it or the policy's autoApprovers do. Every router
// of a route gets filter rules for the routed destinations (the compiler
// sees its routes as its addresses); a viewer's map lists a route on one
// router only, the primary, and only when the policy lets the viewer reach
// some address in it.

// effectiveRoutes returns the routes of n in use under rs: advertised, and
// approved by an admin or by rs's autoApprovers. email is n's owner's
// (empty for a tagged node).
func effectiveRoutes(n store.Node, rs *acl.Ruleset, email string) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range n.AdvertisedRoutes {
		if slices.Contains(n.ApprovedRoutes, r) || (rs != nil && rs.AutoApproves(r, email, n.Tags)) {
			out = append(out, r)
		}
	}
	return out
}

// routesLocked returns node n's routes in use under the running policy.
func (m *netmap) routesLocked(n store.Node) []netip.Prefix {
	email := ""
	if len(n.Tags) == 0 {
		email = m.emails[n.UserID]
	}
	return effectiveRoutes(n, m.rs, email)
}

// noteRouterLocked records whether n advertises routes (netmap.routers).
func (m *netmap) noteRouterLocked(n store.Node) {
	if len(n.AdvertisedRoutes) > 0 {
		m.routers[n.ID] = true
	} else {
		delete(m.routers, n.ID)
	}
}

// routeOrderLocked returns the live routers of route r in the order
// viewers fall back through them: the route's primary while it is online,
// then online before offline, then by id. The first is r's primary,
// recorded when online: a router that goes offline hands its routes over
// as soon as its map stream closes, and does not take them back when it
// returns (the flows through the new primary keep going).
func (m *netmap) routeOrderLocked(r netip.Prefix) []store.NodeID {
	var out []store.NodeID
	for rid := range m.routers {
		n := m.nodes[rid]
		if m.live[rid] && slices.Contains(n.AdvertisedRoutes, r) && slices.Contains(m.routesLocked(n), r) {
			out = append(out, rid)
		}
	}
	slices.SortFunc(out, func(a, b store.NodeID) int {
		if m.online[a] != m.online[b] {
			if m.online[a] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	if p, ok := m.primary[r]; ok && m.online[p] {
		if i := slices.Index(out, p); i > 0 {
			out = slices.Insert(slices.Delete(out, i, i+1), 0, p)
		}
	}
	if len(out) > 0 && m.online[out[0]] {
		m.primary[r] = out[0]
	}
	return out
}

// primaryLocked reports whether live node id is the router in use for
// route r: the first of routeOrderLocked(r).
func (m *netmap) primaryLocked(id store.NodeID, r netip.Prefix) bool {
	order := m.routeOrderLocked(r)
	return len(order) > 0 && order[0] == id
}

// primaryRoutesLocked returns the routes of live node id it is primary for.
func (m *netmap) primaryRoutesLocked(id store.NodeID) []netip.Prefix {
	var out []netip.Prefix
	for _, r := range m.routesLocked(m.nodes[id]) {
		if m.primaryLocked(id, r) {
			out = append(out, r)
		}
	}
	return out
}

// peerRoute is one route of a router peer as a map needs it: the
// inbound filters of the routers ahead of the peer in the route's order
// (routeOrderLocked). A viewer sends the route to the first router of
// the order whose filter lets it into the route: the primary, unless
// only "via" grants let the viewer in, whose rules only routers with a
// via tag hold; then the first of those.
type peerRoute struct {
	route netip.Prefix
	ahead [][]filter.Rule
}

// peerRoutesLocked returns the routes live router id serves, each with
// the filters of the routers ahead of it.
func (m *netmap) peerRoutesLocked(id store.NodeID) []peerRoute {
	if !m.routers[id] {
		return nil
	}
	var out []peerRoute
	for _, r := range m.routesLocked(m.nodes[id]) {
		pr := peerRoute{route: r}
		for _, rid := range m.routeOrderLocked(r) {
			if rid == id {
				break
			}
			f, _ := m.filterLocked(rid)
			pr.ahead = append(pr.ahead, f)
		}
		out = append(out, pr)
	}
	return out
}

// routeViewers returns the nodes whose maps may show a route of node id
// move: the peers of every live router that advertises a route node id
// advertises or had approved. Their streams recompute their whole map,
// since a router other than id may have become (or stopped being) primary.
func (m *netmap) routeViewers(id store.NodeID) []store.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return nil
	}
	mine := append(slices.Clone(n.AdvertisedRoutes), n.ApprovedRoutes...)
	if len(mine) == 0 {
		return nil
	}
	var out []store.NodeID
	for rid := range m.routers {
		r := m.nodes[rid]
		if !m.live[rid] || !slices.ContainsFunc(r.AdvertisedRoutes, func(p netip.Prefix) bool { return slices.Contains(mine, p) }) {
			continue
		}
		res, err := m.comp.Peers(r.Name)
		if err != nil {
			continue
		}
		for _, pid := range m.idsLocked(res) {
			out = appendUnique(out, pid)
		}
	}
	return out
}

// viewerRoutes returns the routes of p the viewer with addresses self
// sends through p: a whole route when p's accept rules let one of self
// reach some address in it and no router ahead of p's does (see
// peerRoute); else, the destinations inside the route p's accept rules
// let the viewer reach and no router ahead does (what a "via" grant gives
// alone), so that the viewer's longest match sends them through p while
// the rest of the route goes through the router ahead. A peer that may
// not use a route never sees it, and a viewer that reaches a route only
// through "via" grants sees it on a router with a via tag only.
func (m *netmap) viewerRoutes(p mapPeer, self []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for _, pr := range p.routes {
		if !m.reachesRoute(p.rules, self, pr.route) {
			continue
		}
		if !m.aheadReach(pr, self, pr.route) {
			out = append(out, pr.route)
			continue
		}
		for _, d := range m.reachedInside(p.rules, self, pr.route) {
			if !m.aheadReach(pr, self, d) && !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	}
	slices.SortFunc(out, netip.Prefix.Compare)
	return out
}

// aheadReach reports whether a router ahead of pr's lets one of self
// reach some address in q.
func (m *netmap) aheadReach(pr peerRoute, self []netip.Addr, q netip.Prefix) bool {
	return slices.ContainsFunc(pr.ahead, func(f []filter.Rule) bool { return m.reachesRoute(f, self, q) })
}

// reachedInside returns the destinations inside route of the accept
// rules of rules with a source among self.
func (m *netmap) reachedInside(rules []filter.Rule, self []netip.Addr, route netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, ru := range rules {
		if ru.Deny {
			continue
		}
		in := m.src.info(ru.Src)
		if !slices.ContainsFunc(self, func(a netip.Addr) bool { return in.contains(ru.Src, a) }) {
			continue
		}
		for _, d := range ru.Dst {
			if d.Net.Bits() >= route.Bits() && route.Contains(d.Net.Addr()) {
				out = append(out, d.Net.Masked())
			}
		}
	}
	return out
}

// reachesRoute reports whether an accept rule of rules has a source among
// self and a destination overlapping route.
func (m *netmap) reachesRoute(rules []filter.Rule, self []netip.Addr, route netip.Prefix) bool {
	for _, ru := range rules {
		if ru.Deny || !slices.ContainsFunc(ru.Dst, func(d filter.DstNet) bool { return d.Net.Overlaps(route) }) {
			continue
		}
		in := m.src.info(ru.Src)
		if slices.ContainsFunc(self, func(a netip.Addr) bool { return in.contains(ru.Src, a) }) {
			return true
		}
	}
	return false
}

// routeKey appends rs's key to b: per route its address and length.
func routeKey(b []byte, rs []netip.Prefix) []byte {
	for _, r := range rs {
		a := r.Addr().As16()
		b = append(b, a[:]...)
		b = binary.AppendUvarint(b, uint64(r.Bits()))
	}
	return b
}

// notifyRouteViewers makes the streams of routeViewers(id) recompute
// their whole map: node id's presence or routes changed, which may move
// a route to another router.
func (s *core) notifyRouteViewers(id store.NodeID) {
	if ids := s.nm.routeViewers(id); len(ids) > 0 {
		s.hub.notify(ids)
	}
}

// setAdvertised records the routes node n reports advertising (nil:
// unchanged) and recompiles what they move; see checkRoutes.
func (s *core) setAdvertised(ctx context.Context, n store.Node, routes []netip.Prefix) error {
	if routes == nil {
		return nil
	}
	if err := checkRoutes(routes); err != nil {
		return err
	}
	routes = store.NormalRoutes(routes)
	if slices.Equal(routes, n.AdvertisedRoutes) {
		return nil
	}
	if err := s.st.SetAdvertisedRoutes(ctx, n.ID, routes); err != nil {
		return fmt.Errorf("set advertised routes of %s: %w", n.Name, err)
	}
	_, err := s.reloadNode(ctx, n.ID)
	return err
}

// checkRoutes refuses more than wire.MaxRoutes routes and any route
// wire.CheckRoute refuses (a default route: exit nodes are not subnet
// routes; loopback; the overlay's own range).
func checkRoutes(routes []netip.Prefix) error {
	if len(routes) > wire.MaxRoutes {
		return fmt.Errorf("%w: more than %d routes", errBadRequest, wire.MaxRoutes)
	}
	for _, r := range routes {
		if err := wire.CheckRoute(r); err != nil {
			return fmt.Errorf("%w: %v", errBadRequest, err)
		}
	}
	return nil
}

// SetRoutes approves the routes of approve and rejects those of reject
// for node id (an approval outlives the advertisement; a rejection takes
// the route out of the approved ones, and a route the autoApprovers
// approve stays in use), recompiles the maps they move and audits the
// change with the approved routes before and after.
func (s *fleet) SetRoutes(ctx context.Context, id store.NodeID, approve, reject []netip.Prefix, actor string) (store.Node, error) {
	if err := checkRoutes(append(slices.Clone(approve), reject...)); err != nil {
		return store.Node{}, err
	}
	before, err := s.st.Node(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	reject = store.NormalRoutes(reject)
	next := slices.DeleteFunc(store.NormalRoutes(append(slices.Clone(before.ApprovedRoutes), approve...)),
		func(p netip.Prefix) bool { return slices.Contains(reject, p) })
	if len(next) > wire.MaxRoutes {
		return store.Node{}, fmt.Errorf("%w: more than %d approved routes", errBadRequest, wire.MaxRoutes)
	}
	if err := s.st.SetApprovedRoutes(ctx, id, next); err != nil {
		return store.Node{}, fmt.Errorf("approve routes of node %d: %w", id, err)
	}
	n, err := s.reloadNode(ctx, id)
	if err != nil {
		return store.Node{}, err
	}
	s.audit(ctx, actor, "node.routes", "node:"+n.Name, "", map[string]any{
		"approve": approve, "reject": reject, "before": before.ApprovedRoutes, "after": n.ApprovedRoutes})
	return n, nil
}

// primaryRoutes returns the routes node id is the router in use for.
func (m *netmap) primaryRoutes(id store.NodeID) []netip.Prefix {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.live[id] {
		return nil
	}
	return m.primaryRoutesLocked(id)
}
