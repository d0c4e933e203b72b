package sim

import "github.com/wardnet/ward/wire"

// maxBitID bounds the node ids a peerSet keeps as bits: 4M ids, at most
// 512 KB a set. A coordinator hands out small ids, one after the other
// (the store's row ids); any other id goes to the set's map.
const maxBitID = 1 << 22

// peerSet is the set of a simulated node's peers. The sim keeps one per
// node and nothing else of a map: a bitmap by node id costs a sensor of a
// 50,000-node fleet 6 KB for its 1,000 gateways, where a Go map of its ids
// took 18 KB, and a gateway 6 KB for its 36,750 sensors, where the map
// took 590 KB (1.9 GB for the fleet's sets, which grow with the square of
// the fleet). The zero value is empty; it is not safe for concurrent use
// (simNode.mu guards it).
type peerSet struct {
	bits []uint64
	// other holds ids outside [0, maxBitID); nil until one comes.
	other map[wire.NodeID]struct{}
	// n is the number of ids in the set.
	n int
}

// add puts id in the set.
func (s *peerSet) add(id wire.NodeID) {
	if id < 0 || id >= maxBitID {
		if s.other == nil {
			s.other = map[wire.NodeID]struct{}{}
		}
		if _, ok := s.other[id]; !ok {
			s.other[id] = struct{}{}
			s.n++
		}
		return
	}
	w, m := int(id>>6), uint64(1)<<(id&63)
	if w >= len(s.bits) {
		s.bits = append(s.bits, make([]uint64, w+1-len(s.bits))...)
	}
	if s.bits[w]&m == 0 {
		s.bits[w] |= m
		s.n++
	}
}

// remove takes id out of the set.
func (s *peerSet) remove(id wire.NodeID) {
	if id < 0 || id >= maxBitID {
		if _, ok := s.other[id]; ok {
			delete(s.other, id)
			s.n--
		}
		return
	}
	w, m := int(id>>6), uint64(1)<<(id&63)
	if w < len(s.bits) && s.bits[w]&m != 0 {
		s.bits[w] &^= m
		s.n--
	}
}

// has reports whether id is in the set.
func (s *peerSet) has(id wire.NodeID) bool {
	if id < 0 || id >= maxBitID {
		_, ok := s.other[id]
		return ok
	}
	w := int(id >> 6)
	return w < len(s.bits) && s.bits[w]&(uint64(1)<<(id&63)) != 0
}

// len is the number of ids in the set.
func (s *peerSet) len() int { return s.n }

// reset empties the set, keeping its bitmap's memory for the ids to come.
func (s *peerSet) reset() {
	clear(s.bits)
	s.other, s.n = nil, 0
}
