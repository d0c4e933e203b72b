package coordinator

import (
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// peerRec is one node as its peers' maps show it, shared by every map
// that holds it and never changed: a change to the node makes a new
// record with a higher version. Its JSON is made once, and once more per
// distinct set of grants a viewer has toward it.
type peerRec struct {
	// ver increases with every new record of any node (netmap.recSeq).
	ver uint64
	// epoch is the netmap's recEpoch when the record was last checked;
	// the one field that changes, read and written under netmap.mu only.
	epoch uint64
	// node is the record without Grants.
	node  wire.Node
	addrs []netip.Addr

	encOnce sync.Once
	enc     []byte

	// mu guards the following.
	mu sync.Mutex
	// withGrants caches the record's JSON with each set of grants and
	// routes (by grantTable ids: grants' low, routes' high).
	withGrants map[uint64][]byte
	// bins caches the record's binary form (wire.AppendPeerRecord, for
	// nodes of wire.FeatureBinaryPeers) the same way, made only when a
	// stream sends it.
	bins map[uint64][]byte
	// lastBin is the form bin last returned, read without mu.
	lastBin atomic.Pointer[binForm]
}

// peerTables are the tables a record's binary form takes its viewer's
// grants and routes from (the grants and routes of control).
type peerTables struct{ grants, routes *grantTable }

// bin returns the record's binary form with the grants gid and the
// viewer's routes through the peer rid (ids of t's tables), made on first
// use and shared like its JSON; nil when it cannot be made (the message
// then goes as JSON).
func (r *peerRec) bin(gid, rid uint32, t *peerTables) []byte {
	key := uint64(gid) | uint64(rid)<<32
	// Most records have one form in use: read it without the lock (every
	// gateway's stream reads each of 12,250 records on a policy change).
	if l := r.lastBin.Load(); l != nil && l.key == key {
		return l.b
	}
	r.mu.Lock()
	b, ok := r.bins[key]
	r.mu.Unlock()
	if ok {
		r.lastBin.Store(&binForm{key, b})
		return b
	}
	n := r.node
	if gid != noGrants {
		if n.Grants = t.grants.set(gid); n.Grants == nil {
			return nil
		}
	}
	if rid != noGrants {
		rs, ok := t.routes.routeSet(rid)
		if !ok {
			return nil
		}
		n.Routes, n.RouteHosts = rs.routes, rs.hosts
	}
	b, err := wire.AppendPeerRecord(nil, &n)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.bins[key]; ok {
		return old
	}
	if r.bins == nil {
		r.bins = map[uint64][]byte{}
	}
	r.bins[key] = b
	r.lastBin.Store(&binForm{key, b})
	return b
}

// binForm is a record's binary form and its key (peerRec.bin).
type binForm struct {
	key uint64
	b   []byte
}

// json returns the record's JSON with the grants gid (0: none) and the
// viewer's routes through the peer rid (0: none; ids of the routes table,
// whose JSON is the members to add: see grantTable.internRoutes).
func (r *peerRec) json(gid uint32, grants []byte, rid uint32, routes []byte) []byte {
	r.encOnce.Do(func() { r.enc, _ = json.Marshal(r.node) })
	if gid == noGrants && rid == noGrants {
		return r.enc
	}
	key := uint64(gid) | uint64(rid)<<32
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok := r.withGrants[key]; ok {
		return b
	}
	// The record ends with "}": the grants and routes go in before it.
	b := make([]byte, 0, len(r.enc)+len(grants)+len(routes)+24)
	b = append(b, r.enc[:len(r.enc)-1]...)
	if gid != noGrants {
		b = append(b, `,"grants":`...)
		b = append(b, grants...)
	}
	if rid != noGrants {
		b = append(b, ',')
		b = append(b, routes...)
	}
	b = append(b, '}')
	if r.withGrants == nil {
		r.withGrants = map[uint64][]byte{}
	}
	r.withGrants[key] = b
	return b
}

// noGrants is the grantTable id of nil grants (a peer the policy does not
// know: its viewer learns nothing).
const noGrants = 0

// grantTable gives every distinct set of grants a small id and keeps its
// JSON: a map's state is then one comparable number per peer, and the
// JSON of a peer record with grants is made once per set. A set is looked
// up by a compact binary key (grantKey), so that the common case, a set
// seen before, marshals nothing and shares a read lock: every stream asks
// once per peer of its map.
type grantTable struct {
	// mu guards the following.
	mu  sync.RWMutex
	ids map[string]uint32
	enc [][]byte
	// sets holds the grants of the ids intern made (for swaps and binary
	// records).
	sets map[uint32][]filter.PortGrant
	// routeSets holds the routes of the ids internRoutes made (a routes
	// table's; for binary records).
	routeSets map[uint32]routeSet
}

func newGrantTable() *grantTable {
	return &grantTable{ids: map[string]uint32{}, enc: [][]byte{nil}, sets: map[uint32][]filter.PortGrant{}}
}

// grantKey appends gs's key to b: per grant its protocol, the number of
// port ranges and each range. Sets with equal keys have equal JSON.
func grantKey(b []byte, gs []filter.PortGrant) []byte {
	for _, g := range gs {
		b = append(b, byte(g.Proto))
		b = binary.AppendUvarint(b, uint64(len(g.Ports)))
		for _, r := range g.Ports {
			b = binary.LittleEndian.AppendUint16(b, r.First)
			b = binary.LittleEndian.AppendUint16(b, r.Last)
		}
	}
	return b
}

// intern returns gs's id and JSON.
func (t *grantTable) intern(gs []filter.PortGrant) (uint32, []byte) {
	if gs == nil {
		return noGrants, nil
	}
	var buf [64]byte
	made := false
	id, enc := t.internKey(grantKey(buf[:0], gs), func() []byte { made = true; b, _ := json.Marshal(gs); return b })
	if made {
		t.mu.Lock()
		if _, ok := t.sets[id]; !ok {
			t.sets[id] = gs
		}
		t.mu.Unlock()
	}
	return id, enc
}

// set returns the grants of id, as intern was given them; nil for an id
// intern did not make.
func (t *grantTable) set(id uint32) []filter.PortGrant {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.sets[id]
}

// internKey returns the id and JSON of the set whose key is k, made with
// enc on first sight.
func (t *grantTable) internKey(k []byte, enc func() []byte) (uint32, []byte) {
	t.mu.RLock()
	id, ok := t.ids[string(k)]
	var b []byte
	if ok {
		b = t.enc[id]
	}
	t.mu.RUnlock()
	if ok {
		return id, b
	}
	b = enc()
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[string(k)]; ok {
		return id, t.enc[id]
	}
	id = uint32(len(t.enc))
	t.ids[string(k)] = id
	t.enc = append(t.enc, b)
	return id, b
}

// srcKey names one source list: the compiler shares a rule's list between
// the filters of every node the rule reaches and never changes a list it
// handed out, so the slice itself (its first element and length) is its
// identity. Holding the pointer keeps the list alive while it is held.
type srcKey struct {
	first *netip.Prefix
	n     int
}

// listKey is srcKey for the caches (srcCache.m, the deltas', the grants
// memo's): the array by a weak pointer, so a cached entry does not keep
// its list alive. Two weak pointers are equal only when made from the
// same live array: an entry of a list the collector took is never found
// again, not even by a new array at its address; it waits, small, for
// its cache to start over.
//
// Reason: the caches held their keys' lists alive, and a join that sorts
// among what the gateways were sent makes a new array of every sensor
// (1.2 MB at 50,000 nodes), so the caches kept tens of superseded arrays
// of each rule alive, bounded only by their pins (64 MB each): at 20,000
// nodes with 1,000 gateways, settled, 38 of the 40 live arrays of the
// rule's sources (21 of 22 MB) were held by nothing but the caches.
type listKey struct {
	first weak.Pointer[netip.Prefix]
	n     int
}

// listKeyOf returns src's cache key (src not empty).
func listKeyOf(src []netip.Prefix) listKey {
	return listKey{weak.Make(&src[0]), len(src)}
}

// srcInfo is what is made once per source list: for grants, whether it
// is sorted and the prefixes wider than one address (the rest are found
// by binary search when the list is sorted); its sums; and, only when
// the list is sent whole, its JSON.
//
// The compiler grows a rule's list in place (a join appends its addresses
// to the array older versions are shorter views of), so a list's info is
// made from the longest cached version of the same array: O(the
// addresses added), not O(the list) (at 50,000 nodes a gateway's list of
// every sensor's IPv4 addresses is 36,750 long, and each join made a new
// one; its JSON alone was 5.5 % of the registration's CPU).
type srcInfo struct {
	wide []netip.Prefix
	// sorted: by comparePrefix, repeats allowed; canon: without repeats
	// (filter.IsCanonicalSrc).
	sorted, canon bool
	// fnv is filter.SrcSum's running FNV-1a state over the prefixes
	// (before the length); sum is filter.SrcSum of the list, which
	// filterSum also uses.
	fnv, sum uint64

	encOnce sync.Once
	enc     []byte // the list's JSON, made by json()
}

// srcCache holds srcInfo per source list, bounded.
type srcCache struct {
	seed maphash.Seed

	// mu guards the following.
	mu sync.Mutex
	m  map[listKey]*srcInfo
	// heads holds, per array, the longest of its lists in m: a longer
	// list of the same array extends it.
	heads map[weak.Pointer[netip.Prefix]]listKey
	// bytes is what the cached infos stand for: the prefixes each added
	// to its array (the list's memory, shared by its versions, which the
	// cache no longer keeps alive: see listKey) and the JSON made.
	bytes int

	// deltas holds the deltas between lists (srcDeltaFor); its own lock.
	deltas srcDeltas
	// grantMemo holds grantsOf's answers; its own lock.
	grantMemo grantMemo
}

// maxSrcCacheBytes bounds the cached source lists; past it the cache
// starts over (a policy has few rules, but a fleet in flux makes a new
// list with every node that joins a rule's sources, and only the latest
// are still in use).
const maxSrcCacheBytes = 64 << 20

func newSrcCache() *srcCache {
	return &srcCache{seed: maphash.MakeSeed(), m: map[listKey]*srcInfo{}, heads: map[weak.Pointer[netip.Prefix]]listKey{},
		deltas: srcDeltas{m: map[deltaKey][]byte{}}, grantMemo: grantMemo{m: map[grantMemoKey][]filter.PortGrant{}}}
}

// emptySrc is the info of an empty list.
var emptySrc = func() *srcInfo {
	in := &srcInfo{sorted: true, canon: true, fnv: fnvOffset}
	in.sum = fnvLen(in.fnv, 0)
	in.enc = []byte("[]")
	in.encOnce.Do(func() {})
	return in
}()

// info returns src's srcInfo, making it on first use.
func (c *srcCache) info(src []netip.Prefix) *srcInfo {
	if len(src) == 0 {
		return emptySrc
	}
	k := listKeyOf(src)
	c.mu.Lock()
	in, ok := c.m[k]
	var base *srcInfo
	from := 0
	if h, has := c.heads[k.first]; !ok && has && h.n < k.n {
		base, from = c.m[h], h.n
	}
	c.mu.Unlock()
	if ok {
		return in
	}
	in = extendSrcInfo(base, src, from)
	size := (len(src)-from)*int(unsafe.Sizeof(netip.Prefix{})) + int(unsafe.Sizeof(srcInfo{}))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.bytes+size > maxSrcCacheBytes {
		clear(c.m)
		clear(c.heads)
		c.bytes = 0
	}
	c.m[k] = in
	if h, has := c.heads[k.first]; !has || h.n < k.n {
		c.heads[k.first] = k
	}
	c.bytes += size
	return in
}

// extendSrcInfo returns the info of src, whose first from prefixes base
// (nil when from is 0) describes.
func extendSrcInfo(base *srcInfo, src []netip.Prefix, from int) *srcInfo {
	in := &srcInfo{sorted: true, canon: true, fnv: fnvOffset}
	if base != nil {
		in.sorted, in.canon, in.fnv, in.wide = base.sorted, base.canon, base.fnv, slices.Clip(base.wide)
	}
	for i := from; i < len(src); i++ {
		p := src[i]
		if i > 0 {
			c := comparePrefix(src[i-1], p)
			in.sorted = in.sorted && c <= 0
			in.canon = in.canon && c < 0
		}
		if p.Bits() != p.Addr().BitLen() {
			in.wide = append(in.wide, p)
		}
		in.fnv = fnvPrefix(in.fnv, p)
	}
	in.sum = fnvLen(in.fnv, len(src))
	return in
}

// json returns src's JSON (in describes src), made on first use: only
// lists sent whole need it.
func (c *srcCache) json(in *srcInfo, src []netip.Prefix) []byte {
	in.encOnce.Do(func() {
		in.enc, _ = json.Marshal(src)
		c.mu.Lock()
		c.bytes += len(in.enc)
		c.mu.Unlock()
	})
	return in.enc
}

// FNV-1a over each prefix as filter.SrcSum hashes it, kept running so a
// longer list of the same array continues its shorter one's state.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvPrefix(h uint64, p netip.Prefix) uint64 {
	a := p.Addr().As16()
	for _, b := range a {
		h = (h ^ uint64(b)) * fnvPrime
	}
	fam := byte(6)
	if p.Addr().Is4() {
		fam = 4
	}
	h = (h ^ uint64(fam)) * fnvPrime
	return (h ^ uint64(byte(p.Bits()))) * fnvPrime
}

