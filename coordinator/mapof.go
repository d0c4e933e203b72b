package coordinator

import (
	"cmp"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// mapPeer is one peer of a map as a stream needs it: the shared record
// and the peer's inbound filter, from which the viewer's grants are
// computed outside the netmap's lock.
type mapPeer struct {
	rec *peerRec
	// rules is the peer's inbound filter; known is false when the policy
	// does not know the peer (then its viewer learns nil grants).
	rules []filter.Rule
	known bool
	// routes are the subnet routes the peer serves, with the routers
	// ahead of it; viewerRoutes keeps those the viewer sends through it.
	routes []peerRoute
	// hosts are the policy's names of single devices (netmap.routeHosts)
	// when the peer routes anything; viewerHosts keeps those the viewer
	// may use.
	hosts []acl.HostAddr
}

// mapState is what mapOf gathers for one node under the netmap's lock:
// pointers to shared, immutable parts, no copies.
type mapState struct {
	self      wire.Node
	selfAddrs []netip.Addr
	// peers are the node's peers: all of them, or those among the
	// candidates asked about.
	peers []mapPeer
	// absent are the candidates that are not peers (any more).
	absent []store.NodeID
	// filter is the node's inbound filter when asked for; never nil then.
	filter []filter.Rule
	// class, for a whole map of a live node, holds its peers in place of
	// peers: those of its peer class, the node itself left out when there
	// (see peerClass).
	class *peerClass
}

// mapOf gathers node id's map: every peer when only is nil, else only
// those of the candidates in only that are its peers (the rest listed
// as absent), and its filter when withFilter. It holds the netmap's lock
// for lookups only: grants, comparisons and encoding happen after, on
// the shared records. ok is false once the node is gone.
func (m *netmap) mapOf(id store.NodeID, only []store.NodeID, withFilter bool) (mapState, bool) {
	return m.mapOfBy(id, only, withFilter, true)
}

// mapOfPerNode is mapOf with a whole map's peers gathered one by one,
// without the node's peer class: what mapOf did before classes, kept as
// the reference the tests hold the classes to.
func (m *netmap) mapOfPerNode(id store.NodeID, only []store.NodeID, withFilter bool) (mapState, bool) {
	return m.mapOfBy(id, only, withFilter, false)
}

func (m *netmap) mapOfBy(id store.NodeID, only []store.NodeID, withFilter, classes bool) (mapState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return mapState{}, false
	}
	st := mapState{self: m.selfLocked(n), selfAddrs: addrsOf(n)}
	if withFilter {
		// Never nil: a nil filter sends nothing and leaves the node's old
		// rules in force, so a node the policy does not know gets none.
		st.filter = []filter.Rule{}
		if m.live[id] {
			if f, known := m.filterLocked(id); known {
				st.filter = f
			}
		}
	}
	switch {
	case !m.live[id]:
		st.absent = only
	case only == nil && classes:
		if pc, err := m.peerClassLocked(n); err == nil {
			st.class = pc
		}
	case only == nil:
		names, err := m.comp.Peers(n.Name)
		if err != nil {
			return st, true
		}
		st.peers = make([]mapPeer, 0, len(names))
		for _, name := range names {
			if pid, ok := m.byName[name]; ok && m.live[pid] {
				st.peers = append(st.peers, m.mapPeerLocked(pid))
			}
		}
	default:
		// Made at its largest once: grown by doubling, a sensor's share of
		// a policy change (its 1,000 gateways' grants) took twice the bytes
		// (this line was a quarter of what a 50,000-node coordinator
		// allocated over the joins and policy changes).
		st.peers = make([]mapPeer, 0, len(only))
		for _, pid := range only {
			if m.isPeerLocked(n, pid) {
				st.peers = append(st.peers, m.mapPeerLocked(pid))
			} else {
				st.absent = append(st.absent, pid)
			}
		}
	}
	return st, true
}

// isPeerLocked reports whether node pid is a live peer of n, a live node.
func (m *netmap) isPeerLocked(n store.Node, pid store.NodeID) bool {
	p, ok := m.nodes[pid]
	if !ok || !m.live[pid] || pid == n.ID {
		return false
	}
	yes, err := m.comp.IsPeer(n.Name, p.Name)
	return err == nil && yes
}

func (m *netmap) mapPeerLocked(pid store.NodeID) mapPeer {
	rules, known := m.filterLocked(pid)
	mp := mapPeer{rec: m.recLocked(pid), rules: rules, known: known, routes: m.peerRoutesLocked(pid)}
	if len(mp.routes) > 0 {
		mp.hosts = m.routeHosts
	}
	return mp
}

// filterLocked returns live node id's inbound filter, cached; known is
// false when the compiler does not know the node.
func (m *netmap) filterLocked(id store.NodeID) (rules []filter.Rule, known bool) {
	if f, ok := m.filters[id]; ok {
		return f, true
	}
	f, err := m.comp.Filter(m.nodes[id].Name)
	if err != nil {
		return nil, false
	}
	f = m.gateMFALocked(m.nodes[id].Name, f)
	m.filters[id] = f
	return f, true
}

