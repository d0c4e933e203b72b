package coordinator

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// A whole map (a policy change wakes every stream for one) is made per
// class of nodes, not per node: most of a fleet sees the same peers with
// the same grants (every sensor tagged tag:sensor sees the same gateways),
// so the work and the state of a whole map are per distinct view, not per
// stream. Two levels:
//
//   - peerClass: the nodes whose peers are the same, each leaving itself
//     out (acl.Compiled.PeerClass: their place in each rule's sources and
//     destinations, and their owner where autogroup:self applies), under
//     one netmap gen. mapOf gathers its peers once, under the netmap's
//     lock, with every source list their filters (and the filters of
//     routers ahead of them) hold.
//   - viewClass: the nodes of a peer class that get the same grants and
//     routes from every peer. What a viewer gets from a peer (grants:
//     filter.ReachRules; routes and route names: viewerRoutes,
//     viewerHosts) depends on the viewer only through the families of
//     its addresses and which of those source lists hold each of them,
//     so that is the key (viewSig). Its entries (per peer: version,
//     grants and routes ids, the record's JSON with them) are made once,
//     by the first stream that asks, and shared by every stream of the
//     class, as is the set a node holds after (viewClass.set).
//
// A stream then diffs its held peers against the entries (a merge of two
// lists sorted by id), and a stream that holds the set of an earlier view
// (the previous policy's) takes the diff the first such stream made
// (viewClass.diffs). A node that is among its class's peers (a gateway
// that may reach the other gateways) gets a set of its own without itself.
type peerClass struct {
	// key is the class's key (acl.Compiled.PeerClass).
	key string
	// peers are the class's live peers, sorted by id.
	peers []mapPeer
	// lists are the distinct source lists of the peers' filters and of
	// the filters of the routers ahead of them (peerRoute.ahead).
	lists [][]netip.Prefix

	mu sync.Mutex // guards views and absent
	// views holds the view classes by viewSig.
	views map[string]*viewClass
	// absent holds, by the content of a set held (sentPeers.key), those
	// of its peers that are not the class's (absentOfAll), at most
	// maxClassDiffs of them; never changed once made.
	absent map[heldKey][]store.NodeID
}

// has reports whether node id is among pc's peers.
func (pc *peerClass) has(id store.NodeID) bool {
	_, ok := slices.BinarySearchFunc(pc.peers, id, func(p mapPeer, id store.NodeID) int {
		return cmp.Compare(store.NodeID(p.rec.node.ID), id)
	})
	return ok
}

// peerClassLocked returns node n's peer class, made on first use in this
// gen (a live node; error: the compiler does not know it).
func (m *netmap) peerClassLocked(n store.Node) (*peerClass, error) {
	if m.classGen != m.gen {
		clear(m.classes)
		m.classGen = m.gen
	}
	key, err := m.comp.PeerClass(n.Name)
	if err != nil {
		return nil, err
	}
	if pc, ok := m.classes[key]; ok {
		return pc, nil
	}
	names, err := m.comp.ClassPeers(n.Name)
	if err != nil {
		return nil, err
	}
	pc := &peerClass{key: key, peers: make([]mapPeer, 0, len(names)), views: map[string]*viewClass{}}
	seen := map[srcKey]bool{}
	note := func(f []filter.Rule) {
		for _, r := range f {
			if len(r.Src) == 0 {
				continue
			}
			if k := (srcKey{&r.Src[0], len(r.Src)}); !seen[k] {
				seen[k] = true
				pc.lists = append(pc.lists, r.Src)
			}
		}
	}
	for _, name := range names {
		pid, ok := m.byName[name]
		if !ok || !m.live[pid] {
			continue
		}
		mp := m.mapPeerLocked(pid)
		pc.peers = append(pc.peers, mp)
		note(mp.rules)
		for _, pr := range mp.routes {
			for _, f := range pr.ahead {
				note(f)
			}
		}
	}
	slices.SortFunc(pc.peers, func(a, b mapPeer) int { return cmp.Compare(a.rec.node.ID, b.rec.node.ID) })
	m.classes[key] = pc
	return pc, nil
}

