package acl

import (
	"encoding/binary"
	"fmt"
)

// PeerClass returns a key of what the peers of the node named name depend
// on: for each rule that involves the node and may make peers, whether the
// node is among its destinations and its sources, and the node's owner
// where an autogroup:self rule applies to it. Nodes with equal keys under
// one compilation have the same peers, each leaving itself out:
// ClassPeers. The key is valid until c changes.
func (c *Compiled) PeerClass(name string) (string, error) {
	i, ok := c.byName[name]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	n := c.nodes[i]
	b := make([]byte, 0, 4*len(n.rules)+len(n.User)+1)
	self := false
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.deny {
			continue // deny rules make no peers (peerSet)
		}
		var flags byte
		if cr.dstUnion.has(n.idx) {
			flags |= 1
		}
		if cr.srcNodes.has(n.idx) {
			flags |= 2
		}
		if cr.self && n.isMember() {
			flags |= 4
			self = true
		}
		if flags == 0 {
			continue
		}
		b = binary.AppendUvarint(b, uint64(ri))
		b = append(b, flags)
	}
	if self {
		// selfSources: the owner's nodes among the rule's sources.
		b = append(b, 0xff)
		b = append(b, n.User...)
	}
	return string(b), nil
}

// ClassPeers lists, sorted, the peers of the class of the node named name
// (PeerClass): its peers and, when the class's rules make it one of its
// own, the node itself. A node's peers are its class's peers less itself.
func (c *Compiled) ClassPeers(name string) ([]string, error) {
	i, ok := c.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNode, name)
	}
	n := c.nodes[i]
	s := c.peerSet(n)
	if c.peerSetHolds(n) {
		s.set(n.idx)
	}
	return c.order.namesOf(s), nil
}

// peerSetHolds reports whether n's class's peer set, before peerSet
// leaves n out, holds n.
func (c *Compiled) peerSetHolds(n *nodeState) bool {
	for _, ri := range n.rules {
		cr := c.rules[ri]
		if cr.deny {
			continue
		}
		if cr.dstUnion.has(n.idx) && cr.srcNodes.has(n.idx) {
			return true
		}
		if s := c.selfSources(cr, n); s.has(n.idx) {
			return true
		}
	}
	return false
}
