package coordinator

import (
	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/web"
)

// impact compares the running policy with rs on the live inventory.
func (m *netmap) impact(rs *acl.Ruleset) (web.Impact, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	inv := acl.Inventory{}
	for id := range m.live {
		inv.Nodes = append(inv.Nodes, m.aclNodeLocked(m.nodes[id]))
	}
	next, err := acl.Compile(rs, inv)
	if err != nil {
		return web.Impact{}, err
	}
	return web.ImpactOf(m.comp, next)
}

// access lists the grants toward node name under the running policy.
func (m *netmap) access(name string) ([]web.Grant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[name]
	if !ok || !m.live[id] {
		return []web.Grant{}, nil
	}
	return web.NodeGrants(m.comp, name)
}