// viewSig is the key of the view class of a viewer with addresses self:
// how many, and per address its family (as filter.ReachRules pairs
// addresses) and a bit per list of lists that holds it.
func viewSig(src *srcCache, lists [][]netip.Prefix, self []netip.Addr) string {
	b := make([]byte, 0, 1+len(self)*(1+(len(lists)+7)/8))
	b = append(b, byte(len(self)))
	for _, a := range self {
		var fam byte
		if a.Is4() {
			fam |= 1
		}
		if a.Is6() && !a.Is4In6() {
			fam |= 2
		}
		b = append(b, fam)
		var bits byte
		for i, l := range lists {
			if src.info(l).contains(l, a) {
				bits |= 1 << (i % 8)
			}
			if i%8 == 7 {
				b, bits = append(b, bits), 0
			}
		}
		if len(lists)%8 != 0 {
			b = append(b, bits)
		}
	}
	return string(b)
}

// viewClass is what every node of one view class gets from its peers.
type viewClass struct {
	once sync.Once
	// entries are the peers as sent, sorted by id.
	entries []classPeer
	// set is entries as a node holds them, shared (sentPeers.share).
	set sentPeers

	mu sync.Mutex // guards diffs
	// diffs holds the changes from a shared set a node held to set, made
	// once per held set and kind of stream.
	diffs map[classDiffKey]*classDiff
}

// classPeer is one peer of a view class as its viewers get it.
type classPeer struct {
	id wire.NodeID
	sp sentPeer
	// enc is the record's JSON with the viewer's grants and routes; genc
	// the grants' JSON alone (nil: none).
	enc, genc []byte
	rec       *peerRec
}

// classDiffKey names a diff: the content of the set held (sentPeers.key;
// none for a first map, which holds nothing) and what the stream takes.
type classDiffKey struct {
	held                    heldKey
	full, grantsDelta, swap bool
}

// classDiff is the message part of a whole map for a node that held a
// shared set: never changed once made (the streams that send it only
// read it).
type classDiff struct {
	enc, grants []encPeer
	swaps       []wire.GrantsSwap
	removed     []wire.NodeID

	// binOnce makes bin, enc as one binary peer block (peerBlock), for the
	// streams of wire.FeatureBinaryPeers that take the diff made by another
	// (a diff no other stream takes, as in a class of one node, makes no
	// block: it would be a second copy of its records, kept with the
	// class until the next netmap gen). Every camera
	// of a 50,000-node fleet gets the same 1,000 gateway records on a
	// policy change, every gateway the same 12,250 cameras, and each
	// stream had looked up and copied each record's form on its own (24.5
	// million lookups, a cache miss each: 1.8 of the coordinator's 35
	// CPU-s over the change and back).
	binOnce sync.Once
	bin     []byte
}

// block returns d's peers as a binary peer block with t's grants and
// routes, made on first use (made tells this call made it); nil when a
// record has no binary form (the message then goes as JSON) or there are
// no peers.
func (d *classDiff) block(t *peerTables) (b []byte, made bool) {
	d.binOnce.Do(func() { d.bin, made = peerBlock(d.enc, t), true })
	return d.bin, made
}

// maxClassDiffs bounds a view class's diffs (one per set its nodes held),
// and a peer class's removals (peerClass.absent).
const maxClassDiffs = 16

