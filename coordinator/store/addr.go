package store

import (
	"fmt"
	"net/netip"
)

// The IPv4 overlay range is 100.64.0.0/10 (CGNAT space). An address is kept
// as its index in that range: index i is 100.64.0.0 + i. A node's IPv6
// address is derived from the same index (see addrsFor), so one allocation
// gives both and one quarantine covers both.
const (
	v4Base uint32 = 0x64400000 // 100.64.0.0
	v4Size uint32 = 1 << 22    // addresses in a /10
	// serviceBlock is 100.100.100.0/24 shifted right by 8: kept for
	// addresses the coordinator itself serves in the overlay (DNS and the
	// like at 100.100.100.100).
	serviceBlock uint32 = 0x646464
)

// DefaultULA is the IPv6 /48 that node addresses come from unless Open is
// given another with WithULA. Its bytes after fd spell "\xaaward".
const DefaultULA = "fdaa:7761:7264::/48"

// defaultULA is DefaultULA parsed.
var defaultULA = netip.MustParsePrefix(DefaultULA)

// reserved reports whether index i must never be handed out: the range's
// first and last address, any address ending in .0 or .255 (which some
// embedded IP stacks mistake for a network or broadcast address), and the
// 100.100.100.0/24 service block.
func reserved(i uint32) bool {
	a := v4Base + i
	switch {
	case i == 0, i >= v4Size-1:
		return true
	case a&0xff == 0, a&0xff == 0xff:
		return true
	case a>>8 == serviceBlock:
		return true
	}
	return false
}

// nextUsable returns the first index >= i that is not reserved, or v4Size
// when there is none.
func nextUsable(i uint32) uint32 {
	for i < v4Size && reserved(i) {
		i++
	}
	return i
}

// lowestFree returns the lowest usable index >= from that occupied does not
// yield. occupied yields indices in ascending order and false when done.
func lowestFree(from uint32, occupied func() (uint32, bool, error)) (uint32, error) {
	cand := nextUsable(from)
	for cand < v4Size {
		o, ok, err := occupied()
		switch {
		case err != nil:
			return 0, err
		case !ok || o > cand:
			return cand, nil
		case o == cand:
			cand = nextUsable(cand + 1)
		}
	}
	return 0, ErrAddressesExhausted
}

// addrsFor returns the IPv4 and IPv6 addresses of index i. The IPv6 address
// is the ULA /48 with the IPv4 address in its last 32 bits, so
// 100.64.0.1 pairs with fdaa:7761:7264::6440:1.
func addrsFor(i uint32, ula netip.Prefix) (v4, v6 netip.Addr) {
	a := v4Base + i
	b4 := [4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
	b6 := ula.Addr().As16()
	copy(b6[12:], b4[:])
	return netip.AddrFrom4(b4), netip.AddrFrom16(b6)
}

// checkULA validates an IPv6 prefix for node addresses: a masked /48 inside
// fc00::/7.
func checkULA(p netip.Prefix) error {
	ula := netip.MustParsePrefix("fc00::/7")
	if !p.IsValid() || p.Bits() != 48 || p != p.Masked() || !ula.Contains(p.Addr()) {
		return fmt.Errorf("%w: ipv6 prefix %s is not a unique local /48", ErrInvalid, p)
	}
	return nil
}
