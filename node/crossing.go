package node

import (
	"encoding/binary"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/wire"
)

// Crossed handshake initiations: the leader's wins.
//
// When both sides of a pair initiate at once, and each initiation reaches
// the other side after that side sent its own, wireguard-go on each side
// consumes the other's initiation, which overwrites the state of its own:
// each answers the other, neither answer fits ("Received invalid response
// message"), and no session exists until wireguard-go retries after
// device.RekeyTimeout (5 s, plus jitter: the first dial of a connection
// made then times out). Nothing in WireGuard breaks that tie, and the
// Engine's timing (the follower starts keepaliveDelay after the leader,
// see handshake.go) does not hold on a loaded machine, where an
// initiation may take longer than that to be sent, carried and read, nor
// when the follower initiates for a packet of its own.
//
// So the bind breaks the tie. The side that leads the pair (see
// handshake.go; a key order both sides agree on, so at most one side
// drops) keeps its last initiation to the peer until the peer's response
// to it arrives (its receiver index is the initiation's sender index) or
// it is older than device.RekeyTimeout (wireguard-go has sent another);
// meanwhile it drops every initiation that comes from the peer, and sends
// its own again in its place (same bytes, at most once per
// crossResendEvery). The follower consumes the leader's initiation
// (overwriting its own state, as it would anyway), answers it, and the
// leader's state fits that answer. A copy after the first is a replay the
// follower drops (its timestamp is not newer). Should the leader's
// initiation never arrive, the copy sent for the follower's initiation
// does; should neither, wireguard-go retries as before.
//
// An initiation of the follower's may arrive twice (over UDP and the
// relay at once), the second copy after the leader's own initiation was
// answered; consumed then, it would overwrite the leader's new session
// state as a crossing does. So for crossResendEvery after an answer, the
// leader drops the peer's initiations too.
//
// The leader claims the tie for one initiation only: once one went
// unanswered (wireguard-go sent another, or it aged past
// device.RekeyTimeout), it yields, letting the follower's initiations
// through, until an answer to one of its own arrives. Otherwise a leader
// whose initiations the follower refuses (its clock stepped back, so its
// timestamps look like replays) would drop the follower's for as long as
// it retries, and the pair would never make a session.

// crossResendEvery bounds how often the leader sends its initiation
// again for initiations it drops (one arrives over UDP and the relay at
// once).
const crossResendEvery = 250 * time.Millisecond

// Offsets in the WireGuard messages the bind looks into.
const (
	initSenderAt      = 4 // the initiator's index in an initiation
	responseReceiver  = 8 // the initiator's index in a response
	cookieReceiver    = 4 // the initiator's index in a cookie reply
	messageTypeLength = 4
)

// leaderInit is the leader's last handshake initiation to a peer while
// it waits for the response.
type leaderInit struct {
	pkt    []byte
	index  uint32
	sent   time.Time
	resent time.Time
}

// crossResend is a pending initiation to send again after the lock is
// released.
type crossResend struct {
	to  wire.WGPublic
	pkt []byte
}

// isTransportData reports whether pkt is a WireGuard data message that
// carries a packet (not a keepalive, which wireguard-go does not pass on).
func isTransportData(pkt []byte) bool {
	return len(pkt) > device.MessageTransportSize && binary.LittleEndian.Uint32(pkt) == device.MessageTransportType
}

// messageType returns the WireGuard message type of pkt when its size
// fits the type (0 otherwise).
func messageType(pkt []byte) uint32 {
	if len(pkt) < messageTypeLength {
		return 0
	}
	t := binary.LittleEndian.Uint32(pkt)
	switch {
	case t == device.MessageInitiationType && len(pkt) == device.MessageInitiationSize,
		t == device.MessageResponseType && len(pkt) == device.MessageResponseSize,
		t == device.MessageCookieReplyType && len(pkt) == device.MessageCookieReplySize:
		return t
	}
	return 0
}

