package node

import (
	"bytes"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// Resending refused handshake initiations.
//
// A node learns of a new peer when the peer registers, before the peer's
// relay connection is up: its first handshake initiation to the peer
// reaches a relay that refuses it (not connected; or not a peer, as the
// new node has no token yet), and wireguard-go sends no other one for
// device.RekeyTimeout (5 s). So the side that leads the pair (see
// handshake.go) sends a refused initiation again, the same bytes, with
// waits growing from resendFirst to resendMaxWait, until a frame comes
// from the peer, another packet goes to it (a handshake response or data:
// there is a session), or the initiation is older than resendFor. A copy
// arriving after one that got through is dropped by the responder as a
// replay (its timestamp is not newer), so a resend is as harmless as a
// late packet. The follower does not resend: its attempt is its kick
// keepaliveDelay after the peer was added, and two initiations that cross
// stall the pair until the retry. A resend goes only while the map says
// the peer is online (its map stream is open: it is about to connect to
// the relay), and a peer gets one round per resendQuiet: a peer that is
// offline, or never comes onto the relay, costs no stream of packets.
const (
	resendFirst   = 50 * time.Millisecond
	resendMaxWait = 100 * time.Millisecond
	resendFor     = device.RekeyTimeout - 500*time.Millisecond
	resendQuiet   = 30 * time.Second
	// maxResendPeers bounds the initiations and rounds remembered.
	maxResendPeers = 1024
)

// pendingInit is the last handshake initiation sent to one peer over the
// relay.
type pendingInit struct {
	pkt  []byte
	via  string
	sent time.Time
	// wait is the next resend's wait; timer is nil while no round runs.
	wait  time.Duration
	timer *time.Timer
}

// initResender resends refused handshake initiations over the relay (see
// above). The zero value is ready but never resends: set leads and
// deliver (and online: nil counts every peer online) before use.
type initResender struct {
	// leads reports whether this node leads the pair with the peer, and
	// online whether the map says the peer is online.
	leads, online func(wire.WGPublic) bool
	// deliver sends pkt to the peer over an open connection to relay via,
	// dropping it when there is none.
	deliver func(to wire.WGPublic, via string, pkt []byte)
	// debug logs a round's start; nil: not logged.
	debug func(msg string, args ...any)
	// tracked counts pending initiations and rounds the running rounds,
	// so the packet path looks at the lock only when there are some.
	tracked, rounds atomic.Int32

	mu sync.Mutex // mu guards the fields below
	// closed is set when the link stops: no round starts again.
	closed  bool
	pending map[wire.WGPublic]*pendingInit
	// started is when each peer's last round started.
	started map[wire.WGPublic]time.Time
}

// isInitiation reports whether pkt is a WireGuard handshake initiation.
func isInitiation(pkt []byte) bool {
	return messageType(pkt) == device.MessageInitiationType
}

// sent notes pkt going to the peer to over relay via at now: an initiation
// becomes the peer's pending one; any other WireGuard packet (a response,
// data: there is a session) ends the peer's. A disco packet (a ping the
// path logic sends meanwhile) is no sign of a session and changes nothing.
func (r *initResender) sent(to wire.WGPublic, via string, pkt []byte, now time.Time) {
	init := isInitiation(pkt)
	if !init && (r.tracked.Load() == 0 || disco.Is(pkt)) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pending[to]; p != nil {
		if init && bytes.Equal(p.pkt, pkt) {
			// The same initiation again: the bind's copy for a crossed
			// initiation it dropped (crossing.go). It is the pending one,
			// sent when it first was; its round, if one runs, goes on.
			// Ending the round here left a pair with no handshake until
			// wireguard-go's retry: the copy went to the relay before the
			// peer was on it, was refused, and a refusal within
			// resendQuiet starts no round.
			return
		}
		r.stopLocked(to, p)
	}
	if !init || r.closed {
		return
	}
	if r.pending == nil {
		r.pending = map[wire.WGPublic]*pendingInit{}
	}
	if len(r.pending) >= maxResendPeers {
		for k, p := range r.pending {
			if now.Sub(p.sent) > resendFor {
				r.stopLocked(k, p)
			}
		}
		if len(r.pending) >= maxResendPeers {
			return
		}
	}
	r.pending[to] = &pendingInit{pkt: append([]byte(nil), pkt...), via: via, sent: now}
	r.tracked.Add(1)
}

// refused takes the relay's refusal of a packet to the peer key: when it
// means the peer is not on the relay yet and this node leads the pair, a
// round of resends of the peer's pending initiation starts.
func (r *initResender) refused(key wire.WGPublic, why relay.Reason) {
	if why != relay.NotConnected && why != relay.NotPeer {
		return
	}
	if r.tracked.Load() == 0 || r.leads == nil || !r.leads(key) {
		return
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[key]
	if r.closed || p == nil || p.timer != nil || now.Sub(p.sent) > resendFor {
		return
	}
	if last, ok := r.started[key]; ok && now.Sub(last) < resendQuiet {
		return
	}
	if r.started == nil || len(r.started) >= maxResendPeers {
		r.started = map[wire.WGPublic]time.Time{}
	}
	r.started[key] = now
	if r.debug != nil {
		r.debug("init resend round", "peer", key.ShortString())
	}
	p.wait = resendFirst
	p.timer = time.AfterFunc(p.wait, func() { r.fire(key, p) })
	r.rounds.Add(1)
}

// fire resends p to the peer key and schedules the next resend, or ends
// the round when p is no longer pending or too old.
func (r *initResender) fire(key wire.WGPublic, p *pendingInit) {
	r.mu.Lock()
	if r.closed || r.pending[key] != p || p.timer == nil {
		r.mu.Unlock()
		return
	}
	if time.Since(p.sent) > resendFor {
		r.stopLocked(key, p)
		r.mu.Unlock()
		return
	}
	p.wait = min(2*p.wait, resendMaxWait)
	p.timer.Reset(p.wait)
	r.mu.Unlock()
	if r.online == nil || r.online(key) {
		r.deliver(key, p.via, p.pkt)
	}
}

// underWay reports whether the last packet sent to the peer key over the
// relay is a handshake initiation sent less than device.RekeyTimeout
// before now.
func (r *initResender) underWay(key wire.WGPublic, now time.Time) bool {
	if r.tracked.Load() == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[key]
	return p != nil && now.Sub(p.sent) < device.RekeyTimeout
}

// forget drops the peer key's pending initiation and its round (a kick
// replaces it).
func (r *initResender) forget(key wire.WGPublic) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.pending[key]; p != nil {
		r.stopLocked(key, p)
	}
}

// heard takes a frame from the peer key: the peer is on the relay, so its
// pending initiation's round, if one runs, ends with one last resend,
// which now reaches it. The frame may be an answer to an earlier resend
// (the copy is then a replay the peer drops), or the peer's own
// initiation, which crossed this node's and which the bind drops as this
// node leads (crossing.go): without the copy, the pair had no handshake
// until wireguard-go's 5 s retry whenever the bind's own copy for that
// initiation had gone to the relay just before the peer was on it.
func (r *initResender) heard(key wire.WGPublic) {
	if r.rounds.Load() == 0 {
		return
	}
	r.mu.Lock()
	p := r.pending[key]
	last := p != nil && p.timer != nil && !r.closed
	if p != nil {
		r.stopLocked(key, p)
	}
	r.mu.Unlock()
	if last {
		r.deliver(key, p.via, p.pkt)
	}
}

// stopLocked forgets the peer key's pending initiation p.
func (r *initResender) stopLocked(key wire.WGPublic, p *pendingInit) {
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
		r.rounds.Add(-1)
	}
	delete(r.pending, key)
	r.tracked.Add(-1)
}

// close stops every round for good.
func (r *initResender) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for k, p := range r.pending {
		r.stopLocked(k, p)
	}
}
