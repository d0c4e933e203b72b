package coordinator

import (
	"github.com/wardnet/ward/acl"
)

// impact compares the running policy with rs on the live inventory.
func (m *netmap) impact(rs *acl.Ruleset) (acl.Impact, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv := acl.Inventory{}
	for id := range m.live {
		inv.Nodes = append(inv.Nodes, m.aclNodeLocked(m.nodes[id]))
	}
	next, err := acl.Compile(rs, inv)
	if err != nil {
		return acl.Impact{}, err
	}
	return acl.ImpactOf(m.comp, next)
}

// access lists the grants toward node name under the running policy.
func (m *netmap) access(name string) ([]acl.Access, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[name]
	if !ok || !m.live[id] {
		return []acl.Access{}, nil
	}
	return acl.AccessTo(m.comp, name)
}
