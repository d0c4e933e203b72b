package node

import (
	"time"

	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/wire"
)

// How a running flow survives a peer's key rotation.
//
// A device announces its next key to the coordinator, which gives the key
// to the peers at once and tells the device to switch to it a moment
// later (the switch time, 200 ms on). Both ends of a pair must change
// keys together: a WireGuard peer is its public key, so a side holding the
// new key while the other still uses the old one (or the reverse) has no
// session and no way to make one. Peers used to take the new key at the
// announcement: every packet in between was lost, and so was their
// handshake initiation to the new key, after which wireguard-go waits 5 s
// (device.RekeyTimeout) before another; the rotating node waited 1.5 s
// after its switch before it initiated, so a running TCP flow stalled
// 1.4-1.7 s at every rotation.
//
// Now the coordinator also sends, with the new key, the old one and the
// switch time (wire.Node.PrevWGKey, KeySwitchAt; protocol 24). A peer
// keeps the rotating node under the old key until the switch time and
// takes the new key at that moment (keyAt; the Engine wakes for it), on
// its own clock: the control client places the switch as a wait from the
// map message's arrival (the coordinator's KeySwitchAt minus the
// message's ServerTime), as the rotating node places its own switch from
// its rotate answer, so the two ends switch within the difference of the
// two messages' transit times, whatever their clocks say.
//
// At its switch the rotating node starts a handshake at once with every
// peer it keeps alive, and leads every pair for rotationRoles, while each
// peer follows it (peerStart.follow) for as long. Peers switch switchLag
// after the switch time, so the node's first initiation is usually lost
// (the peer still holds the old key); the peer initiates as it switches
// (its keepalive is on at once), and should that meet a second initiation
// of the node's, the node's bind, leading, drops the peer's and sends its
// own again in its place (crossing.go). The node kicks again, rotationRekick
// after its switch, every peer with no handshake since. A peer that takes
// the new key without a hold (an older coordinator: before the node
// switches) delays its keepalive by keepaliveDelay instead: initiating at
// once, it crossed the node's initiation inside wireguard-go, where no
// bind sees it (an initiation read just before the node's switch and
// consumed just after), and the pair had no session for over 10 s in
// about 2 % of the engine's rotation tests. The same can happen when a
// peer ends its hold within a millisecond or so before the node switches
// (the node's timer late by switchLag); the lag makes that rare. And a
// peer that delayed its keepalive everywhere lost, on a connection opened
// at a rotation, its SYN-ACK to the node's second kick (a kick re-creates
// the peer and drops the packets wireguard-go held for the handshake).
//
// The old key is held only while the new one is valid: an expired or
// revoked node is dropped whatever its switch time (Engine.desiredLocked
// checks KeyExpiry first), the coordinator sends no switch for a revoked
// node or past the old key's expiry, and the wait is at most
// control's maxSwitchDelay (a minute) from the message.

// rotationRoles is how long, after a node switched to a new key, it leads
// every pair and its peers follow it: long enough for the handshake the
// switch starts, and its retry (device.RekeyTimeout).
const rotationRoles = device.RekeyTimeout

// rotationRekick is how long after its switch the rotating node waits for
// the handshake it started before it starts another with each peer that
// still has none: its first was lost, or crossed the peer's own.
const rotationRekick = 150 * time.Millisecond

// switchLag is how long after a peer's switch time this node still
// holds it under its old key: the rotating node should switch first.
// Then its last packets under the old key arrive while this side still
// has that session (taking the new key drops it, and with it every packet
// still in flight, which TCP resends only after its 200 ms timeout),
// while this side's packets under the old key still reach it (a switched
// node keeps receiving on its old session); its handshake, lost while this
// side held the old key, is sent again when this side initiates at its
// switch (the bind's crossing rule). The two switches are apart by the
// difference of two messages' transit times and of two timers' lateness
// on a loaded machine (tens of ms were seen), so this costs a flow the lag
// and wins it a retransmission timeout most of the time.
const switchLag = 50 * time.Millisecond

// keyAt returns the key under which peer p is held at now: the one it
// rotated away from (PrevWGKey) until switchLag past its KeySwitchAt, its
// WGKey after.
func keyAt(p wire.Node, now time.Time) wire.WGPublic {
	if !p.PrevWGKey.IsZero() && p.PrevWGKey != p.WGKey && now.Before(switchOf(p)) {
		return p.PrevWGKey
	}
	return p.WGKey
}

// switchOf is when this node takes peer p's new key (see keyAt); zero
// when p announces no switch.
func switchOf(p wire.Node) time.Time {
	if p.KeySwitchAt.IsZero() {
		return time.Time{}
	}
	return p.KeySwitchAt.Add(switchLag)
}
