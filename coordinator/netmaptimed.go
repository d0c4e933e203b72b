package coordinator

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// liveTimed returns the accesses of ts that have not ended at now.
func liveTimed(ts []acl.TimedAccess, now time.Time) []acl.TimedAccess {
	return slices.DeleteFunc(slices.Clone(ts), func(t acl.TimedAccess) bool { return !now.Before(t.Expires) })
}

// setTimed replaces the approved accesses and, when that adds or ends
// one, recompiles. It returns the nodes whose maps the change touches:
// the nodes of the people and the devices of the accesses added or ended
// (see timedNodesLocked); none when nothing changed.
func (m *netmap) setTimed(ts []acl.TimedAccess, now time.Time) ([]store.NodeID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	live := liveTimed(ts, now)
	changed := timedDiff(m.timed, live)
	m.timed = live
	if len(changed) == 0 {
		return nil, nil
	}
	return m.timedNodesLocked(changed), m.recompileLocked(m.rs, now)
}

// expireTimed drops the accesses that ended by now, recompiling when one
// did, and returns the nodes whose maps that touches.
func (m *netmap) expireTimed(now time.Time) ([]store.NodeID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := liveTimed(m.timed, now)
	if len(live) == len(m.timed) {
		return nil, nil
	}
	m.gen++ // see netmap.gen
	ended := timedDiff(m.timed, live)
	m.timed = live
	return m.timedNodesLocked(ended), m.recompileLocked(m.rs, now)
}

// timedKey identifies a timed access, to compare two sets of them.
func timedKey(t acl.TimedAccess) string {
	return fmt.Sprint(t.User, t.Addrs, t.Proto, t.Port, t.Expires.UnixNano())
}

// timedDiff returns the accesses in one of a and b but not both.
func timedDiff(a, b []acl.TimedAccess) []acl.TimedAccess {
	count := map[string]int{}
	for _, t := range a {
		count[timedKey(t)]++
	}
	for _, t := range b {
		count[timedKey(t)]--
	}
	var out []acl.TimedAccess
	for _, t := range slices.Concat(a, b) {
		if k := timedKey(t); count[k] != 0 {
			out = append(out, t)
			count[k] = 0
		}
	}
	return out
}

// timedNodesLocked lists the nodes an access of ts reaches into: every
// node of the person (an access is a rule from their nodes) and the
// device (whose filter carries the rule). No other node's map changes:
// the rule names no one else.
func (m *netmap) timedNodesLocked(ts []acl.TimedAccess) []store.NodeID {
	users := map[string]bool{}
	addrs := map[netip.Addr]bool{}
	for _, t := range ts {
		users[t.User] = true
		for _, a := range t.Addrs {
			addrs[a] = true
		}
	}
	var out []store.NodeID
	for id, n := range m.nodes {
		if len(n.Tags) == 0 && users[m.emails[n.UserID]] || addrs[n.IPv4] || addrs[n.IPv6] {
			out = append(out, id)
		}
	}
	return out
}

// setRequests makes by each person's requests as their nodes' Self
// carries them (wire.Node.Requests) and returns the nodes of the people
// whose requests changed.
func (m *netmap) setRequests(by map[store.UserID][]wire.AccessRequest) []store.NodeID {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++ // see netmap.gen
	changed := map[store.UserID]bool{}
	for uid, rs := range by {
		if !reflect.DeepEqual(m.requests[uid], rs) {
			changed[uid] = true
		}
	}
	for uid := range m.requests {
		if _, ok := by[uid]; !ok {
			changed[uid] = true
		}
	}
	m.requests = by
	var out []store.NodeID
	for id, n := range m.nodes {
		if len(n.Tags) == 0 && changed[n.UserID] {
			out = append(out, id)
		}
	}
	return out
}

// aclNode converts a node record for the policy, as the compiler sees it.
func (m *netmap) aclNode(n store.Node) acl.Node {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.aclNodeLocked(n)
}

// riskKeyLifetime is the shortest keyLifetime of the risk classes the
// person email may reach under the running policy; 0: none applies.
func (m *netmap) riskKeyLifetime(email string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.comp.KeyLifetimeFor(email)
}
