package node

import (
	"net/netip"
	"slices"
	"time"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/netcheck"
)

// natState is what the node knows of its own NAT from the STUN answers
// to its WireGuard socket: whether the NAT maps the socket to one public
// address for every destination (easy) or to one per destination (hard).
// Birthday probing (birthday.go) needs both sides to know it.
type natState struct {
	// alts are STUN servers asked only to classify the NAT (a relay's
	// second address, wire.Relay.STUNAlt): their answers never become the
	// reflexive address.
	alts []netip.AddrPort
	// round is when the round of requests the answers in mapped belong to
	// was sent (every request of a round is sent at once).
	round  time.Time
	mapped map[netip.AddrPort]netip.AddrPort
	// class is the NAT's class from the last round two servers answered
	// (0: not known yet).
	class disco.NATClass
}

// classOf returns the NAT class netcheck.Classify concludes from one
// round's answers (0 when it cannot tell).
func classOf(mapped map[netip.AddrPort]netip.AddrPort) disco.NATClass {
	obs := make([]netcheck.Observation, 0, len(mapped))
	for server, m := range mapped {
		obs = append(obs, netcheck.Observation{Server: server, Mapped: m})
	}
	switch netcheck.Classify(obs).NAT {
	case netcheck.EndpointIndependent:
		return disco.NATEasy
	case netcheck.Symmetric:
		return disco.NATHard
	}
	return 0
}

// setSTUNAlt takes the STUN servers asked only to classify the NAT.
func (b *pathBind) setSTUNAlt(alts []netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !slices.Equal(b.nat.alts, alts) {
		b.nat.alts, b.nextSTUN = slices.Clone(alts), time.Time{}
	}
}

// stunTargetsLocked returns every STUN server a round asks.
func (b *pathBind) stunTargetsLocked() []netip.AddrPort {
	return slices.Concat(b.stunServers, b.nat.alts)
}

// isAltLocked reports whether server is asked only to classify the NAT.
func (b *pathBind) isAltLocked(server netip.AddrPort) bool {
	return slices.Contains(b.nat.alts, server) && !slices.Contains(b.stunServers, server)
}

// noteMappingLocked takes a STUN answer: server saw the socket as mapped,
// for the round sent at round. When two servers of one round answered,
// the class is decided again; a change starts discovery over (peers
// learn the new class in the next round's NAT message).
func (b *pathBind) noteMappingLocked(server, mapped netip.AddrPort, round time.Time) {
	if !round.Equal(b.nat.round) {
		if round.Before(b.nat.round) {
			return // an answer to an older round
		}
		b.nat.round, b.nat.mapped = round, map[netip.AddrPort]netip.AddrPort{}
	}
	b.nat.mapped[server] = mapped
	c := classOf(b.nat.mapped)
	if c == 0 || c == b.nat.class {
		return
	}
	b.log.Info("NAT class", "class", natClassName(c), "was", natClassName(b.nat.class))
	b.nat.class = c
	b.restartDiscoveryLocked()
}

// natClass names the node's NAT class for status ("" when unknown).
func (b *pathBind) natClass() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nat.class == 0 {
		return ""
	}
	return natClassName(b.nat.class)
}

// natClassName names a class for logs and status.
func natClassName(c disco.NATClass) string {
	switch c {
	case disco.NATEasy:
		return "easy"
	case disco.NATHard:
		return "hard"
	}
	return "unknown"
}