// viewOf returns the view class of the viewer with addresses self in pc,
// its entries made on first use.
func (st *streamState) viewOf(pc *peerClass, self []netip.Addr) *viewClass {
	nm := st.s.nm
	sig := viewSig(nm.src, pc.lists, self)
	pc.mu.Lock()
	v, ok := pc.views[sig]
	if !ok {
		v = &viewClass{diffs: map[classDiffKey]*classDiff{}}
		pc.views[sig] = v
	}
	pc.mu.Unlock()
	v.once.Do(func() {
		st.s.metrics.mapViews.WithLabelValues("view").Inc()
		v.entries = make([]classPeer, 0, len(pc.peers))
		v.set.sorted = make([]sentEntry, 0, len(pc.peers))
		for _, p := range pc.peers {
			gid, genc := st.s.grants.intern(nm.grants(p, self))
			routes := nm.viewerRoutes(p, self)
			rid, renc := st.s.routes.internRoutes(routes, nm.viewerHosts(p, self, routes))
			sp := sentPeer{ver: p.rec.ver, grants: gid, routes: rid}
			v.entries = append(v.entries, classPeer{id: p.rec.node.ID, sp: sp, enc: p.rec.json(gid, genc, rid, renc), genc: genc, rec: p.rec})
			v.set.sorted = append(v.set.sorted, sentEntry{id: p.rec.node.ID, sentPeer: sp})
		}
		v.set.resum()
		v.set.share()
		// The class's lineage (the same key in later gens): the sets its
		// nodes hold after joins rebase on its latest merge.
		v.set.line = st.s.lines.of(pc.key + "\x00" + sig)
		v.set.line.put(v.set.sorted)
	})
	return v
}

// has reports whether peer id is among v's entries.
func (v *viewClass) has(id wire.NodeID) bool {
	_, ok := slices.BinarySearchFunc(v.entries, id, func(e classPeer, id wire.NodeID) int { return cmp.Compare(e.id, id) })
	return ok
}

// diffView makes the peers part of a whole map from view class v for a
// node (self) that holds held, and the set it holds after. A node that is
// not among v's peers takes the diff the first stream whose node held the
// same entries made (by content: sentPeers.key); shared tells it did.
func (st *streamState) diffView(v *viewClass, self wire.NodeID, held *sentPeers, full bool) (d *classDiff, now sentPeers, shared bool) {
	selfIn := v.has(self)
	key := classDiffKey{full: full, grantsDelta: st.grantsDelta, swap: st.grantsSwap}
	if !full {
		key.held = held.key()
	}
	cacheable := !selfIn
	if cacheable {
		v.mu.Lock()
		cached, ok := v.diffs[key]
		v.mu.Unlock()
		if ok {
			st.s.metrics.mapViews.WithLabelValues("shared").Inc()
			return cached, v.set, true
		}
	}
	st.s.metrics.mapViews.WithLabelValues("diff").Inc()
	d = &classDiff{}
	var moved []grantMove
	old := held.all()
	if full {
		old = nil
	}
	i := 0
	if selfIn {
		now.sorted = make([]sentEntry, 0, len(v.entries)-1)
		now.line = v.set.line
	} else {
		now = v.set
	}
	for _, e := range v.entries {
		if e.id == self {
			continue
		}
		for i < len(old) && old[i].id < e.id {
			d.removed = append(d.removed, old[i].id)
			i++
		}
		var was sentPeer
		had := false
		if i < len(old) && old[i].id == e.id {
			was, had = old[i].sentPeer, true
			i++
		}
		switch {
		case full || !had || was.ver != e.sp.ver || was.routes != e.sp.routes || was.grants != e.sp.grants && !st.grantsDelta:
			d.enc = append(d.enc, encPeer{id: e.id, enc: e.enc, rec: e.rec, gid: e.sp.grants, rid: e.sp.routes})
		case was.grants != e.sp.grants:
			d.grants = append(d.grants, encPeer{id: e.id, enc: e.genc})
			if st.grantsSwap {
				moved = append(moved, grantMove{from: was.grants, to: e.sp.grants})
			}
		}
		if selfIn {
			now.sorted = append(now.sorted, sentEntry{id: e.id, sentPeer: e.sp})
		}
	}
	for ; i < len(old); i++ {
		d.removed = append(d.removed, old[i].id)
	}
	if selfIn {
		now.resum()
	}
	if len(moved) > 0 {
		d.grants, d.swaps = st.s.grants.swaps(d.grants, moved, held, &now)
	}
	if cacheable {
		v.mu.Lock()
		if len(v.diffs) >= maxClassDiffs {
			clear(v.diffs)
		}
		v.diffs[key] = d
		v.mu.Unlock()
	}
	return d, now, false
}
