package coordinator

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"weak"

	"github.com/wardnet/ward/filter"
)

// grownList returns n prefixes in canonical order, with a wide one every
// 7th, in an array with room to grow (as the compiler's lists).
func grownList(n int) []netip.Prefix {
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		a := netip.AddrFrom4([4]byte{100, 64 + byte(i>>16), byte(i >> 8), byte(i)})
		bits := 32
		if i%7 == 3 {
			bits = 31
		}
		out = append(out, netip.PrefixFrom(a, bits))
	}
	return out
}

// TestSrcInfoGrowsWithItsList: the info of a list that grew in place is
// made from its shorter version's, and is the same as one made from
// scratch (sortedness, wide prefixes, filter.SrcSum, JSON), also when the
// tail breaks the order.
func TestSrcInfoGrowsWithItsList(t *testing.T) {
	full := grownList(300)
	full[250], full[251] = full[251], full[250] // unsorted from 251 on
	full[280] = full[279]                       // a repeat
	c, scratch := newSrcCache(), newSrcCache()
	for _, n := range []int{1, 2, 10, 11, 100, 250, 251, 252, 279, 280, 281, 300} {
		l := full[:n]
		got, want := c.info(l), scratch.info(slices.Clone(l))
		if n > 1 && got == nil {
			t.Fatal("no info")
		}
		if got.sorted != want.sorted || got.canon != want.canon || !slices.Equal(got.wide, want.wide) || got.sum != want.sum {
			t.Fatalf("len %d: grown info %+v, from scratch %+v", n, got, want)
		}
		if got.sum != filter.SrcSum(l) {
			t.Fatalf("len %d: sum %x, filter.SrcSum %x", n, got.sum, filter.SrcSum(l))
		}
		if canon := filter.IsCanonicalSrc(l); got.canon != canon {
			t.Fatalf("len %d: canon %v, filter.IsCanonicalSrc %v", n, got.canon, canon)
		}
		enc, _ := json.Marshal(l)
		if !bytes.Equal(c.json(got, l), enc) {
			t.Fatalf("len %d: JSON differs", n)
		}
	}
	if h := c.heads[weak.Make(&full[0])]; h.n != 300 {
		t.Fatalf("head of the array is %d long, want 300", h.n)
	}
}

// TestSrcDeltaForGrownList: a delta between two versions of one array (the
// longer grown from the shorter in place) is the delta a diff of two
// separate lists makes.
func TestSrcDeltaForGrownList(t *testing.T) {
	full := grownList(400)
	c, scratch := newSrcCache(), newSrcCache()
	for _, tc := range []struct{ held, next int }{{100, 101}, {100, 125}, {100, 126}, {300, 302}, {300, 300}, {390, 400}} {
		got := c.srcDeltaFor(full[:tc.held], full[:tc.next])
		want := scratch.srcDeltaFor(slices.Clone(full[:tc.held]), slices.Clone(full[:tc.next]))
		if !bytes.Equal(got, want) {
			t.Errorf("%d -> %d: %s, a diff makes %s", tc.held, tc.next, got, want)
		}
	}
}
