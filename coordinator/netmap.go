package coordinator

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/dnsname"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// netmap is the coordinator's view of the fleet: every node record, the
// current policy and its compilation against the live (unexpired) nodes. It
// answers "what does node X receive" and "which nodes does a change touch".
type netmap struct {
	// domain is the fleet's DNS domain, under which each node's FQDN lies;
	// set at construction, never changed.
	domain string

	mu sync.Mutex // mu guards the following
	// policy is the running policy as parsed; rs is it resolved with the
	// users' IdP groups.
	policy *acl.Policy
	rs     *acl.Ruleset
	// groups maps group:name to the users the IdP puts in it.
	groups map[string][]string
	// comp is rs, with the approved requests of timed, compiled against
	// live nodes (registered, key not expired).
	comp *acl.Compiled
	// timed are the approved access requests not yet ended (see
	// setTimed); each adds a rule that ends on time on every node.
	timed []acl.TimedAccess
	// requests holds each person's newest access requests, newest first,
	// as their nodes' Self carries them (see setRequests); the slices are
	// never changed, only replaced.
	requests map[store.UserID][]wire.AccessRequest
	// nodes holds every registered node.
	nodes map[store.NodeID]store.Node
	// byName indexes nodes by name: the one record holding each name.
	// The store keeps names unique, but the netmap may briefly hold a
	// record the store already deleted (a removal updates the store
	// first) while a new node takes its name: the new record then waits
	// in nameWait, out of the policy, until the stale one leaves.
	byName   map[string]store.NodeID
	nameWait map[string]store.NodeID
	// admitted lists the waiting records admitted since takeAdmitted
	// last ran: each needs its whole map.
	admitted []store.NodeID
	// emails maps user ids to emails for ownership.
	emails map[store.UserID]string
	// disabled holds the users an admin disabled.
	disabled map[store.UserID]bool
	// live holds the nodes present in comp.
	live map[store.NodeID]bool
	// online holds nodes with an open map stream (on any coordinator of
	// the database); onlineCount is how many of its values are true.
	online      map[store.NodeID]bool
	onlineCount int
	// filters caches live nodes' inbound filters, from which their
	// viewers' grants are computed (see mapOf). An entry goes whenever the
	// node's result may change: with the same sets of nodes whose streams
	// a change wakes, and all of them at a recompile.
	filters map[store.NodeID][]filter.Rule
	// recs holds each node's record as peers see it (see recLocked): made
	// when first asked for, remade when recStale names the node or the
	// record's epoch is older than recEpoch (a change to every record: the
	// users' emails, a load).
	recs     map[store.NodeID]*peerRec
	recStale map[store.NodeID]bool
	recEpoch uint64
	// recSeq is the version of the last record made.
	recSeq uint64
	// nextExpiry is the earliest key expiry among live nodes when
	// expiryKnown (zero: none expires); expire scans only from then on.
	// An upsert lowers it; a scan or a recompile sets it anew.
	nextExpiry  time.Time
	expiryKnown bool
	// ephemeral holds the ephemeral nodes, the only ones reaped offline.
	ephemeral map[store.NodeID]bool
	// mfa is the people's step-up state: their last second factors, and
	// when the next window in a cached filter ends (see netmapmfa.go).
	mfa mfaState
	// routers holds the nodes that advertise subnet routes, the only ones
	// primaryLocked looks at.
	routers map[store.NodeID]bool
	// routeHosts are the running policy's names of single devices
	// (routeHostsOf), made at each compile, never changed.
	routeHosts []acl.HostAddr
	// primary is each route's primary router as last chosen while online
	// (routeOrderLocked): it stays primary while online, so a router
	// coming back does not take its routes back.
	primary map[netip.Prefix]store.NodeID
	// src caches what is made once per source list of the compiled
	// filters (its JSON, its index for grants); it has its own lock.
	src *srcCache
	// gen counts the changes to what maps are made of: every method that
	// changes the nodes, the policy, the users or the cached filters
	// bumps it. classes holds the peer classes (peerClass) mapOf made at
	// classGen; they hold for that gen only, and go at the next.
	gen      uint64
	classGen uint64
	classes  map[string]*peerClass
}

