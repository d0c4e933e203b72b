package wire

import (
	"math/bits"
	"sync"
)

// Peer lists handed back (ReleaseMap) for the next decode to fill.
//
// Reason: a map's peer list is the largest thing its decoding allocates,
// 448 bytes a record (a gateway's share of a policy change at 50,000
// nodes is 12,250 records, 5.5 MB), and it is garbage as soon as the
// handler has copied the records it keeps. Made anew for every message,
// it was memory the collector had just freed and the runtime given back
// to the system: in a 50,000-node policy change the simulator spent 6.5
// of its 41 CPU-s on the first write into fresh lists (the page faults
// that filled them) and 3 more clearing them.

// minPooledNodes is the shortest list worth pooling: shorter ones (a
// join's delta of one peer) are cheap to make.
const minPooledNodes = 64

// maxPooledNodes bounds the lists kept: more records than a message may
// hold (MaxMapMessage at minPeerRecord bytes each) are never decoded.
const maxPooledNodes = 1 << 20

// nodeLists pools released lists, by the bit length of their capacity:
// list i holds capacities in [2^(i-1), 2^i).
var nodeLists [bits.UintSize]sync.Pool

// makeNodes returns a zeroed list of n records, a released one when one
// fits.
func makeNodes(n int) []Node {
	if n < minPooledNodes || n > maxPooledNodes {
		return make([]Node, n)
	}
	// The same sizes come back in a fleet (every camera's 1,000
	// gateways): first the class that n's own capacity falls in, whose
	// lists may be shorter, then the next, whose lists all fit.
	k := bits.Len(uint(n))
	for _, b := range [2]int{k, k + 1} {
		p, _ := nodeLists[b].Get().(*[]Node)
		if p == nil {
			continue
		}
		if s := *p; cap(s) >= n {
			return s[:n]
		}
		nodeLists[b].Put(p)
	}
	return make([]Node, n)
}

// releaseNodes clears s and keeps it for makeNodes.
func releaseNodes(s []Node) {
	c := cap(s)
	if c < minPooledNodes || c > maxPooledNodes {
		return
	}
	s = s[:c]
	// Cleared now, so that a kept list holds none of the records'
	// strings and lists alive, and makeNodes hands it out zeroed.
	clear(s)
	nodeLists[bits.Len(uint(c))].Put(&s)
}

// ReleaseMap hands m's peer lists (Peers and PeersChanged, as the
// decoders made them) back for the next message's decoding to reuse, and
// sets them to nil. The caller must hold nothing of them afterwards: no
// slice of them and no pointer into them. What the records themselves
// hold (their strings, endpoints, tags and grants) is not reused and
// stays valid, so records copied out of the lists by value may be kept.
func ReleaseMap(m *MapResponse) {
	releaseNodes(m.Peers)
	releaseNodes(m.PeersChanged)
	m.Peers, m.PeersChanged = nil, nil
}
