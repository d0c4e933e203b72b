package filter

import (
	"errors"
	"math/rand"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// pfx parses a space-separated list of prefixes ("" is none); a bare
// address is its host prefix.
func pfx(s string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Fields(s) {
		if !strings.Contains(f, "/") {
			a := netip.MustParseAddr(f)
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		out = append(out, netip.MustParsePrefix(f))
	}
	return out
}

func TestDiffSrcAndApply(t *testing.T) {
	for _, tc := range []struct {
		name, old, next string
		max             int
		add, del        string
		ok              bool
	}{
		{name: "one joins", old: "100.64.0.1 100.64.0.3", next: "100.64.0.1 100.64.0.2 100.64.0.3", max: -1, add: "100.64.0.2", ok: true},
		{name: "one leaves", old: "100.64.0.1 100.64.0.2 100.64.0.3", next: "100.64.0.1 100.64.0.3", max: -1, del: "100.64.0.2", ok: true},
		{name: "ends change", old: "100.64.0.2 100.64.0.3", next: "100.64.0.3 100.64.0.4", max: -1, add: "100.64.0.4", del: "100.64.0.2", ok: true},
		{name: "same", old: "100.64.0.1", next: "100.64.0.1", max: -1, ok: true},
		{name: "from nothing", old: "", next: "100.64.0.1 fd7a::1", max: -1, add: "100.64.0.1 fd7a::1", ok: true},
		{name: "to nothing", old: "100.64.0.1 fd7a::1", next: "", max: -1, del: "100.64.0.1 fd7a::1", ok: true},
		{name: "a host and its prefix are two", old: "100.64.0.0/10", next: "100.64.0.0/10 100.64.0.0/32", max: -1, add: "100.64.0.0/32", ok: true},
		{name: "within bound", old: "100.64.0.1", next: "100.64.0.1 100.64.0.2", max: 1, add: "100.64.0.2", ok: true},
		{name: "over bound", old: "100.64.0.1", next: "100.64.0.2 100.64.0.3", max: 2},
		{name: "lengths too far apart", old: "", next: "100.64.0.2 100.64.0.3", max: 1},
		{name: "old unsorted", old: "100.64.0.3 100.64.0.1", next: "100.64.0.1", max: -1},
		{name: "next repeats", old: "100.64.0.1", next: "100.64.0.1 100.64.0.1", max: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			add, del, ok := DiffSrc(pfx(tc.old), pfx(tc.next), tc.max)
			if ok != tc.ok || !slices.Equal(add, pfx(tc.add)) || !slices.Equal(del, pfx(tc.del)) {
				t.Fatalf("DiffSrc = %v, %v, %v; want %v, %v, %v", add, del, ok, pfx(tc.add), pfx(tc.del), tc.ok)
			}
			if !ok {
				return
			}
			got, err := ApplySrcDelta(pfx(tc.old), add, del, SrcSum(pfx(tc.next)))
			if err != nil || !slices.Equal(got, pfx(tc.next)) {
				t.Fatalf("ApplySrcDelta = %v, %v; want %v", got, err, pfx(tc.next))
			}
		})
	}
}

// TestApplySrcDeltaRefusesMisfits applies deltas to a list they were not
// made against, as a coordinator out of step or a forged message would:
// each is refused, and nothing widens the list.
func TestApplySrcDeltaRefusesMisfits(t *testing.T) {
	base := pfx("100.64.0.1 100.64.0.2 100.64.0.3")
	for _, tc := range []struct {
		name, base, add, del string
		// sum is of this list ("": of the base with the delta applied
		// as if it fitted: add appended, del ignored)
		sum  string
		want error
	}{
		{name: "removes what is not held", del: "100.64.0.9", sum: "100.64.0.1 100.64.0.2 100.64.0.3", want: ErrSrcDeltaMisfit},
		{name: "removes past the end", del: "100.64.0.3 100.64.0.9", sum: "100.64.0.1 100.64.0.2", want: ErrSrcDeltaMisfit},
		{name: "adds what is held", add: "100.64.0.2", sum: "100.64.0.1 100.64.0.2 100.64.0.3", want: ErrSrcDeltaMisfit},
		{name: "adds and removes one", add: "100.64.0.2", del: "100.64.0.2", sum: "100.64.0.1 100.64.0.2 100.64.0.3", want: ErrSrcDeltaMisfit},
		{name: "more to remove than held", del: "100.64.0.1 100.64.0.2 100.64.0.3 100.64.0.4", sum: "", want: ErrSrcDeltaMisfit},
		{name: "wrong sum: a wider list claimed", add: "100.64.0.0/10", sum: "100.64.0.1 100.64.0.2 100.64.0.3", want: ErrSrcDeltaMisfit},
		{name: "another base held", base: "100.64.0.1 100.64.0.5", add: "100.64.0.4", sum: "100.64.0.1 100.64.0.2 100.64.0.3 100.64.0.4", want: ErrSrcDeltaMisfit},
		{name: "unsorted add", add: "100.64.0.9 100.64.0.8", sum: "100.64.0.1 100.64.0.2 100.64.0.3 100.64.0.8 100.64.0.9", want: ErrSrcNotCanonical},
		{name: "repeated del", del: "100.64.0.1 100.64.0.1", sum: "100.64.0.2 100.64.0.3", want: ErrSrcNotCanonical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			if tc.base != "" {
				b = pfx(tc.base)
			}
			held := slices.Clone(b)
			got, err := ApplySrcDelta(b, pfx(tc.add), pfx(tc.del), SrcSum(pfx(tc.sum)))
			if !errors.Is(err, tc.want) || got != nil {
				t.Fatalf("ApplySrcDelta = %v, %v; want nil, %v", got, err, tc.want)
			}
			if !slices.Equal(b, held) {
				t.Fatalf("the held list changed: %v", b)
			}
		})
	}
}

