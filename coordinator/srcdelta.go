package coordinator

import (
	"encoding/json"
	"maps"
	"net/netip"
	"slices"
	"sync"

	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/wire"
)

// A gateway's filter lists every sensor, and each sensor that joins makes
// a new list one address longer: sent whole, 600 KB to each of 200
// gateways per join at 10,000 nodes. To nodes of protocol 23
// (wire.FeatureFilterSrcDelta) a rule's new sources go as a delta against
// a list the node holds (wire.SrcDelta).

// srcDeltaFor returns the delta that turns held into next, JSON-encoded
// from "add" on (without the rule's index), or nil when a delta would not
// be much smaller than next itself (more than a quarter of it changes) or
// either list is not canonical.
func (c *srcCache) srcDeltaFor(held, next []netip.Prefix) []byte {
	if len(next) == 0 || len(held) == 0 {
		return nil
	}
	k := deltaKey{listKeyOf(held), listKeyOf(next)}
	c.deltas.mu.Lock()
	d, ok := c.deltas.m[k]
	c.deltas.mu.Unlock()
	if ok {
		return d
	}
	var add, del []netip.Prefix
	var fits bool
	in := c.info(next)
	if &held[0] == &next[0] && len(held) <= len(next) {
		// next grew from held in place (the compiler appends a join's
		// addresses to the array held is a shorter view of): the delta is
		// its tail, found without comparing the lists.
		add, fits = next[len(held):], in.canon && len(next)-len(held) <= max(1, len(next)/4)
	} else {
		add, del, fits = filter.DiffSrc(held, next, max(1, len(next)/4))
	}
	if fits {
		var tail struct {
			Add []netip.Prefix `json:"add,omitempty"`
			Del []netip.Prefix `json:"del,omitempty"`
			Sum string         `json:"sum"`
		}
		tail.Add, tail.Del, tail.Sum = add, del, wire.FormatSrcSum(in.sum)
		enc, _ := json.Marshal(tail)
		d = enc[1:] // without "{": appendMsg adds `{"rule":i,`
	}
	c.deltas.mu.Lock()
	defer c.deltas.mu.Unlock()
	if len(c.deltas.m) >= maxSrcDeltas {
		clear(c.deltas.m)
	}
	c.deltas.m[k] = d // nil too: the pair does not fit, no need to diff again
	return d
}

// deltaKey names a pair of source lists: the held one and the new one,
// by weak pointers (listKey): a cached delta keeps neither list alive.
type deltaKey struct{ held, next listKey }

// srcDeltas caches deltas between source lists: every gateway holds the
// same list and gets the same new one, so each pair is diffed once.
type srcDeltas struct {
	mu sync.Mutex // guards m
	m  map[deltaKey][]byte
}

// maxSrcDeltas bounds the cached deltas; past it the cache starts over.
//
// The keys kept their lists alive (a gateway's superseded lists of every
// sensor, 36,750 prefixes, 1.2 MB, each at 50,000 nodes: 64 pairs up to
// 150 MB), and a bound on the prefixes they held (2 Mi, 28 pairs at
// 50,000 nodes) made the cache start over sooner; with weak keys
// (listKey) it holds its deltas only.
const maxSrcDeltas = 64

// ruleDelta is one rule's source delta in a message: its index and the
// rest of its JSON (srcDeltaFor).
type ruleDelta struct {
	rule int
	enc  []byte
}

// srcDeltasOf fills in, for rules whose sources are not by reference
// (srcFrom[i] < 0, or srcFrom nil), a reference to a held rule with a
// delta against its list, where one is much smaller than the list: the
// held rule of the same index first, then the others. It returns the
// references (a new srcFrom when it was nil and a delta was found) and
// the deltas in rule order. Lists shorter than minSrc go whole
// (Config.SrcDeltaMin).
func (c *srcCache) srcDeltasOf(rules, held []filter.Rule, srcFrom []int, minSrc int) ([]int, []ruleDelta) {
	var out []ruleDelta
	for i, r := range rules {
		if srcFrom != nil && srcFrom[i] >= 0 || len(r.Src) < minSrc {
			continue
		}
		j, enc := -1, []byte(nil)
		if i < len(held) {
			j, enc = i, c.srcDeltaFor(held[i].Src, r.Src)
		}
		for k := 0; enc == nil && k < len(held); k++ {
			if k != i {
				j, enc = k, c.srcDeltaFor(held[k].Src, r.Src)
			}
		}
		if enc == nil {
			continue
		}
		if srcFrom == nil {
			srcFrom = make([]int, len(rules))
			for k := range srcFrom {
				srcFrom[k] = -1
			}
		}
		srcFrom[i] = j
		out = append(out, ruleDelta{rule: i, enc: enc})
	}
	return srcFrom, out
}

// grantMove is a peer's grants changing from one set to another
// (grantTable ids).
type grantMove struct{ from, to uint32 }

// swaps turns the grants changes of a whole map (grants, each with its
// move in moved) into wire.GrantsSwap where one says the same: a set
// every held peer (held: what the node held; now: what it holds after)
// with it leaves for one other set, or leaves the map. A sensor's 200
// gateways whose grants a policy change moves from 8883 to 8883-8884 go
// as one swap, not 200 entries. It returns the changes left and the
// swaps.
func (t *grantTable) swaps(grants []encPeer, moved []grantMove, held, now *sentPeers) ([]encPeer, []wire.GrantsSwap) {
	to := map[uint32]uint32{}
	bad := map[uint32]bool{noGrants: true}
	for _, m := range moved {
		if y, ok := to[m.from]; ok && y != m.to || m.to == noGrants {
			bad[m.from] = true
		}
		to[m.from] = m.to
	}
	held.ids(func(id wire.NodeID) {
		old, _ := held.get(id)
		y, ok := to[old.grants]
		if !ok || bad[old.grants] {
			return
		}
		if n, still := now.get(id); still && n.grants != y {
			bad[old.grants] = true // a peer keeps the set (or gets another)
		}
	})
	var swaps []wire.GrantsSwap
	for _, x := range slices.Sorted(maps.Keys(to)) {
		if bad[x] {
			continue
		}
		from, into := t.set(x), t.set(to[x])
		if from == nil || into == nil {
			bad[x] = true
			continue
		}
		swaps = append(swaps, wire.GrantsSwap{From: from, To: into})
	}
	if len(swaps) == 0 {
		return grants, nil
	}
	left := grants[:0]
	for i, g := range grants {
		if bad[moved[i].from] {
			left = append(left, g)
		}
	}
	return left, swaps
}
