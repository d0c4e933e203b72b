package coordinator

import (
	"net/netip"
	"slices"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// listEntry is what the node list needs of the netmap about one node.
type listEntry struct {
	self    wire.Node
	online  bool // a stream on this coordinator or, on a shared database, another
	risk    string
	primary []netip.Prefix
	// groups and riskKeyLife are a person's node's owner's groups and the
	// key lifetime the policy's risk classes give them: how long the
	// coordinator makes their keys live is their key TTL with their
	// groups' limits (keyTTL, without the IdP session's end, which only a
	// login knows), cut to riskKeyLife.
	groups      []string
	riskKeyLife time.Duration
}

// listEntries reads the netmap's part of each of ns's list entries with
// one hold of m.mu. Built node by node (selfOf, isOnline, ruleset,
// primaryRoutes, and for a person's node groupsOf, emailOf and
// riskKeyLifetime) a page took the lock four to seven times per node, and
// during a reconnect storm each of those waits behind the streams.
func (m *netmap) listEntries(ns []store.Node) []listEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]listEntry, len(ns))
	for i, n := range ns {
		e := &out[i]
		if rec, ok := m.nodes[n.ID]; ok {
			e.self = m.selfLocked(rec)
		}
		e.online = m.online[n.ID]
		e.risk = m.rs.RiskOf(n.RiskClass)
		if m.live[n.ID] {
			e.primary = m.primaryRoutesLocked(n.ID)
		}
		if len(n.Tags) > 0 || n.UserID == 0 {
			continue
		}
		email, ok := m.emails[n.UserID]
		if ok {
			for g, members := range m.groups {
				if slices.Contains(members, email) {
					e.groups = append(e.groups, g)
				}
			}
			slices.Sort(e.groups)
		}
		e.riskKeyLife = m.comp.KeyLifetimeFor(email)
	}
	return out
}

// connectedAll tells, for each of ids, whether it has a stream here
// (connected), with one hold of h.mu.
func (h *hub) connectedAll(ids []store.NodeID) []bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]bool, len(ids))
	for i, id := range ids {
		out[i] = len(h.subs[id]) > 0
	}
	return out
}

// adminListNodes is ns as the node list shows them (adminListNode), with
// one hold of the netmap's lock and one of the hub's for all of them.
func (s *fleet) adminListNodes(ns []store.Node) []wire.AdminNode {
	entries := s.nm.listEntries(ns)
	ids := make([]store.NodeID, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	conn := s.hub.connectedAll(ids)
	now := time.Now()
	out := make([]wire.AdminNode, len(ns))
	for i, n := range ns {
		e := entries[i]
		life := s.cfg.KeyLifetime // a device's
		if len(n.Tags) == 0 && n.UserID != 0 {
			life = s.keyTTL(e.groups, time.Time{}, time.Time{})
			if e.riskKeyLife > 0 && e.riskKeyLife < life {
				life = e.riskKeyLife
			}
		}
		out[i] = wire.AdminNode{Node: e.self, Hostname: n.Hostname, OS: n.OS, Version: n.Version, Ephemeral: n.Ephemeral,
			CreatedAt: n.CreatedAt, LastSeen: n.LastSeen, Expired: expired(n, now), Endpoints: n.Endpoints,
			KeyRevoked: !n.KeyRevokedAt.IsZero(), AuthKeyID: int64(n.AuthKeyID), KeyLifetimeMillis: life.Milliseconds(),
			RiskClass: e.risk, RiskClassSet: n.RiskClass,
			AdvertisedRoutes: n.AdvertisedRoutes, ApprovedRoutes: n.ApprovedRoutes, PrimaryRoutes: e.primary}
		out[i].Online = e.online || conn[i]
	}
	return out
}
