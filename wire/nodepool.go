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
// of its 41 CPU-s on the first write into fresh lists (most likely the
// page faults that filled them) and 3 more clearing them.

// minPooledNodes is the shortest list worth pooling: shorter ones (a
// join's delta of one peer) are cheap to make.
const minPooledNodes = 64

// maxPooledNodes bounds the lists kept: more records than a message may
// hold (MaxMapMessage at minPeerRecord bytes each) are never decoded.
const maxPooledNodes = 1 << 20

// nodeLists pools released lists by capacity: nodeListClass's.
//
// Reason for classes of exact capacities: lists of any capacity kept by
// the bit length of it gave the next decoding a list too short as often
// as not (a fleet's maps grow a record at a time as it registers), which
// went back to the pool while a new one was made; the pool grew with
// every release until the collector emptied it, 2.3 GB of the simulator's
// live heap at 50,000 nodes.
var nodeLists [4 * 64]sync.Pool

// nodeListCap is the capacity a list of n records is made with: n
// rounded up to a quarter of its power of two (at most 25 % more), so
// that every list of a class fits every length the class serves.
func nodeListCap(n int) int {
	k := bits.Len(uint(n))
	if k <= 3 {
		return n
	}
	step := 1<<(k-3) - 1
	return (n + step) &^ step
}

// nodeListClass is the pool of lists of capacity c, which must be a
// nodeListCap, and whether it is one.
func nodeListClass(c int) (int, bool) {
	k := bits.Len(uint(c))
	if k <= 3 || c&(1<<(k-3)-1) != 0 {
		return 0, false
	}
	// c's top three bits are 100, 101, 110 or 111.
	return 4*k + c>>(k-3) - 4, true
}

// makeNodes returns a zeroed list of n records, a released one when one
// fits.
func makeNodes(n int) []Node {
	if n < minPooledNodes || n > maxPooledNodes {
		return make([]Node, n)
	}
	c := nodeListCap(n)
	i, _ := nodeListClass(c)
	if p, _ := nodeLists[i].Get().(*[]Node); p != nil {
		return (*p)[:n]
	}
	return make([]Node, n, c)
}

// releaseNodes clears s and keeps it for makeNodes, if its capacity is
// one makeNodes makes.
func releaseNodes(s []Node) {
	c := cap(s)
	if c < minPooledNodes || c > nodeListCap(maxPooledNodes) {
		return
	}
	i, ok := nodeListClass(c)
	if !ok {
		return
	}
	s = s[:c]
	// Cleared now, so that a kept list holds none of the records'
	// strings and lists alive, and makeNodes hands it out zeroed.
	clear(s)
	nodeLists[i].Put(&s)
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
