package coordinator

import (
	"slices"
	"time"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/coordinator/store"
)

// liveTimed returns the accesses of ts that have not ended at now.
func liveTimed(ts []acl.TimedAccess, now time.Time) []acl.TimedAccess {
	return slices.DeleteFunc(slices.Clone(ts), func(t acl.TimedAccess) bool { return !now.Before(t.Expires) })
}

// setTimed replaces the approved accesses and recompiles; every map may
// change (the caller notifies every stream).
func (m *netmap) setTimed(ts []acl.TimedAccess, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.timed = liveTimed(ts, now)
	return m.recompileLocked(m.rs, now)
}

// expireTimed drops the accesses that ended by now, recompiling when one
// did, and reports whether one did.
func (m *netmap) expireTimed(now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	live := liveTimed(m.timed, now)
	if len(live) == len(m.timed) {
		return false, nil
	}
	m.timed = live
	return true, m.recompileLocked(m.rs, now)
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