// noteSentHandshakes records the handshake messages among bufs going to
// the peer k at now: the last initiation is the peer's pending one when
// this node leads the pair (a copy the bind sends again keeps its time),
// and a response marks a handshake the peer started as under way (see
// answeredWithin).
func (b *pathBind) noteSentHandshakes(k wire.WGPublic, bufs [][]byte, now time.Time) {
	var last []byte
	response := false
	for _, buf := range bufs {
		switch messageType(buf) {
		case device.MessageInitiationType:
			last = buf
		case device.MessageResponseType:
			response = true
		}
	}
	if last == nil && !response {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[k]
	if p == nil {
		return
	}
	if response {
		p.answered = now
	}
	if last == nil || !p.leads {
		return
	}
	index := binary.LittleEndian.Uint32(last[initSenderAt:])
	if p.init != nil && p.init.index == index {
		return
	}
	if p.init != nil {
		// The last one went unanswered (see yield).
		p.yield = true
	}
	p.init = &leaderInit{pkt: append([]byte(nil), last...), index: index, sent: now}
}

// answeredWithin reports whether this node answered a handshake
// initiation from the peer k less than d before now: the peer has a
// session once the answer arrives, and its first packet confirms this
// side's; re-creating the peer meanwhile would only throw this side's
// away and start another handshake (see handshake.go).
func (b *pathBind) answeredWithin(k wire.WGPublic, now time.Time, d time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.peers[k]
	return p != nil && !p.answered.IsZero() && now.Sub(p.answered) < d
}

// crossedLocked looks at a WireGuard packet from the peer k (zero: not
// known) at now. It reports whether to drop it: an initiation that
// crosses this node's pending one, which is then returned to be sent
// again (nil: not now). A response to the pending initiation ends it, and
// so does a cookie reply (the peer is under load and did not take it).
func (b *pathBind) crossedLocked(k wire.WGPublic, pkt []byte, now time.Time) (drop bool, resend []byte) {
	switch messageType(pkt) {
	case device.MessageResponseType:
		b.answeredLocked(k, binary.LittleEndian.Uint32(pkt[responseReceiver:]), now, true)
		return false, nil
	case device.MessageCookieReplyType:
		b.answeredLocked(k, binary.LittleEndian.Uint32(pkt[cookieReceiver:]), now, false)
		return false, nil
	case device.MessageInitiationType:
	default:
		return false, nil
	}
	p := b.peers[k]
	if p != nil && p.leads && p.init == nil && !p.won.IsZero() && now.Sub(p.won) < crossResendEvery {
		// A copy of an initiation that crossed the one just answered:
		// consuming it would undo that handshake on this side.
		return true, nil
	}
	if p == nil || !p.leads || p.init == nil {
		return false, nil
	}
	if now.Sub(p.init.sent) >= device.RekeyTimeout {
		p.init, p.yield = nil, true
		return false, nil
	}
	if p.yield {
		return false, nil
	}
	if now.Sub(p.init.resent) < crossResendEvery {
		return true, nil
	}
	p.init.resent = now
	return true, p.init.pkt
}

// answeredLocked ends the pending initiation whose sender index is index:
// the peer k's, else (k not known, or a source taken for k's) any peer's;
// response tells an answer (which makes a session at now) from a cookie
// reply.
func (b *pathBind) answeredLocked(k wire.WGPublic, index uint32, now time.Time, response bool) {
	end := func(p *peerPath) {
		p.init, p.yield = nil, false
		if response {
			p.won = now
		}
	}
	if p := b.peers[k]; p != nil && p.init != nil && p.init.index == index {
		end(p)
		return
	}
	for _, p := range b.peers {
		if p.init != nil && p.init.index == index {
			end(p)
		}
	}
}

// sourceLocked returns the peer a UDP packet from a comes from: the one a
// pong confirmed a for, else the one peer that has a among its
// candidates (zero: not known).
func (b *pathBind) sourceLocked(a conn.Endpoint) wire.WGPublic {
	addr := addrOf(a)
	if k, ok := b.confirmed[addr]; ok {
		return k
	}
	return b.candidateOf[addr]
}

// resendInit sends pkt, the pending initiation to the peer k, again over
// the paths a packet to k takes now.
func (b *pathBind) resendInit(k wire.WGPublic, pkt []byte) {
	b.Send([][]byte{pkt}, peerEndpoint{key: k})
}

// forgetInits drops the pending initiations to the peers keys and their
// yield: the caller starts new attempts on purpose (a kick after a
// rotation), which must claim a crossing as a first one does.
func (b *pathBind) forgetInits(keys map[wire.WGPublic]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range keys {
		if p := b.peers[k]; p != nil {
			p.init, p.yield = nil, false
		}
	}
}
