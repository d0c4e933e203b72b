package coordinator

import (
	"cmp"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

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
	// base is set when sorted may be held by other sets too (a shared
	// set's, or one interned by merge): it is never changed in place, and
	// the holder's changes to its entries go to changed and removed.
	base bool
	// changed holds new values of entries of a base sorted slice, removed
	// the entries of it the holder no longer has (both nil without base).
	changed map[wire.NodeID]sentPeer
	removed map[wire.NodeID]struct{}
	// line is the lineage of the view class the set came from (nil: none):
	// a merge takes its latest base when the set is near it (rebase);
	// waits counts the merges put off since the last because it was not
	// (see merge).
	line  *lineage
	waits uint8
	// sum is the set's content key (setSum): kept as entries change,
	// whatever their form (base and maps, merged or not).
	sum setSum
}

// setSum is a content key of a set of peers: per lane, the sum of a
// keyed hash of each entry (id and sentPeer), so that sets with the same
// entries have the same key however they were made, and the key follows
// each change in O(1) (add an entry's hash, subtract it).
//
// Reason: a whole map's diff and a policy change's removals are made
// once per held set and shared by the nodes of a class that hold it
// (viewClass.diffs, peerClass.absent); keyed by a shared set's number,
// only nodes that still held their class's shared set shared them, and
// after a registration every sensor held the same gateways as a set of
// its own (the same base, joins in its maps), so each of 36,750 sensors
// and 1,000 gateways made its diff and its removals itself.
//
// Two lanes of 64 bits, the hash keyed by a seed made at start: two
// different sets of a class get the same key with a chance of about
// 2^-128, which no node can steer (ids and versions are the
// coordinator's, the seed unknown).
type setSum struct{ a, b uint64 }

// sumSeed keys setSum's hash.
var sumSeed = maphash.MakeSeed()

// sumLaneB makes setSum's second lane from the first hash (a 64-bit
// finalizer, murmur3's, of the hash xor a key).
var sumLaneB = maphash.Comparable(sumSeed, "setSum lane b")

// entrySum is the hash pair of one entry.
func entrySum(id wire.NodeID, p sentPeer) setSum {
	h := maphash.Comparable(sumSeed, sentEntry{id: id, sentPeer: p})
	x := h ^ sumLaneB
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return setSum{a: h, b: x}
}

func (s *setSum) add(x setSum) { s.a += x.a; s.b += x.b }
func (s *setSum) sub(x setSum) { s.a -= x.a; s.b -= x.b }

// heldKey names a set's content: its sum and its size.
type heldKey struct {
	sum setSum
	n   int
}

// key returns s's content key.
func (s *sentPeers) key() heldKey { return heldKey{sum: s.sum, n: s.len()} }

// resum sets s.sum from its entries (a set made whole).
func (s *sentPeers) resum() {
	s.sum = setSum{}
	for _, e := range s.sorted {
		if _, gone := s.removed[e.id]; gone {
			continue
		}
		p := e.sentPeer
		if c, ok := s.changed[e.id]; ok {
			p = c
		}
		s.sum.add(entrySum(e.id, p))
	}
	for id, p := range s.added {
		s.sum.add(entrySum(id, p))
	}
}

// sharedSets numbers the shared sets.
var sharedSets atomic.Uint64

// share makes s a shared set with a number of its own: never changed
// after, copied by the first change of whoever holds it.
func (s *sentPeers) share() {
	s.merge()
	s.shared = sharedSets.Add(1)
	s.sorted, s.base = internEntries(s.sorted), true
}

// own makes s the holder's own before a change. A shared set's sorted
// slice is not copied: it stays the base, and the holder's changes go to
// the maps beside it (changed, removed, added) until the next merge.
//
// Reason: a join adds a peer to every stream of the class it joins; with
// a copy on the first change, every gateway of a 50,000-node fleet copied
// its 36,750-entry set (880 KB) at the first join after a policy change,
// and every sensor its gateways at the first gateway's join.
func (s *sentPeers) own() {
	if s.shared == 0 {
		return
	}
	s.shared = 0
	s.base = true
	s.added, s.changed, s.removed = maps.Clone(s.added), maps.Clone(s.changed), maps.Clone(s.removed)
}

