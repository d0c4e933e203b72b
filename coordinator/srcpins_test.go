package coordinator

import (
	"net/netip"
	"testing"
)

// TestSrcDeltasPinBound checks that the cached source deltas keep at most
// maxSrcDeltaPins prefixes of their keys' lists alive, whatever the
// lists' sizes: a gateway's list of every sensor is 36,750 prefixes at
// 50,000 nodes, and 64 pairs of them kept 150 MB alive. A pair asked
// again while cached is answered from the cache.
func TestSrcDeltasPinBound(t *testing.T) {
	const size = 300_000 // a list, about 9 MB
	lists := make([][]netip.Prefix, 12)
	for i := range lists {
		l := make([]netip.Prefix, size+i)
		for k := range l {
			l[k] = netip.PrefixFrom(netip.AddrFrom4([4]byte{100, byte(64 + k>>16), byte(k >> 8), byte(k)}), 32)
		}
		lists[i] = l
	}
	c := newSrcCache()
	for i := 1; i < len(lists); i++ {
		d := c.srcDeltaFor(lists[i-1], lists[i])
		if d == nil {
			t.Fatalf("pair %d: no delta for one added prefix", i)
		}
		if again := c.srcDeltaFor(lists[i-1], lists[i]); &again[0] != &d[0] {
			t.Errorf("pair %d: asked again, diffed again", i)
		}
		pinned := 0
		c.deltas.mu.Lock()
		for k := range c.deltas.m {
			pinned += k.held.n + k.next.n
		}
		c.deltas.mu.Unlock()
		if pinned > maxSrcDeltaPins {
			t.Fatalf("after pair %d the cached deltas' keys hold %d prefixes, want at most %d", i, pinned, maxSrcDeltaPins)
		}
	}
}