// newNetmap returns an empty netmap whose nodes' names lie under domain
// (their FQDN); set its policy before use.
func newNetmap(domain string) *netmap {
	return &netmap{domain: domain, groups: map[string][]string{}, nodes: map[store.NodeID]store.Node{}, byName: map[string]store.NodeID{}, nameWait: map[string]store.NodeID{}, emails: map[store.UserID]string{},
		disabled: map[store.UserID]bool{}, live: map[store.NodeID]bool{}, online: map[store.NodeID]bool{},
		filters: map[store.NodeID][]filter.Rule{}, recs: map[store.NodeID]*peerRec{}, recStale: map[store.NodeID]bool{}, src: newSrcCache(),
		ephemeral: map[store.NodeID]bool{}, mfa: mfaState{at: map[string]time.Time{}},
		routers: map[store.NodeID]bool{}, primary: map[netip.Prefix]store.NodeID{}, classes: map[string]*peerClass{}}
}

// aclNode converts a node record for the policy compiler.
func (m *netmap) aclNodeLocked(n store.Node) acl.Node {
	an := acl.Node{Name: n.Name, IPv4: n.IPv4, IPv6: n.IPv6, Tags: n.Tags, Risk: n.RiskClass, Routes: m.routesLocked(n)}
	if len(n.Tags) == 0 {
		an.User = m.emails[n.UserID]
	}
	return an
}

func expired(n store.Node, now time.Time) bool {
	return !n.KeyExpiry.IsZero() && !now.Before(n.KeyExpiry)
}

// load replaces every node and recompiles. It returns every node id.
func (m *netmap) load(nodes []store.Node, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	m.nodes = map[store.NodeID]store.Node{}
	m.byName = map[string]store.NodeID{}
	clear(m.nameWait)
	m.recEpoch++
	clear(m.ephemeral)
	clear(m.routers)
	for _, n := range nodes {
		m.noteRouterLocked(n)
		m.nodes[n.ID] = n
		m.byName[n.Name] = n.ID
		if n.Ephemeral {
			m.ephemeral[n.ID] = true
		}
	}
	m.onlineCount = 0
	for id, on := range m.online {
		if _, ok := m.nodes[id]; !ok {
			delete(m.online, id)
		} else if on {
			m.onlineCount++
		}
	}
	return m.recompileLocked(m.rs, now)
}

// setPolicy compiles rs against the live nodes and makes it current; on
// error nothing changes.
func (m *netmap) setPolicy(rs *acl.Ruleset, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	if err := m.recompileLocked(rs, now); err != nil {
		return err
	}
	m.policy = rs.Policy()
	m.recEpoch++ // a risk class's mfaWithin shows in the records
	return nil
}

// policyGroupsOf returns the groups of the running policy's "groups" that
// list email, in file order. Emails match exactly, as the policy compiler
// matches them.
func (m *netmap) policyGroupsOf(email string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.policy.GroupsOf(email)
}

// externalGroups returns the IdP groups (group:name -> emails).
func (m *netmap) externalGroups() map[string][]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.groups)
}

// recordUsers records users' emails and IdP groups without recompiling
// (at start, before there is a policy).
func (m *netmap) recordUsers(users []store.User) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	m.groups = m.recordUsersLocked(users)
}

func (m *netmap) recordUsersLocked(users []store.User) map[string][]string {
	groups := map[string][]string{}
	m.recEpoch++ // owners' emails and disables show in the records
	if m.recordMFALocked(users) {
		m.forgetAllFiltersLocked()
	}
	for _, u := range users {
		m.emails[u.ID], m.disabled[u.ID] = u.Email, u.Disabled
		for _, g := range u.Groups {
			groups[policyGroup(g)] = append(groups[policyGroup(g)], u.Email)
		}
	}
	return groups
}

// policyGroup names an IdP group as the policy does: "ops" is "group:ops".
func policyGroup(g string) string {
	if strings.HasPrefix(g, "group:") {
		return g
	}
	return "group:" + g
}

func (m *netmap) recompileLocked(rs *acl.Ruleset, now time.Time) error {
	prev := m.rs
	m.rs = rs // aclNodeLocked reads the autoApprovers of the policy compiled
	inv := acl.Inventory{}
	live := map[store.NodeID]bool{}
	for _, n := range m.nodes {
		if !expired(n, now) && m.byName[n.Name] == n.ID { // a record waiting for its name stays out
			inv.Nodes = append(inv.Nodes, m.aclNodeLocked(n))
			live[n.ID] = true
		}
	}
	comp, err := acl.Compile(rs.WithTimedAccess(liveTimed(m.timed, now)), inv)
	if err != nil {
		m.rs = prev
		return fmt.Errorf("compile policy: %w", err)
	}
	m.rs, m.comp, m.live = rs, comp, live
	m.routeHosts = routeHostsOf(rs)
	m.forgetAllFiltersLocked()
	m.expiryKnown = false
	return nil
}

// ruleset returns the running policy.
func (m *netmap) ruleset() *acl.Ruleset {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rs
}

