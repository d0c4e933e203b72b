package filter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
)

// A source list travels as a delta against a list the node holds (see
// wire.SrcDelta): the prefixes to add and those to remove, and the sum of
// the list that results. Deltas apply only to canonical lists: sorted by
// ComparePrefix, without repeats. The compiler makes its lists so.

// ComparePrefix orders prefixes by address, then by length: the order of
// a canonical source list.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// IsCanonicalSrc reports whether src is sorted by ComparePrefix with no
// prefix twice, so a delta can describe a change of it.
func IsCanonicalSrc(src []netip.Prefix) bool {
	for i := 1; i < len(src); i++ {
		if ComparePrefix(src[i-1], src[i]) >= 0 {
			return false
		}
	}
	return true
}

// DiffSrc returns what turns the canonical list old into the canonical
// list next: the prefixes of next not in old (add) and those of old not in
// next (del), both canonical. ok is false when either list is not
// canonical, or when more than max prefixes would change (max < 0: no
// bound).
func DiffSrc(old, next []netip.Prefix, max int) (add, del []netip.Prefix, ok bool) {
	if max >= 0 && abs(len(old)-len(next)) > max {
		return nil, nil, false
	}
	if !IsCanonicalSrc(old) || !IsCanonicalSrc(next) {
		return nil, nil, false
	}
	i, j := 0, 0
	for i < len(old) && j < len(next) {
		if max >= 0 && len(add)+len(del) > max {
			return nil, nil, false
		}
		switch c := ComparePrefix(old[i], next[j]); {
		case c == 0:
			i++
			j++
		case c < 0:
			del = append(del, old[i])
			i++
		default:
			add = append(add, next[j])
			j++
		}
	}
	del = append(del, old[i:]...)
	add = append(add, next[j:]...)
	if max >= 0 && len(add)+len(del) > max {
		return nil, nil, false
	}
	return add, del, true
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// Errors of ApplySrcDelta: the delta does not fit the list it was applied
// to, which then is not the one the delta was made against.
var (
	ErrSrcNotCanonical = errors.New("source list not sorted or with repeats")
	ErrSrcDeltaMisfit  = errors.New("source delta does not fit the list held")
)

// ApplySrcDelta returns base with add inserted and del removed, checked
// exactly: base, add and del must be canonical, every prefix of del must
// be in base and none of add, and the result's SrcSum must be sum. Any
// misfit is an error (a delta made against another list); base is never
// changed.
func ApplySrcDelta(base, add, del []netip.Prefix, sum uint64) ([]netip.Prefix, error) {
	if !IsCanonicalSrc(base) || !IsCanonicalSrc(add) || !IsCanonicalSrc(del) {
		return nil, ErrSrcNotCanonical
	}
	if len(del) > len(base) {
		return nil, fmt.Errorf("%w: %d to remove from %d", ErrSrcDeltaMisfit, len(del), len(base))
	}
	out := make([]netip.Prefix, 0, len(base)-len(del)+len(add))
	i, a, d := 0, 0, 0
	for i < len(base) || a < len(add) {
		if d < len(del) && i < len(base) {
			switch c := ComparePrefix(del[d], base[i]); {
			case c < 0:
				return nil, fmt.Errorf("%w: %v to remove is not held", ErrSrcDeltaMisfit, del[d])
			case c == 0:
				if _, both := slices.BinarySearchFunc(add, base[i], ComparePrefix); both {
					return nil, fmt.Errorf("%w: %v both added and removed", ErrSrcDeltaMisfit, base[i])
				}
				i++
				d++
				continue
			}
		}
		switch {
		case a == len(add):
			out = append(out, base[i])
			i++
		case i == len(base):
			out = append(out, add[a])
			a++
		default:
			switch c := ComparePrefix(add[a], base[i]); {
			case c == 0:
				return nil, fmt.Errorf("%w: %v to add is already held", ErrSrcDeltaMisfit, add[a])
			case c < 0:
				out = append(out, add[a])
				a++
			default:
				out = append(out, base[i])
				i++
			}
		}
	}
	if d < len(del) {
		return nil, fmt.Errorf("%w: %v to remove is not held", ErrSrcDeltaMisfit, del[d])
	}
	if got := SrcSum(out); got != sum {
		return nil, fmt.Errorf("%w: the result's sum is %016x, not %016x", ErrSrcDeltaMisfit, got, sum)
	}
	return out, nil
}

// SrcSum is a checksum of a source list (FNV-1a, 64 bits, over each
// prefix's 16-byte address, its family and its length), so a node checks
// that the list it rebuilt from a delta is the one the coordinator holds.
func SrcSum(src []netip.Prefix) uint64 {
	h := fnv.New64a()
	var b [18]byte
	for _, p := range src {
		a := p.Addr().As16()
		copy(b[:16], a[:])
		b[16] = 6
		if p.Addr().Is4() {
			b[16] = 4
		}
		b[17] = byte(p.Bits())
		h.Write(b[:])
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(src)))
	h.Write(n[:])
	return h.Sum64()
}