// TestSrcDeltaRandom diffs and applies random lists of hosts and
// prefixes of both families.
func TestSrcDeltaRandom(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for range 500 {
		a, b := randomSrc(r), randomSrc(r)
		add, del, ok := DiffSrc(a, b, -1)
		if !ok {
			t.Fatalf("DiffSrc(%v, %v) refused canonical lists", a, b)
		}
		got, err := ApplySrcDelta(a, add, del, SrcSum(b))
		if err != nil || !slices.Equal(got, b) {
			t.Fatalf("apply(%v, +%v -%v) = %v, %v; want %v", a, add, del, got, err, b)
		}
		if len(del) > 0 {
			if _, err := ApplySrcDelta(a, add, del[1:], SrcSum(b)); err == nil {
				t.Fatalf("apply without one removal fitted")
			}
		}
	}
}

func randomSrc(r *rand.Rand) []netip.Prefix {
	var out []netip.Prefix
	for range r.Intn(30) {
		if r.Intn(4) == 0 {
			a := netip.AddrFrom16([16]byte{0xfd, 0x7a, 15: byte(r.Intn(16))})
			out = append(out, netip.PrefixFrom(a, 128))
			continue
		}
		a := netip.AddrFrom4([4]byte{100, 64, 0, byte(r.Intn(64))})
		bits := 32
		if r.Intn(5) == 0 {
			bits = 24 + r.Intn(8)
		}
		out = append(out, netip.PrefixFrom(a, bits).Masked())
	}
	slices.SortFunc(out, ComparePrefix)
	return slices.Compact(out)
}

// FuzzApplySrcDelta holds ApplySrcDelta to a set computation: what it
// accepts is exactly base minus del plus add, and it never panics.
func FuzzApplySrcDelta(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{4}, []byte{2}, false)
	f.Add([]byte{1, 2, 3}, []byte{2}, []byte{}, true)
	f.Fuzz(func(t *testing.T, base, add, del []byte, wrongSum bool) {
		hosts := func(bs []byte) []netip.Prefix {
			out := make([]netip.Prefix, 0, len(bs))
			for _, b := range bs {
				out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{100, 64, 0, b}), 32))
			}
			return out
		}
		b, a, d := hosts(base), hosts(add), hosts(del)
		want := map[netip.Prefix]bool{}
		for _, p := range b {
			want[p] = true
		}
		for _, p := range d {
			delete(want, p)
		}
		for _, p := range a {
			want[p] = true
		}
		wantList := slices.SortedFunc(func(yield func(netip.Prefix) bool) {
			for p := range want {
				if !yield(p) {
					return
				}
			}
		}, ComparePrefix)
		sum := SrcSum(wantList)
		if wrongSum {
			sum++
		}
		got, err := ApplySrcDelta(b, a, d, sum)
		if err != nil {
			return
		}
		if wrongSum || !slices.Equal(got, wantList) {
			t.Fatalf("ApplySrcDelta(%v, +%v, -%v) = %v; want %v (wrong sum %v)", b, a, d, got, wantList, wrongSum)
		}
	})
}
