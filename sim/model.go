package sim

import (
	"fmt"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/wire"
)

// model is the sim's own compilation of the policy against the nodes it
// registered: what every node's peers must be.
type model struct {
	comp   *acl.Compiled
	byName map[string]wire.NodeID
}

// compileModel compiles policy text against nodes.
func compileModel(text string, nodes []*simNode) (*model, error) {
	p, err := acl.Parse("policy", []byte(text))
	if err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	rs, err := acl.Resolve(p, acl.Options{})
	if err != nil {
		return nil, fmt.Errorf("resolve policy: %w", err)
	}
	m := &model{byName: map[string]wire.NodeID{}}
	var inv acl.Inventory
	for _, n := range nodes {
		inv.Nodes = append(inv.Nodes, aclNode(n.self))
		m.byName[n.self.Name] = n.self.ID
	}
	if m.comp, err = acl.Compile(rs, inv); err != nil {
		return nil, fmt.Errorf("compile policy: %w", err)
	}
	return m, nil
}

func aclNode(w wire.Node) acl.Node {
	return acl.Node{Name: w.Name, IPv4: w.IPv4, IPv6: w.IPv6, Tags: w.Tags}
}

// add adds a node that joined.
func (m *model) add(w wire.Node) error {
	if _, err := m.comp.AddNode(aclNode(w)); err != nil {
		return fmt.Errorf("add %s to the model: %w", w.Name, err)
	}
	m.byName[w.Name] = w.ID
	return nil
}

// peersOf is the set of peers node w must hold.
func (m *model) peersOf(w wire.Node) (map[wire.NodeID]bool, error) {
	res, err := m.comp.Result(w.Name)
	if err != nil {
		return nil, err
	}
	out := make(map[wire.NodeID]bool, len(res.Peers))
	for _, name := range res.Peers {
		out[m.byName[name]] = true
	}
	return out, nil
}

// touchedBy returns the nodes whose map differs between m and next: their
// peers or filter changed, or a peer's filter did (their grants toward it
// may have).
func touchedBy(m, next *model, nodes []*simNode) (map[wire.NodeID]bool, error) {
	before, after := m.comp.All(), next.comp.All()
	filterChanged := map[string]bool{}
	out := map[wire.NodeID]bool{}
	for _, n := range nodes {
		b, a := before[n.self.Name], after[n.self.Name]
		if fmt.Sprint(b.Filter) != fmt.Sprint(a.Filter) {
			filterChanged[n.self.Name] = true
		}
		if fmt.Sprint(b.Peers) != fmt.Sprint(a.Peers) || filterChanged[n.self.Name] {
			out[n.self.ID] = true
		}
	}
	for _, n := range nodes {
		for _, p := range after[n.self.Name].Peers {
			if filterChanged[p] {
				out[n.self.ID] = true
				break
			}
		}
	}
	return out, nil
}