// all returns every entry sorted by id: the sorted slice itself (not to
// be changed) when nothing was added, changed or removed since the last
// merge.
func (s *sentPeers) all() []sentEntry {
	if len(s.added) == 0 && len(s.changed) == 0 && len(s.removed) == 0 {
		return s.sorted
	}
	out := make([]sentEntry, 0, len(s.sorted)+len(s.added)-len(s.removed))
	for _, e := range s.sorted {
		if _, gone := s.removed[e.id]; gone {
			continue
		}
		if p, ok := s.changed[e.id]; ok {
			e.sentPeer = p
		}
		out = append(out, e)
	}
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

// mergeFloor, when not 0, stands for minMerge in mergeDue (tests: merges
// and rebases in fleets of a few nodes); rebases counts the rebases made
// (tests: that the path ran).
var mergeFloor, rebases atomic.Int64

// find returns the index of id in s.sorted and whether it is there (in
// the slice: it may be removed over a base).
func (s *sentPeers) find(id wire.NodeID) (int, bool) {
	return slices.BinarySearchFunc(s.sorted, id, func(e sentEntry, id wire.NodeID) int { return cmp.Compare(e.id, id) })
}

// get returns peer id as sent.
func (s *sentPeers) get(id wire.NodeID) (sentPeer, bool) {
	if i, ok := s.find(id); ok {
		if _, gone := s.removed[id]; gone {
			return sentPeer{}, false
		}
		if p, ok := s.changed[id]; ok {
			return p, true
		}
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
	was, had := s.get(id)
	if had && was == p {
		return // as held: a shared set stays shared
	}
	if had {
		s.sum.sub(entrySum(id, was))
	}
	s.sum.add(entrySum(id, p))
	s.own()
	switch i, ok := s.find(id); {
	case ok && !s.base:
		s.sorted[i].sentPeer = p
		return
	case ok:
		delete(s.removed, id)
		if s.sorted[i].sentPeer == p {
			delete(s.changed, id)
		} else {
			if s.changed == nil {
				s.changed = map[wire.NodeID]sentPeer{}
			}
			s.changed[id] = p
		}
	default:
		if s.added == nil {
			s.added = map[wire.NodeID]sentPeer{}
		}
		s.added[id] = p
	}
	s.mergeIfDue()
}

// remove forgets peer id and reports whether the node held it.
func (s *sentPeers) remove(id wire.NodeID) bool {
	was, had := s.get(id)
	if !had {
		return false
	}
	s.sum.sub(entrySum(id, was))
	s.own()
	if _, ok := s.added[id]; ok {
		delete(s.added, id)
		return true
	}
	i, _ := s.find(id)
	if !s.base {
		s.sorted = slices.Delete(s.sorted, i, i+1)
		return true
	}
	delete(s.changed, id)
	if s.removed == nil {
		s.removed = map[wire.NodeID]struct{}{}
	}
	s.removed[id] = struct{}{}
	s.mergeIfDue()
	return true
}

// removeAll forgets the peers ids (sorted by id) and returns those the
// node held, sorted. Many go in one pass that makes the set a new base;
// a few go one by one (remove).
//
// Reason: a policy change that takes access away removes thousands of
// peers from a node at once (at 50,000 nodes of the default shape, the
// change back takes each gateway's 12,250 cameras), and one by one each
// removal went to the maps beside the base, merged every few hundred: a
// tenth of the coordinator's CPU in that change.
func (s *sentPeers) removeAll(ids []wire.NodeID) []wire.NodeID {
	if len(ids) < mergeDue(s.len(), s.line != nil) {
		var gone []wire.NodeID
		for _, id := range ids {
			if s.remove(id) {
				gone = append(gone, id)
			}
		}
		return gone
	}
	all := s.all()
	out := make([]sentEntry, 0, len(all))
	var gone []wire.NodeID
	j := 0
	for _, e := range all {
		for j < len(ids) && ids[j] < e.id {
			j++
		}
		if j < len(ids) && ids[j] == e.id {
			gone = append(gone, e.id)
			s.sum.sub(entrySum(e.id, e.sentPeer))
			j++
			continue
		}
		out = append(out, e)
	}
	if len(gone) == 0 {
		return nil
	}
	s.shared = 0
	s.sorted, s.added, s.changed, s.removed = internEntries(out), nil, nil, nil
	s.base, s.waits = true, 0
	return gone
}

// compactBy makes s one base with nothing beside it, its content the
// same: the slice canon holds for s's content key, or s's entries merged
// and interned (then kept in canon for the sets after). It reports
// whether s changed; a shared set, or one without entries beside its
// base, is left as it is.
func (s *sentPeers) compactBy(canon map[heldKey][]sentEntry) bool {
	if s.shared != 0 || len(s.added)+len(s.changed)+len(s.removed) == 0 {
		return false
	}
	k := s.key()
	e, ok := canon[k]
	if !ok {
		e = internEntries(s.all())
		canon[k] = e
	}
	s.sorted, s.added, s.changed, s.removed = e, nil, nil, nil
	s.base, s.waits = true, 0
	return true
}

// len is how many peers the node holds.
func (s *sentPeers) len() int { return len(s.sorted) - len(s.removed) + len(s.added) }

// ids calls f with each peer's id.
func (s *sentPeers) ids(f func(wire.NodeID)) {
	for _, e := range s.sorted {
		if _, gone := s.removed[e.id]; !gone {
			f(e.id)
		}
	}
	for id := range s.added {
		f(id)
	}
}

// mergeIfDue merges the maps beside the sorted slice once they hold
// mergeDue entries (amortized: each entry is copied or compared a bounded
// number of times over its life, not once per change).
func (s *sentPeers) mergeIfDue() {
	if len(s.added)+len(s.changed)+len(s.removed) >= mergeDue(len(s.sorted), s.line != nil)*(1+int(s.waits)) {
		s.merge()
	}
}

// maxMergeWaits is how many times a set in a lineage too far from its
// latest to rebase waits (a merge's worth of changes more each time)
// before it merges a slice of its own.
const maxMergeWaits = 3

// mergeDue is how many entries the maps beside a base of n entries hold
// before a merge: an eighth as many, a 32nd in a lineage, whose merges
// are mostly rebases (a pass, no copy) and whose maps are each stream's
// own while the base is everyone's.
func mergeDue(n int, lined bool) int {
	floor := minMerge
	if f := mergeFloor.Load(); f > 0 {
		floor = int(f)
	}
	if lined {
		return max(floor, n/32)
	}
	return max(floor, n/8)
}

// merge moves the maps' entries into a new base: the latest base of
// the set's lineage when the set differs from it in few entries (then
// those stay in the maps, rebase), else a new sorted slice of its exact
// size, interned (internEntries: streams whose sets came to the same
// entries hold one slice), which becomes the lineage's latest when the
// set was on the latest before. The slice is then a base, never changed
// in place.
func (s *sentPeers) merge() {
	if len(s.added) == 0 && len(s.changed) == 0 && len(s.removed) == 0 {
		return
	}
	// lead: the set's base is the lineage's latest (or it has none), so
	// its merge is the lineage's next base.
	lead := s.line != nil
	if s.line != nil {
		l := s.line.get()
		onLatest := len(l) > 0 && len(s.sorted) > 0 && &l[0] == &s.sorted[0]
		if len(l) > 0 && !onLatest {
			if s.rebase(l, mergeDue(len(l), true)/2) {
				s.waits = 0
				return
			}
			if s.waits < maxMergeWaits {
				// Too far from the latest: most likely the stream lags
				// (paced, waiting for its turn) and catches up with the
				// next messages. A slice of its own would cost the whole
				// set, the maps a few entries more: try again later.
				s.waits++
				return
			}
		}
		lead = len(l) == 0 || onLatest
	}
	s.sorted, s.added, s.changed, s.removed = internEntries(s.all()), nil, nil, nil
	s.base, s.waits = true, 0
	if lead {
		// Not a set too far from the latest to rebase on it (one whose
		// stream lags): the others would be as far from its merge.
		s.line.put(s.sorted)
	}
}

// rebase makes l (a base, sorted, never changed) s's base when what s
// holds differs from it in at most limit entries, those in the maps
// beside it; it reports whether it did. One pass over both.
//
// Reason: every gateway of a fleet holds the same sensors, and each
// merged its own set at its own moment (a message's peers come in a
// map's order, messages coalesce differently per stream), so no two
// merges made the same slice and interning shared none: at 50,000 nodes
// the 1,000 gateways held 1,000 sets of 36,750 entries (880 KB each).
// With the lineage's latest as their base, they hold one.
func (s *sentPeers) rebase(l []sentEntry, limit int) bool {
	add := make([]sentEntry, 0, len(s.added))
	for id, p := range s.added {
		add = append(add, sentEntry{id: id, sentPeer: p})
	}
	slices.SortFunc(add, func(a, b sentEntry) int { return cmp.Compare(a.id, b.id) })
	var (
		added, changed map[wire.NodeID]sentPeer
		removed        map[wire.NodeID]struct{}
		n              int
	)
	i, j, k := 0, 0, 0
	for {
		// The next entry s holds: its base's (less the removed, with the
		// changes) or an added one (never in the base).
		for i < len(s.sorted) {
			if _, gone := s.removed[s.sorted[i].id]; !gone {
				break
			}
			i++
		}
		var c sentEntry
		fromBase, has := false, true
		switch {
		case i < len(s.sorted) && (j == len(add) || s.sorted[i].id < add[j].id):
			c, fromBase = s.sorted[i], true
			if p, ok := s.changed[c.id]; ok {
				c.sentPeer = p
			}
		case j < len(add):
			c = add[j]
		default:
			has = false
		}
		if !has && k == len(l) {
			break
		}
		next := func() { // c is consumed
			if fromBase {
				i++
			} else {
				j++
			}
		}
		switch {
		case has && (k == len(l) || c.id < l[k].id):
			if added == nil {
				added = map[wire.NodeID]sentPeer{}
			}
			added[c.id] = c.sentPeer
			n++
			next()
		case !has || l[k].id < c.id:
			if removed == nil {
				removed = map[wire.NodeID]struct{}{}
			}
			removed[l[k].id] = struct{}{}
			n++
			k++
		default:
			if c.sentPeer != l[k].sentPeer {
				if changed == nil {
					changed = map[wire.NodeID]sentPeer{}
				}
				changed[c.id] = c.sentPeer
				n++
			}
			next()
			k++
		}
		if n > limit {
			return false
		}
	}
	s.sorted, s.base = l, true
	s.added, s.changed, s.removed = added, changed, removed
	rebases.Add(1)
	return true
}

// clone copies s (a shared set is not copied: it never changes, nor is a
// base slice).
func (s *sentPeers) clone() sentPeers {
	if s.shared != 0 {
		return *s
	}
	c := sentPeers{sorted: s.sorted, base: s.base, added: maps.Clone(s.added), changed: maps.Clone(s.changed), removed: maps.Clone(s.removed), line: s.line, waits: s.waits, sum: s.sum}
	if !s.base {
		c.sorted = slices.Clone(s.sorted)
	}
	return c
}

// internEntries returns a slice with the entries of e, e itself or an
// equal one made before and still held somewhere: the canonical copy.
// Neither is changed after. Entries are kept by a hash of their content
// with a weak pointer each, so the table holds no set alive.
func internEntries(e []sentEntry) []sentEntry {
	if len(e) < minIntern {
		return e
	}
	h := hashEntries(e)
	interned.mu.Lock()
	defer interned.mu.Unlock()
	if interned.sets == nil {
		interned.sets = map[uint64][]internedSet{}
	}
	bucket := interned.sets[h][:0:0]
	var found []sentEntry
	for _, is := range interned.sets[h] {
		p := is.first.Value()
		if p == nil {
			continue // collected
		}
		bucket = append(bucket, is)
		if found == nil && is.n == len(e) {
			if held := unsafe.Slice(p, is.n); slices.Equal(held, e) {
				found = held
			}
		}
	}
	if found == nil {
		bucket = append(bucket, internedSet{first: weak.Make(&e[0]), n: len(e)})
		found = e
	}
	interned.sets[h] = bucket
	interned.adds++
	if interned.adds%internSweep == 0 {
		for k, b := range interned.sets {
			live := b[:0]
			for _, is := range b {
				if is.first.Value() != nil {
					live = append(live, is)
				}
			}
			if len(live) == 0 {
				delete(interned.sets, k)
			} else {
				interned.sets[k] = live
			}
		}
	}
	return found
}

// minIntern is the smallest set interned; internSweep how many interns
// go between two sweeps of the collected sets out of the table.
const (
	minIntern   = 64
	internSweep = 4096
)

// interned is internEntries' table.
var interned struct {
	mu sync.Mutex // guards the fields below
	// sets holds, by hashEntries, the sets interned and maybe still held.
	sets map[uint64][]internedSet
	adds int
}

// internedSet is a set of interned: a weak pointer to its first entry
// and its length (the slice is unsafe.Slice of the two while held).
type internedSet struct {
	first weak.Pointer[sentEntry]
	n     int
}

// hashEntries is FNV-1a over the entries' fields, a word at a time (a
// match is compared whole).
func hashEntries(e []sentEntry) uint64 {
	h := uint64(14695981039346656037)
	for _, x := range e {
		for _, v := range [3]uint64{uint64(x.id), x.ver, uint64(x.grants)<<32 | uint64(x.routes)} {
			h = (h ^ v) * 1099511628211
		}
	}
	return h
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
	b.out.resum()
	return b.out
}

// lineage is what the nodes of one view class have held, across the
// joins and netmap gens that remake the class (keyed by peer class and
// view signature, lineages): the base slice merged or shared last. A
// holder whose set is due for a merge takes it as its base when it
// differs from it in few entries (sentPeers.rebase), so the nodes of a
// class, each changed by the same joins in its own order and batches,
// hold one base and a few entries of their own each, not one copy each.
type lineage struct {
	mu sync.Mutex // guards latest and n
	// latest is the first entry of the latest base, n its length (the
	// slice is unsafe.Slice of the two while held): weak, so a base
	// no holder has left is collected.
	latest weak.Pointer[sentEntry]
	n      int
}

// get returns the lineage's latest base, nil when none is held.
func (l *lineage) get() []sentEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n == 0 {
		return nil
	}
	p := l.latest.Value()
	if p == nil {
		return nil
	}
	return unsafe.Slice(p, l.n)
}

// put makes e (a base: never changed after) the lineage's latest.
func (l *lineage) put(e []sentEntry) {
	if len(e) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latest, l.n = weak.Make(&e[0]), len(e)
}

// lineages holds the lineages by key (peer class and view signature).
type lineages struct {
	mu sync.Mutex // guards m
	m  map[string]*lineage
}

// maxLineages bounds the lineages kept; past it the table starts over
// (a lineage lost costs sharing, never correctness: a rebase compares
// every entry).
const maxLineages = 4096

// of returns the lineage of key, made on first use.
func (ls *lineages) of(key string) *lineage {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l, ok := ls.m[key]; ok {
		return l
	}
	if ls.m == nil || len(ls.m) >= maxLineages {
		ls.m = map[string]*lineage{}
	}
	l := &lineage{}
	ls.m[key] = l
	return l
}
