package sim

import (
	"fmt"
	"slices"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/filter"
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
		if !sameRules(b.Filter, a.Filter) {
			filterChanged[n.self.Name] = true
		}
		if !slices.Equal(b.Peers, a.Peers) || filterChanged[n.self.Name] {
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

// sameRules reports whether a and b are the same filter, rule by rule. It
// compares values, not their text: a gateway's filter lists every
// sensor's prefixes (73,500 at 50,000 nodes), and touchedBy, when it
// formatted both versions of every filter and peer list with fmt.Sprint,
// was 29-36 % of the simulator's CPU samples from a 10,000-node run's
// policy changes on (perf).
func sameRules(a, b []filter.Rule) bool {
	return slices.EqualFunc(a, b, func(x, y filter.Rule) bool {
		return x.Deny == y.Deny && x.Expires.Equal(y.Expires) && slices.Equal(x.Protos, y.Protos) &&
			slices.Equal(x.Src, y.Src) &&
			slices.EqualFunc(x.Dst, y.Dst, func(p, q filter.DstNet) bool { return p.Net == q.Net && slices.Equal(p.Ports, q.Ports) })
	})
}
