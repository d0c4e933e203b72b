package acl

import (
	"fmt"
	"slices"
)

// AddNode adds n to the compiled fleet without recompiling the others, and
// returns the names of every node whose result (peers or filter) changed,
// n included, sorted.
func (c *Compiled) AddNode(n Node) ([]string, error) {
	ns, err := c.insert(n)
	if err != nil {
		return nil, err
	}
	c.order.insert(c.nodes, ns.idx)
	for ri, cr := range c.rules {
		for _, a := range cr.src {
			if c.matches(a, ns) {
				cr.srcNodes.set(ns.idx)
				ns.involve(ri)
				if a.isIdentity() && a.kind != kindAny && !cr.srcIdent.has(ns.idx) {
					cr.srcIdent.set(ns.idx)
					addSource(cr, ns)
				}
			}
		}
		for i, e := range cr.dst {
			if c.dstMatches(cr.rule, e.alias, ns) {
				cr.dstNodes[i].set(ns.idx)
				cr.dstUnion.set(ns.idx)
				ns.involve(ri)
			}
		}
		if cr.self && ns.isMember() {
			ns.involve(ri)
		}
	}
	return c.names(c.affected(ns)), nil
}

// RemoveNode removes the node named name and returns the names of the
// remaining nodes whose result changed, sorted.
func (c *Compiled) RemoveNode(name string) ([]string, error) {
	i, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	ns := c.nodes[i]
	changed := c.affected(ns)
	changed.clear(i)
	for _, ri := range ns.rules { // the only rules whose sets hold ns
		cr := c.rules[ri]
		if cr.srcIdent.has(i) {
			c.removeSource(cr, ns)
		}
		cr.srcNodes.clear(i)
		cr.srcIdent.clear(i)
		cr.dstUnion.clear(i)
		for _, d := range cr.dstNodes {
			d.clear(i)
		}
	}
	if b := c.userNodes[ns.User]; b != nil {
		b.clear(i)
	}
	c.order.remove(i)
	delete(c.byName, name)
	c.nodes[i] = nil
	c.free = append(c.free, i)
	return c.names(changed), nil
}

// UpdateNode replaces the node of the same name (new tags, owner, addresses
// or routes) and returns every node whose result may have changed.
func (c *Compiled) UpdateNode(n Node) ([]string, error) {
	old, ok := c.byName[n.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, n.Name)
	}
	prev := c.nodes[old].Node
	before, err := c.RemoveNode(n.Name)
	if err != nil {
		return nil, err
	}
	after, err := c.AddNode(n)
	if err != nil {
		// Restore the previous node: the update is refused whole.
		if _, rerr := c.AddNode(prev); rerr != nil {
			return nil, fmt.Errorf("update node %s: %w (restore: %v)", n.Name, err, rerr)
		}
		return nil, fmt.Errorf("update node %s: %w", n.Name, err)
	}
	out := append(before, after...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// affected returns ns and every node whose peers or filter depend on ns.
func (c *Compiled) affected(ns *nodeState) bitset {
	var out bitset
	out.set(ns.idx)
	for _, ri := range ns.rules {
		cr := c.rules[ri]
		if cr.srcNodes.has(ns.idx) {
			out.or(cr.dstUnion)
		}
		if cr.dstUnion.has(ns.idx) {
			out.or(cr.srcNodes)
		}
		if cr.self && !ns.tagged && ns.User != "" {
			if own := c.userNodes[ns.User]; own != nil {
				out.or(*own)
			}
		}
	}
	return out
}

func (c *Compiled) names(b bitset) []string {
	out := c.order.namesOf(b)
	if len(out) == 0 {
		return nil
	}
	return out
}