// errNameWaits reports an upsert whose name another record (stale: the
// store gave the name to the new one) still holds: the new record waits
// out of the policy until that one leaves (netmap.byName).
var errNameWaits = errors.New("name held by a record on its way out")

// upsert adds or replaces node n and returns the ids of nodes whose map may
// have changed (n included), also with an error when the policy refused
// the new record after the old one left it (then n is no longer live),
// matching errNameWaits when another record still holds n's name. A
// refusal leaves the name index as it was: each name names the record the
// policy knows by it.
func (m *netmap) upsert(n store.Node, now time.Time) ([]store.NodeID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	old, had := m.nodes[n.ID]
	var names []string
	var err error
	if had && m.live[n.ID] {
		names, err = m.comp.RemoveNode(old.Name)
		if err != nil {
			return nil, err
		}
		delete(m.live, n.ID)
	}
	var ids []store.NodeID
	if had && old.Name != n.Name {
		ids = m.releaseNameLocked(old.Name, n.ID, now)
	}
	m.nodes[n.ID] = n
	m.recStale[n.ID] = true
	m.noteRouterLocked(n)
	if n.Ephemeral {
		m.ephemeral[n.ID] = true
	} else {
		delete(m.ephemeral, n.ID)
	}
	if holder, ok := m.byName[n.Name]; ok && holder != n.ID {
		m.nameWait[n.Name] = n.ID
		ids = appendUnique(append(ids, m.idsLocked(names)...), n.ID)
		m.forgetFiltersLocked(ids)
		return ids, fmt.Errorf("add node %s (%d) to policy: %w (node %d)", n.Name, n.ID, errNameWaits, holder)
	}
	m.byName[n.Name] = n.ID
	if m.nameWait[n.Name] == n.ID {
		delete(m.nameWait, n.Name)
	}
	if !n.KeyExpiry.IsZero() && (m.nextExpiry.IsZero() || n.KeyExpiry.Before(m.nextExpiry)) {
		m.nextExpiry = n.KeyExpiry
	}
	if !expired(n, now) {
		added, err := m.comp.AddNode(m.aclNodeLocked(n))
		if err != nil {
			// The removal changed these maps: the node is no longer live,
			// and its peers must drop it even though the update failed.
			ids = appendUnique(append(ids, m.idsLocked(names)...), n.ID)
			m.forgetFiltersLocked(ids)
			return ids, fmt.Errorf("add node %s to policy: %w", n.Name, err)
		}
		names = append(names, added...)
		m.live[n.ID] = true
	}
	ids = appendUnique(append(ids, m.idsLocked(names)...), n.ID)
	m.forgetFiltersLocked(ids)
	return ids, nil
}

// releaseNameLocked gives up name, which record id held (or waited for),
// and admits the record waiting for it, if any, into the policy. It
// returns the ids of the nodes the admission touched.
func (m *netmap) releaseNameLocked(name string, id store.NodeID, now time.Time) []store.NodeID {
	if m.nameWait[name] == id {
		delete(m.nameWait, name)
	}
	if m.byName[name] != id {
		return nil
	}
	delete(m.byName, name)
	w, ok := m.nameWait[name]
	if !ok {
		return nil
	}
	delete(m.nameWait, name)
	n, ok := m.nodes[w]
	if !ok || n.Name != name {
		return nil
	}
	m.byName[name] = w
	m.recStale[w] = true
	m.admitted = append(m.admitted, w)
	ids := []store.NodeID{w}
	if !expired(n, now) {
		added, err := m.comp.AddNode(m.aclNodeLocked(n))
		if err != nil {
			return ids // stays out of the policy, as a refused upsert leaves it
		}
		m.live[w] = true
		if !n.KeyExpiry.IsZero() && (m.nextExpiry.IsZero() || n.KeyExpiry.Before(m.nextExpiry)) {
			m.nextExpiry = n.KeyExpiry
		}
		ids = append(ids, m.idsLocked(added)...)
	}
	m.forgetFiltersLocked(ids)
	return ids
}

// takeAdmitted returns the records admitted to their names since it last
// ran (see nameWait), whose streams must recompute their whole map.
func (m *netmap) takeAdmitted() []store.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	a := m.admitted
	m.admitted = nil
	return a
}

