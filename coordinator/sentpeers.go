package coordinator

import (
	"cmp"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/wardnet/ward/wire"
)

// sentPeers is the peers a stream's node holds (sentState.peers), by id:
// a slice sorted by id and, for the peers added since it was last
// sorted, a small map. Every stream holds one entry per peer, so the
// fleet's streams hold as many entries as the fleet has peer pairs (at
// 50,000 nodes of the default shape, 1,000 gateways each hold 36,750
// sensors and each sensor the 1,000 gateways: 73.5 million): a map's
// entry cost about 40 bytes with its slack, a sorted entry costs 24.
// Additions go to the map until it holds an eighth of the sorted ones,
// then are merged in (amortized: each entry is copied about eight times
// over its life, not once per addition).
//
// A set may be shared (shared is not 0): the peers of a view class
// (viewClass.set), which every node of the class holds after a whole map
// unless it is among them. A shared set is never changed: the first
// change copies it (own), so the nodes of a class hold one set between
// policy changes, not one each.
type sentPeers struct {
	sorted []sentEntry
	added  map[wire.NodeID]sentPeer
	// shared names the shared set this is (sharedSets); 0: the stream's
	// own.
	shared uint64
}

// sharedSets numbers the shared sets.
var sharedSets atomic.Uint64

// share makes s a shared set with a number of its own: never changed
// after, copied by the first change of whoever holds it.
func (s *sentPeers) share() {
	s.shared = sharedSets.Add(1)
}

// own makes s the holder's own before a change: a copy of a shared set.
func (s *sentPeers) own() {
	if s.shared == 0 {
		return
	}
	*s = sentPeers{sorted: slices.Clone(s.sorted), added: maps.Clone(s.added)}
}

// all returns every entry sorted by id: the sorted slice itself (not to
// be changed) when nothing was added since the last merge.
func (s *sentPeers) all() []sentEntry {
	if len(s.added) == 0 {
		return s.sorted
	}
	out := make([]sentEntry, 0, len(s.sorted)+len(s.added))
	out = append(out, s.sorted...)
	for id, p := range s.added {
		out = append(out, sentEntry{id: id, sentPeer: p})
	}
	slices.SortFunc(out, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) })
	return out
}

// sentEntry is one peer of sentPeers.sorted.
type sentEntry struct {
	id wire.NodeID
	sentPeer
}

// minMerge is the smallest map merged into the sorted slice.
const minMerge = 64

// find returns the index of id in s.sorted and whether it is there.
func (s *sentPeers) find(id wire.NodeID) (int, bool) {
	return slices.BinarySearchFunc(s.sorted, id, func(e sentEntry, id wire.NodeID) int { return cmp.Compare(e.id, id) })
}

// get returns peer id as sent.
func (s *sentPeers) get(id wire.NodeID) (sentPeer, bool) {
	if i, ok := s.find(id); ok {
		return s.sorted[i].sentPeer, true
	}
	p, ok := s.added[id]
	return p, ok
}

// has reports whether the node holds peer id.
func (s *sentPeers) has(id wire.NodeID) bool {
	_, ok := s.get(id)
	return ok
}

// set records peer id as sent p.
func (s *sentPeers) set(id wire.NodeID, p sentPeer) {
	if i, ok := s.find(id); ok && s.sorted[i].sentPeer == p {
		return // as held: a shared set stays shared
	}
	s.own()
	if i, ok := s.find(id); ok {
		s.sorted[i].sentPeer = p
		return
	}
	if s.added == nil {
		s.added = map[wire.NodeID]sentPeer{}
	}
	s.added[id] = p
	if len(s.added) >= max(minMerge, len(s.sorted)/8) {
		s.merge()
	}
}

// remove forgets peer id and reports whether the node held it.
func (s *sentPeers) remove(id wire.NodeID) bool {
	if !s.has(id) {
		return false
	}
	s.own()
	if i, ok := s.find(id); ok {
		s.sorted = slices.Delete(s.sorted, i, i+1)
		return true
	}
	if _, ok := s.added[id]; ok {
		delete(s.added, id)
		return true
	}
	return false
}

// len is how many peers the node holds.
func (s *sentPeers) len() int { return len(s.sorted) + len(s.added) }

// ids calls f with each peer's id.
func (s *sentPeers) ids(f func(wire.NodeID)) {
	for _, e := range s.sorted {
		f(e.id)
	}
	for id := range s.added {
		f(id)
	}
}

// merge moves the added peers into the sorted slice, which it
// reallocates at its exact size.
func (s *sentPeers) merge() {
	out := make([]sentEntry, 0, len(s.sorted)+len(s.added))
	out = append(out, s.sorted...)
	for id, p := range s.added {
		out = append(out, sentEntry{id: id, sentPeer: p})
	}
	slices.SortFunc(out, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) })
	s.sorted, s.added = out, nil
}

// clone copies s (a shared set is not copied: it never changes).
func (s *sentPeers) clone() sentPeers {
	if s.shared != 0 {
		return *s
	}
	return sentPeers{sorted: slices.Clone(s.sorted), added: maps.Clone(s.added)}
}

// sentPeersBuilder makes a whole new sentPeers from peers given in any
// order, each once.
type sentPeersBuilder struct{ out sentPeers }

// newSentPeersBuilder starts a sentPeers of n peers.
func newSentPeersBuilder(n int) *sentPeersBuilder {
	return &sentPeersBuilder{out: sentPeers{sorted: make([]sentEntry, 0, n)}}
}

// add adds peer id as sent p.
func (b *sentPeersBuilder) add(id wire.NodeID, p sentPeer) {
	b.out.sorted = append(b.out.sorted, sentEntry{id: id, sentPeer: p})
}

// done sorts and returns the set (a peer added twice counts once).
func (b *sentPeersBuilder) done() sentPeers {
	slices.SortStableFunc(b.out.sorted, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) })
	b.out.sorted = slices.CompactFunc(b.out.sorted, func(a, b sentEntry) bool { return a.id == b.id })
	return b.out
}
