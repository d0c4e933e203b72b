package node

import (
	"net/netip"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

// How the first handshake with a peer starts without waiting for
// wireguard-go's 5 s retry.
//
// wireguard-go sends a handshake initiation when the persistent keepalive
// is turned on (or a packet waits for a session), and then sends no other
// one for REKEY_TIMEOUT (5 s, device.RekeyTimeout) — even when that
// initiation could not be sent at all because the peer had no endpoint
// yet, and even when an endpoint is set later. Only a newly created peer
// starts with that limit cleared. So a pair whose first attempts fail
// waits 5 s, unless we start a new attempt ourselves. We call that a kick:
// the peer is removed from the device and added again in one UAPI "set",
// with the keepalive on, so wireguard-go initiates at once. Re-creating a
// peer drops its sessions and queued packets, so a kick only happens when
// the device has no live session with the peer (no handshake within
// device.RejectAfterTime). Queued packets would only be resent by TCP, a
// second later: Engine.DialPeer sends nothing while the device knows no
// endpoint for the peer, so a new connection's SYN is not among them.
//
// Who kicks, and when. Of each pair, the side with the greater public key
// "leads" (see keepaliveDelay), the other "follows":
//
//   - A new peer: the leader adds it with the keepalive on, which initiates
//     at once; the follower turns the keepalive on keepaliveDelay later,
//     and that is a kick if no session exists by then.
//   - A peer's endpoint becomes known or changes (while no session exists):
//     the leader kicks at once; the follower kicks keepaliveDelay later,
//     if still no session exists then.
//
// Why no order of events waits for the retry. An initiation succeeds when
// the initiator has the responder's endpoint and the responder has the
// initiator as a peer (it learns the initiator's endpoint from the
// packet). A pair handshakes once four facts hold: L has F, L has F's
// endpoint, F has L, F has L's endpoint (an endpoint comes with or after
// its peer). Look at the event that makes the last of them true:
//
//   - L gets F's endpoint (adding F with it, or learning it later): F
//     already has L, and L initiates at once (the add, or a kick).
//   - F gets L's endpoint (same two ways): L already has F, and F
//     initiates keepaliveDelay later (the keepalive turning on, or a
//     kick) unless a session exists by then.
//
// Every earlier attempt may have failed (no endpoint yet, or the other side
// did not know the sender yet); the attempt made for the last event does
// not, whatever the order.
//
// Two initiations that cross would cancel each other out until the retry,
// so the two sides never act on one event at the same moment: when both
// see an event (L restarts: it adds F, and reports an endpoint that F then
// learns), the leader acts at once and the follower keepaliveDelay later,
// by when the leader's handshake has usually made a session and the
// follower's kick is skipped. That timing does not always hold (on a
// loaded machine an initiation may take longer than keepaliveDelay to
// arrive), nor does it cover an initiation wireguard-go starts on its own
// for a packet (a new connection on the follower, crossing the leader's
// initiation held for the relay or resent): when two initiations cross,
// the bind makes the leader's win (crossing.go). A kick is also skipped
// when the last one went to the same endpoint less than
// device.RekeyTimeout ago: that attempt may still be in flight, and
// re-creating the peer would discard it; and when the device answered the
// peer's initiation less than device.RekeyTimeout ago: wireguard-go counts
// the responder's session only once the initiator's first packet confirms
// it, and a kick in between (the follower's, keepaliveDelay after the
// peer was added, just after the leader's initiation arrived) threw that
// session away and started a second handshake.
//
// A peer with a live session is never re-created; a new endpoint is set in
// place and used by the next packet (the keepalive at the latest).
//
// With the relay. Every packet to a peer without a working direct path
// also goes over the relay, whatever the endpoint: held by the relay link
// until its connection is up, and resent by the leader while the relay
// refuses it because the peer is not on it yet (initresend.go). So an
// attempt made while the relay was connected is under way for
// device.RekeyTimeout whatever endpoint arrives meanwhile, and no kick
// replaces it: re-creating the peer would drop the packets wireguard-go
// queued for the session, such as a new connection's SYN, which TCP sends
// again only a second later. Nor is a peer kicked while the last packet
// that went to it over the relay is an initiation of less than
// device.RekeyTimeout (one wireguard-go started for a packet, such as that
// SYN): the follower's delayed kick would otherwise drop the SYN of a
// connection opened at once. The leader's attempt, held or resent, makes
// the session; should both be lost, wireguard-go retries after
// device.RekeyTimeout.

// peerStart is what the Engine remembers about starting handshakes with
// one configured peer.
type peerStart struct {
	// added is when the peer was added to the device: the start of the
	// follower's keepaliveDelay.
	added time.Time
	// kickAt is when a scheduled kick is due; zero when none is.
	kickAt time.Time
	// kicked is when the device was last made to initiate to kickedTo
	// (by a kick, or by adding the peer with the keepalive on); zero when
	// never.
	kicked   time.Time
	kickedTo netip.AddrPort
	// relayed is set when that attempt was made while the relay was
	// connected: it is under way whatever the endpoint (see above).
	relayed bool
	// follow makes this side follow whatever the key order, until
	// rotationRoles after added: the peer rotated to this key and
	// handshakes with us as it switches (see keyswitch.go).
	follow bool
}

// schedule records the kick that a change of the peer's configuration
// from have to want calls for at now, if any.
func (s *peerStart) schedule(have, want peerConf, now time.Time) {
	switch {
	case want.endpoint.IsValid() && want.endpoint != have.endpoint:
		at := now
		if !want.leads {
			at = now.Add(keepaliveDelay)
		}
		s.kickAt = at
	case want.keepalive && !have.keepalive:
		s.kickAt = earliest(s.kickAt, now)
	}
}

// due reports whether a kick is due at now and would start an attempt that
// is not already under way; it clears the scheduled kick when it is due.
// The caller still checks that no session exists.
func (s *peerStart) due(c peerConf, now time.Time) bool {
	if s.kickAt.IsZero() || now.Before(s.kickAt) {
		return false
	}
	s.kickAt = time.Time{}
	if !c.keepalive || !c.endpoint.IsValid() {
		return false
	}
	if s.relayed && now.Sub(s.kicked) < device.RekeyTimeout {
		return false
	}
	return s.kickedTo != c.endpoint || now.Sub(s.kicked) >= device.RekeyTimeout
}

// noteAdded updates s after the device was configured with c, the peer
// having just been created (added or re-created) when created is set,
// while the relay was connected when relayed is set.
func (s *peerStart) noteAdded(c peerConf, created, relayed bool, now time.Time) {
	if s.added.IsZero() {
		s.added = now
	}
	if created && c.keepalive && (c.endpoint.IsValid() || relayed) {
		s.kicked, s.kickedTo, s.relayed = now, c.endpoint, relayed
	}
}

// liveSession reports whether the device has a session with a peer whose
// stats are ps at now.
func liveSession(ps peerStats, now time.Time) bool {
	return !ps.lastHandshake.IsZero() && now.Sub(ps.lastHandshake) < device.RejectAfterTime
}