// fnvLen ends a running state with the list's length, as filter.SrcSum.
func fnvLen(h uint64, n int) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(n))
	for _, x := range b {
		h = (h ^ uint64(x)) * fnvPrime
	}
	return h
}

// selfSum is a sum of a node's own record as its map sends it (its
// JSON): a stream keeps it, not the record, to tell whether a whole map
// must send the record again.
func (c *srcCache) selfSum(self *wire.Node) uint64 {
	b, err := json.Marshal(self)
	if err != nil {
		return rand.Uint64() // not what the node holds: sent again
	}
	return maphash.Bytes(c.seed, b)
}

// filterSum hashes a filter: streams keep the sum of the filter they
// sent, not the filter (a gateway's lists every sensor), to tell whether
// a new one differs. Each rule's source list is hashed once (srcInfo).
func (c *srcCache) filterSum(rules []filter.Rule) uint64 {
	var h maphash.Hash
	h.SetSeed(c.seed)
	for _, r := range rules {
		var sum [8]byte
		if r.Src != nil {
			binary.LittleEndian.PutUint64(sum[:], c.info(r.Src).sum)
		}
		h.Write(sum[:])
		d, _ := json.Marshal(r.Dst)
		p, _ := json.Marshal(r.Protos)
		h.Write(d)
		h.Write(p)
		if r.Deny {
			h.WriteByte(1)
		} else {
			h.WriteByte(0)
		}
		binary.LittleEndian.PutUint64(sum[:], uint64(r.Expires.UnixNano()))
		h.Write(sum[:])
	}
	return h.Sum64()
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// contains reports whether a lies in one of src's prefixes (in describes
// src).
func (in *srcInfo) contains(src []netip.Prefix, a netip.Addr) bool {
	if !in.sorted {
		return slices.ContainsFunc(src, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	host := netip.PrefixFrom(a, a.BitLen())
	if _, found := slices.BinarySearchFunc(src, host, comparePrefix); found {
		return true
	}
	return slices.ContainsFunc(in.wide, func(p netip.Prefix) bool { return p.Contains(a) })
}

// grantsOf returns what a node with addresses srcs may start toward one
// with addresses dsts under the latter's inbound filter rules (the
// compiler's, valid): filter.ReachRules, with each rule's source list
// searched through its srcInfo, made once per list.
func (c *srcCache) grantsOf(rules []filter.Rule, srcs, dsts []netip.Addr) []filter.PortGrant {
	infos := make([]*srcInfo, len(rules))
	in := func(i int, a netip.Addr) bool {
		if infos[i] == nil {
			infos[i] = c.info(rules[i].Src)
		}
		return infos[i].contains(rules[i].Src, a)
	}
	k, ok := grantMemoKeyOf(rules, srcs, dsts, in)
	if !ok {
		return filter.ReachRules(rules, srcs, dsts, in)
	}
	c.grantMemo.mu.RLock()
	gs, hit := c.grantMemo.m[k]
	c.grantMemo.mu.RUnlock()
	if hit {
		return gs
	}
	gs = filter.ReachRules(rules, srcs, dsts, in)
	c.grantMemo.mu.Lock()
	defer c.grantMemo.mu.Unlock()
	if len(c.grantMemo.m) >= maxGrantMemo {
		clear(c.grantMemo.m)
	}
	c.grantMemo.m[k] = gs
	return gs
}

// grantMemo holds grantsOf's answers by what they depend on: a policy
// change makes every sensor ask for its grants on each of its gateways
// (200 at 10,000 nodes, 1,000 at 50,000), and every sensor in the same
// source lists gets the same answer, so ReachRules runs once per gateway
// and kind of viewer, not once per pair.
//
// Its keys hold the peer's filter by a weak pointer (see listKey), so
// the memo keeps no filter alive, nor the source lists a join makes
// anew. It did: 2.22 GB of a 3.96 GB heap at 50,000 nodes registering
// in the default order, then up to 2 Mi prefixes of lists (64 MB; 57
// gateway filters at 50,000 nodes), past which it started over
// (maxGrantMemoPins, gone with the weak keys). The peer's addresses stay
// a plain pointer: a record's 48 bytes, and a weak pointer to an object
// among many small ones costs a walk of its span's specials.
type grantMemo struct {
	mu sync.RWMutex // guards m
	m  map[grantMemoKey][]filter.PortGrant
}

// maxGrantMemo bounds the memo (entries of filters gone are never found
// again, see listKey); past it the memo starts over. An entry is about
// 135 bytes (its key, the answer's grants), so the memo stays under
// 3 MB, and holds the keys of 16 filters of every one of 1,000 gateways.
//
// 16 Ki, not 128 Ki as before the weak keys: the bound on what the keys'
// lists held (maxGrantMemoPins) used to make it start over long before
// (57 gateway filters at 50,000 nodes); without it the memo filled its
// 128 Ki entries with the keys of superseded gateway filters, each join
// making 1,000 new ones, and held 21.6 MB at 20,000 nodes (1,000
// gateways) once settled, as much as the lists the weak keys freed.
const maxGrantMemo = 1 << 14

// grantMemoKey is what ReachRules's answer depends on: the rules (by a
// weak pointer) and the destinations, by identity (the compiler's filters
// and a record's addresses never change once made), and for each source
// its family and the rules whose sources hold it (sig).
type grantMemoKey struct {
	rules weak.Pointer[filter.Rule]
	n     int
	dsts  *netip.Addr
	nDst  int
	nSrc  int
	sig   uint64
}

// grantMemoKeyOf returns the memo key of a grantsOf call; ok is false
// when its signature does not fit (more than two sources or 30 rules).
func grantMemoKeyOf(rules []filter.Rule, srcs, dsts []netip.Addr, in func(int, netip.Addr) bool) (grantMemoKey, bool) {
	if len(rules) == 0 || len(dsts) == 0 || len(srcs) > 2 || len(rules) > 30 {
		return grantMemoKey{}, false
	}
	var sig uint64
	for k, s := range srcs {
		var w uint64
		if s.Is4() {
			w |= 1 << 31
		}
		if s.Is6() && !s.Is4In6() {
			w |= 1 << 30
		}
		for i := range rules {
			if in(i, s) {
				w |= 1 << i
			}
		}
		sig |= w << (32 * k)
	}
	return grantMemoKey{rules: weak.Make(&rules[0]), n: len(rules), dsts: &dsts[0], nDst: len(dsts), nSrc: len(srcs), sig: sig}, true
}