// remove deletes node id and returns the ids of the nodes it touched. The
// compiler refusing to drop a node the netmap holds as live means the two
// disagree (a bug): the netmap then recompiles from its records, reports
// every node as touched, so each gets a map made from scratch, and
// returns the error for the log.
func (m *netmap) remove(id store.NodeID, now time.Time) ([]store.NodeID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	n, ok := m.nodes[id]
	if !ok {
		return nil, nil
	}
	var names []string
	var err error
	if m.live[id] {
		names, err = m.comp.RemoveNode(n.Name)
	}
	delete(m.nodes, id)
	admitted := m.releaseNameLocked(n.Name, id, now)
	delete(m.live, id)
	if m.online[id] {
		m.onlineCount--
	}
	delete(m.online, id)
	delete(m.filters, id)
	delete(m.recs, id)
	delete(m.recStale, id)
	delete(m.ephemeral, id)
	delete(m.routers, id)
	if err != nil {
		return m.repairLocked(fmt.Errorf("remove node %s from the policy: %w", n.Name, err), now)
	}
	ids := m.idsLocked(names)
	for _, a := range admitted {
		ids = appendUnique(ids, a)
	}
	m.forgetFiltersLocked(ids)
	return ids, nil
}

// expire drops every live node whose key expired by now from the policy
// and returns them and the nodes they touched. A compiler error is
// repaired as in remove, and returned.
func (m *netmap) expire(now time.Time) (gone, touched []store.NodeID, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.expiryKnown && (m.nextExpiry.IsZero() || now.Before(m.nextExpiry)) {
		return nil, nil, nil // no live key expires before nextExpiry
	}
	m.gen++ // see netmap.gen
	var errs []error
	m.nextExpiry, m.expiryKnown = time.Time{}, true
	for id := range m.live {
		n := m.nodes[id]
		if !expired(n, now) {
			if e := n.KeyExpiry; !e.IsZero() && (m.nextExpiry.IsZero() || e.Before(m.nextExpiry)) {
				m.nextExpiry = e
			}
			continue
		}
		names, err := m.comp.RemoveNode(n.Name)
		if err != nil {
			errs = append(errs, fmt.Errorf("expire node %s in the policy: %w", n.Name, err))
		}
		delete(m.live, id)
		gone = append(gone, id)
		touched = append(touched, m.idsLocked(names)...)
	}
	m.forgetFiltersLocked(gone)
	m.forgetFiltersLocked(touched)
	if len(errs) > 0 {
		touched, err = m.repairLocked(errors.Join(errs...), now)
	}
	return gone, touched, err
}

// repairLocked recompiles the running policy against the records after
// the compiler and the netmap were found to disagree (cause), and returns
// every node id (all may have a new map) and cause, joined with a failure
// to recompile (then the compile stays as it was).
func (m *netmap) repairLocked(cause error, now time.Time) ([]store.NodeID, error) {
	if err := m.recompileLocked(m.rs, now); err != nil {
		cause = errors.Join(cause, fmt.Errorf("repair: %w", err))
	}
	return slices.Collect(maps.Keys(m.nodes)), cause
}

// isOnline reports whether node id is online (a coordinator holds a
// stream of it).
func (m *netmap) isOnline(id store.NodeID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.online[id]
}

// nodeCount returns how many nodes the netmap holds: the fleet's size.
func (m *netmap) nodeCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.nodes)
}

// onlineNodes returns how many registered nodes are online: with a stream
// on this coordinator or, on a shared database, on any other.
func (m *netmap) onlineNodes() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.onlineCount
}

// setOnline records whether node id has a stream (and, as of now, was
// seen) and returns the nodes that show its presence.
func (m *netmap) setOnline(id store.NodeID, online bool, now time.Time) []store.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	n, ok := m.nodes[id]
	if !ok {
		return nil
	}
	n.LastSeen = now
	m.nodes[id] = n
	if m.online[id] != online {
		if online {
			m.onlineCount++
		} else {
			m.onlineCount--
		}
	}
	m.online[id] = online
	m.recStale[id] = true
	if !m.live[id] {
		return nil
	}
	res, err := m.comp.Result(m.nodes[id].Name)
	if err != nil {
		return nil
	}
	return m.idsLocked(res.Peers)
}

// idsLocked returns the ids of the nodes named, each once. A long list
// is deduplicated through a set: appendUnique over every name cost the
// square of the list, and a gateway's join names every sensor (at 26,000
// of them a third of a second under the netmap's lock, in the profile of
// a 50,000-node registration).
func (m *netmap) idsLocked(names []string) []store.NodeID {
	var out []store.NodeID
	if len(names) <= 32 {
		for _, name := range names {
			if id, ok := m.byName[name]; ok {
				out = appendUnique(out, id)
			}
		}
		return out
	}
	out = make([]store.NodeID, 0, len(names))
	seen := make(map[store.NodeID]struct{}, len(names))
	for _, name := range names {
		if id, ok := m.byName[name]; ok {
			if _, dup := seen[id]; !dup {
				seen[id] = struct{}{}
				out = append(out, id)
			}
		}
	}
	return out
}