// recLocked returns node id's record as peers see it, remade only when
// stale and then kept when nothing its peers see changed (a presence
// update that only moves LastSeen keeps the version).
func (m *netmap) recLocked(id store.NodeID) *peerRec {
	r := m.recs[id]
	if r != nil && !m.recStale[id] && r.epoch == m.recEpoch {
		return r
	}
	n := m.nodes[id]
	w := m.wireNodeLocked(n)
	delete(m.recStale, id)
	if r != nil && sameRecord(r.node, w, time.Now()) {
		r.epoch = m.recEpoch
		return r
	}
	m.recSeq++
	r = &peerRec{ver: m.recSeq, epoch: m.recEpoch, node: w, addrs: addrsOf(n)}
	m.recs[id] = r
	return r
}

// sameRecord reports whether old, a record made earlier, still shows w:
// equal, or equal but for a key switch (wire.Node.KeySwitchAt) that has
// passed since. A record is not remade for the end of a switch alone:
// receivers ignore a past switch, and a new version would send the node
// to every peer again (after a policy change, every node that ever
// rotated).
func sameRecord(old, w wire.Node, now time.Time) bool {
	if !old.KeySwitchAt.IsZero() && w.KeySwitchAt.IsZero() && !now.Before(old.KeySwitchAt) {
		old.PrevWGKey, old.KeySwitchAt = wire.WGPublic{}, time.Time{}
	}
	return reflect.DeepEqual(old, w)
}

// grants returns what the viewer with addresses self may start toward p.
func (m *netmap) grants(p mapPeer, self []netip.Addr) []filter.PortGrant {
	if !p.known {
		return nil
	}
	return m.src.grantsOf(p.rules, self, p.rec.addrs)
}

// absentOf returns those of cand that are not live peers of node id: the
// peers a removal message drops. ok is false once the node is gone.
// With whole (cand is every peer the node holds, a pending "all") the
// candidates are looked up in the node's peer class (made once per gen
// and shared with the whole maps of the class), else checked one by one.
// Unlike mapOf it gathers nothing for the peers that stay.
//
// Reason: a policy change wakes every stream, and a stream paced or
// waiting for its turn (mapBudget) sends its removals at once: through
// mapOf, each of a 50,000-node fleet's 1,000 gateways checked its 36,750
// held peers one by one under the netmap's lock and gathered each one's
// record and filter, for a message that has none of them.
func (m *netmap) absentOf(id store.NodeID, cand []store.NodeID, whole bool) ([]store.NodeID, bool) {
	return m.absentOfBy(id, cand, whole)
}

// absentOfAll is absentOf for a pending "all": those of the peers node
// id holds (held, its content key; cand lists them, called only when
// needed) that are not its live peers. Its peer class is looked up under
// the netmap's lock, the peers outside it (a class never changes once
// made), and a node that is not among its class's peers takes the answer
// the first node of the class holding the same entries got (the answer
// depends only on the class and the entries then): the removals' check
// of a policy change is made once per class and set held, not once per
// node. The result is sorted, and shared: not to be changed.
//
// Reason: a policy change wakes every stream, and each checked its held
// peers one by one in its class under the netmap's lock: at 50,000
// nodes of the default shape 73.5 million binary searches (2.7 s of
// CPU in 20 s of the change's profile) that held up, behind that lock,
// every whole map the budget's turns were making.
func (m *netmap) absentOfAll(id store.NodeID, held heldKey, cand func() []store.NodeID) ([]store.NodeID, bool) {
	m.mu.Lock()
	n, ok := m.nodes[id]
	live := ok && m.live[id]
	var pc *peerClass
	var err error
	if live {
		pc, err = m.peerClassLocked(n)
	}
	m.mu.Unlock()
	switch {
	case !ok:
		return nil, false
	case !live:
		return slices.Sorted(slices.Values(cand())), true
	case err != nil:
		a, ok := m.absentOfBy(id, cand(), false)
		return slices.Sorted(slices.Values(a)), ok
	}
	shared := !pc.has(id)
	if shared {
		pc.mu.Lock()
		a, ok := pc.absent[held]
		pc.mu.Unlock()
		if ok {
			return a, true
		}
	}
	var absent []store.NodeID
	for _, pid := range cand() {
		if pid == id || !pc.has(pid) {
			absent = append(absent, pid)
		}
	}
	slices.Sort(absent)
	if shared {
		pc.mu.Lock()
		if pc.absent == nil || len(pc.absent) >= maxClassDiffs {
			pc.absent = map[heldKey][]store.NodeID{}
		}
		pc.absent[held] = absent
		pc.mu.Unlock()
	}
	return absent, true
}

func (m *netmap) absentOfBy(id store.NodeID, cand []store.NodeID, classes bool) ([]store.NodeID, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return nil, false
	}
	if !m.live[id] {
		return cand, true
	}
	var absent []store.NodeID
	if classes {
		if pc, err := m.peerClassLocked(n); err == nil {
			for _, pid := range cand {
				_, in := slices.BinarySearchFunc(pc.peers, pid, func(p mapPeer, pid store.NodeID) int {
					return cmp.Compare(store.NodeID(p.rec.node.ID), pid)
				})
				if !in || pid == id {
					absent = append(absent, pid)
				}
			}
			return absent, true
		}
	}
	for _, pid := range cand {
		if !m.isPeerLocked(n, pid) {
			absent = append(absent, pid)
		}
	}
	return absent, true
}
