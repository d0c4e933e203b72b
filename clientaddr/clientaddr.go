// Package clientaddr finds the address of the client that made an HTTP
// request: the TCP peer, or, when the peer is a reverse proxy the operator
// trusts, the client address the proxies recorded in X-Forwarded-For. The
// header is read only from a trusted peer; anyone else could write in it
// whatever address they like.
package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
)

// maxHops bounds how many X-Forwarded-For entries are looked at, from the
// right; a chain of trusted proxies is never this long.
const maxHops = 32

// Resolver finds client addresses. The zero value trusts no proxy: every
// client is its TCP peer. It is immutable and safe for concurrent use.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver that trusts the reverse proxies in the prefixes
// trusted (masked; IPv4-mapped IPv6 addresses match their IPv4 prefix).
func New(trusted []netip.Prefix) Resolver {
	r := Resolver{}
	for _, p := range trusted {
		if p.IsValid() {
			r.trusted = append(r.trusted, p.Masked())
		}
	}
	return r
}

// Trusts reports whether a is the address of a trusted proxy.
func (res Resolver) Trusts(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client address of r. When the TCP peer is not a
// trusted proxy, that is the peer, whatever the headers say. When it is,
// Addr walks X-Forwarded-For from the right (each proxy appends the
// address it was called from) past the trusted proxies, and returns the
// first address that is not one: the client as the outermost trusted
// proxy saw it. An entry that is not an address ends the walk at the
// proxy that wrote it, as does a chain longer than maxHops; a chain of
// trusted proxies only (or none) gives its leftmost one. A peer whose
// address does not parse gives the zero Addr.
func (res Resolver) Addr(r *http.Request) netip.Addr {
	peer := peerOf(r)
	if !peer.IsValid() || !res.Trusts(peer) {
		return peer
	}
	client := peer
	for i, h := range lastHops(r.Header.Values("X-Forwarded-For"), maxHops+1) {
		a, ok := parseHop(h)
		if !ok || i == maxHops {
			return client
		}
		client = a
		if !res.Trusts(a) {
			return a
		}
	}
	return client
}

// peerOf returns the TCP peer's address of r, unmapped and without a zone.
func peerOf(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// lastHops returns at most n entries of the X-Forwarded-For header lines,
// the last first, without splitting more of them than it returns.
func lastHops(lines []string, n int) []string {
	var hops []string
	for i := len(lines) - 1; i >= 0 && len(hops) < n; i-- {
		l := lines[i]
		for len(hops) < n {
			j := strings.LastIndexByte(l, ',')
			hops = append(hops, strings.TrimSpace(l[j+1:]))
			if j < 0 {
				break
			}
			l = l[:j]
		}
	}
	return hops
}

// parseHop parses one X-Forwarded-For entry: an address, or an address
// with a port ("192.0.2.1:1234", "[2001:db8::1]:1234").
func parseHop(h string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