func appendUnique(ids []store.NodeID, id store.NodeID) []store.NodeID {
	if slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// node returns node id's record.
func (m *netmap) node(id store.NodeID) (store.Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	return n, ok
}

// selfLocked is n as its own map describes it.
func (m *netmap) selfLocked(n store.Node) wire.Node {
	w := m.wireNodeLocked(n)
	w.PrevWGKey, w.KeySwitchAt = wire.WGPublic{}, time.Time{} // for its peers only
	if m.live[n.ID] {
		w.Routes = m.routesLocked(n)
	}
	w.KeyRevoked = !n.KeyRevokedAt.IsZero()
	w.OwnerDisabled = len(n.Tags) == 0 && m.disabled[n.UserID]
	if len(n.Tags) == 0 {
		w.MFAAt = m.mfaAtLocked(m.emails[n.UserID])
		w.Requests = m.requests[n.UserID]
	}
	return w
}

// selfOf is node id as its own map describes it, without the work of its
// peers and their grants (viewOf). ok is false once the node is gone.
func (m *netmap) selfOf(id store.NodeID) (wire.Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok {
		return wire.Node{}, false
	}
	return m.selfLocked(n), true
}

// peerNamesOf lists the names of node id's live peers, as its map has
// them, without computing what it may reach on each (the admin listing
// needs only the names; grants cost a filter match per peer).
func (m *netmap) peerNamesOf(id store.NodeID) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[id]
	if !ok || !m.live[id] {
		return nil
	}
	res, err := m.comp.Result(n.Name)
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range res.Peers {
		if pid, ok := m.byName[name]; ok && m.live[pid] {
			out = append(out, name)
		}
	}
	return out
}

// forgetFiltersLocked drops the cached filters of ids.
func (m *netmap) forgetFiltersLocked(ids []store.NodeID) {
	m.gen++ // see netmap.gen
	for _, id := range ids {
		delete(m.filters, id)
	}
}

// addrsOf lists n's valid overlay addresses.
func addrsOf(n store.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

func (m *netmap) wireNodeLocked(n store.Node) wire.Node {
	w := wire.Node{ID: wire.NodeID(n.ID), Name: n.Name, FQDN: dnsname.FQDN(n.Name, m.domain), IPv4: n.IPv4, IPv6: n.IPv6,
		WGKey: wire.WGPublic(n.WGKey), KeyExpiry: n.KeyExpiry, Endpoints: n.Endpoints,
		Tags: n.Tags, Online: m.online[n.ID], ExposedPorts: n.ExposedPorts, HomeRelay: n.HomeRelay}
	if len(n.Tags) == 0 {
		w.User = m.emails[n.UserID]
	}
	if m.comp != nil {
		w.MFAWithinMillis = m.comp.MFAWindow(n.Name).Milliseconds()
	}
	w.PrevWGKey, w.KeySwitchAt = keySwitchOf(n, time.Now())
	return w
}

// keySwitchOf returns the key n's peers keep until n switches to its
// rotated key, and when it switches (wire.Node.KeySwitchAt), while that
// lies ahead of now; zeros otherwise, and always for a revoked or lapsed
// node: a revocation cuts the old key at once, never at a switch time.
func keySwitchOf(n store.Node, now time.Time) (wire.WGPublic, time.Time) {
	if n.PrevWGKey.IsZero() || n.PrevWGKey == n.WGKey || !now.Before(n.PrevWGKeyUntil) ||
		!n.KeyRevokedAt.IsZero() || expired(n, now) {
		return wire.WGPublic{}, time.Time{}
	}
	return wire.WGPublic(n.PrevWGKey), n.PrevWGKeyUntil
}

// nodeByAddr finds the node with overlay address a.
func (m *netmap) nodeByAddr(a netip.Addr) (wire.Node, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range m.nodes {
		if n.IPv4 == a || n.IPv6 == a {
			return m.wireNodeLocked(n), true
		}
	}
	return wire.Node{}, false
}

// groupsOf returns the IdP groups of user id, as the policy names them
// ("group:ops"), sorted.
func (m *netmap) groupsOf(id store.UserID) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	email, ok := m.emails[id]
	if !ok {
		return nil
	}
	var out []string
	for g, members := range m.groups {
		if slices.Contains(members, email) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

// emailOf returns user id's email.
func (m *netmap) emailOf(id store.UserID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.emails[id]
}

// ids returns the set of every node's id.
func (m *netmap) ids() map[store.NodeID]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make(map[store.NodeID]bool, len(m.nodes))
	for id := range m.nodes {
		ids[id] = true
	}
	return ids
}
