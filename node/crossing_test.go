package node

import (
	"bytes"
	"encoding/binary"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/wire"
)

// holdGate holds the UDP sends of the binds made with it while it is
// closed, and sends them all when it opens.
type holdGate struct {
	mu     sync.Mutex // mu guards the fields below
	closed bool
	held   []heldSend
}

// heldSend is one send a closed holdGate holds.
type heldSend struct {
	bind conn.Bind
	bufs [][]byte
	ep   conn.Endpoint
}

// bind returns a UDP bind whose sends g holds while closed.
func (g *holdGate) bind() conn.Bind { return gatedBind{Bind: conn.NewDefaultBind(), g: g} }

// open sends what g holds, in order, and lets sends through from then
// on; what is sent meanwhile (an answer to what it released) waits for
// its turn, as on a path that keeps the order of packets.
func (g *holdGate) open() {
	for {
		g.mu.Lock()
		held := g.held
		g.held = nil
		if len(held) == 0 {
			g.closed = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		for _, h := range held {
			h.bind.Send(h.bufs, h.ep)
		}
	}
}

// inits counts the handshake initiations g holds.
func (g *holdGate) inits() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, h := range g.held {
		for _, b := range h.bufs {
			if isInitiation(b) {
				n++
			}
		}
	}
	return n
}

// gatedBind is a UDP bind whose sends a holdGate holds.
type gatedBind struct {
	conn.Bind
	g *holdGate
}

func (b gatedBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	b.g.mu.Lock()
	if b.g.closed {
		cp := make([][]byte, len(bufs))
		for i, buf := range bufs {
			cp[i] = append([]byte(nil), buf...)
		}
		b.g.held = append(b.g.held, heldSend{bind: b.Bind, bufs: cp, ep: ep})
		b.g.mu.Unlock()
		return nil
	}
	b.g.mu.Unlock()
	return b.Bind.Send(bufs, ep)
}

// TestCrossedHandshakeInitiationsMakeOneSession: both sides of a pair
// initiate (the leader as it adds the peer, the follower keepaliveDelay
// later), and each initiation reaches the other side only after it sent
// its own, as on a loaded machine. wireguard-go alone answers both, and
// neither answer fits: no session until its retry 5 s later (a first
// dial timed out). The leader drops the follower's initiation while its
// own is unanswered, so its own makes the session, with no answer that
// does not fit and no retry.
func TestCrossedHandshakeInitiationsMakeOneSession(t *testing.T) {
	gate := &holdGate{closed: true}
	logs := map[byte]*logLines{}
	node := func(n byte, name string) *testNode {
		l, logger := newLogLines(t, name)
		logs[n] = l
		return newTestNodeWith(t, n, name, nil, func(c *EngineConfig) { c.Bind, c.Logger = gate.bind, logger })
	}
	leader, follower := node(1, "a"), node(2, "b")
	leaderLog, followerLog := logs[1], logs[2]
	if k1, k2 := leader.self.WGKey, follower.self.WGKey; bytes.Compare(k1[:], k2[:]) < 0 {
		leader, follower, leaderLog, followerLog = follower, leader, followerLog, leaderLog
	}
	leader.addPeers(t, 2, follower.peerOf(time.Time{}))
	follower.addPeers(t, 2, leader.peerOf(time.Time{}))
	eventually(t, "both sides' initiations, held", func() bool {
		return leaderLog.has("Sending handshake initiation") && followerLog.has("Sending handshake initiation") && gate.inits() >= 2
	})
	gate.open()
	eventuallyWithin(t, handshakeWait, "the session on both sides", func() bool { return handshaken(leader) && handshaken(follower) })
	for name, log := range map[string]*logLines{"leader": leaderLog, "follower": followerLog} {
		for _, bad := range []string{"Received invalid response message", "retrying"} {
			if log.has(bad) {
				t.Errorf("%s: %q: the initiations crossed", name, bad)
			}
		}
	}
	if !strings.Contains(leaderLog.String(), "Received handshake response") {
		t.Error("the session is not the leader's")
	}
}

// TestCrossedInitiationRules: what the bind does with an initiation from
// a peer, by whether this node leads the pair and the state of its own
// last initiation to the peer.
func TestCrossedInitiationRules(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	mine, theirs := testInitiation(1), testInitiation(2)
	reply := func(typ uint32, size, at int, index []byte) []byte {
		pkt := make([]byte, size)
		binary.LittleEndian.PutUint32(pkt, typ)
		copy(pkt[at:], index)
		return pkt
	}
	response := func(index []byte) []byte {
		return reply(device.MessageResponseType, device.MessageResponseSize, responseReceiver, index)
	}
	myIndex := mine[initSenderAt : initSenderAt+4]
	otherIndex := []byte{9, 9, 9, 9}
	tests := []struct {
		name   string
		leads  bool
		sent   bool     // this node sent mine at t0
		before [][]byte // what came from the peer after t0
		// anon: what came before, from an address known as no peer's
		anon   bool
		at     time.Duration
		drop   bool
		resend bool
		// gap is how long before at the packets of before came (0: 1 ms).
		gap time.Duration
	}{
		{"leader, own initiation unanswered", true, true, nil, false, time.Second, true, true, 0},
		{"follower, own initiation unanswered", false, true, nil, false, time.Second, false, false, 0},
		{"leader, no initiation of its own", true, false, nil, false, time.Second, false, false, 0},
		{"leader, own initiation answered", true, true, [][]byte{response(myIndex)}, false, time.Second, false, false, crossResendEvery},
		{"leader, own initiation answered from an unknown address", true, true, [][]byte{response(myIndex)}, true, time.Second, false, false, crossResendEvery},
		{"leader, a late copy of a crossed initiation", true, true, [][]byte{response(myIndex)}, false, time.Second, true, false, 0},
		{"follower, own initiation answered just before", false, true, [][]byte{response(myIndex)}, false, time.Second, false, false, 0},
		{"leader, a response to another initiation", true, true, [][]byte{response(otherIndex)}, false, time.Second, true, true, 0},
		{"leader, own initiation met a cookie reply", true, true, [][]byte{reply(device.MessageCookieReplyType, device.MessageCookieReplySize, cookieReceiver, myIndex)}, false, time.Second, false, false, 0},
		{"leader, own initiation too old", true, true, nil, false, device.RekeyTimeout, false, false, 0},
		{"leader, just sent again", true, true, [][]byte{theirs}, false, time.Second, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer := newTestKey(t).Public()
			b := newPathBind(conn.NewDefaultBind(), nil, newTestKey(t), nil)
			b.setPeers(map[wire.WGPublic]peerRoute{peer: {id: 2, leads: tt.leads}})
			if tt.sent {
				b.noteSentHandshakes(peer, [][]byte{mine}, t0)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			from := peer
			if tt.anon {
				from = wire.WGPublic{}
			}
			gap := tt.gap
			if gap == 0 {
				gap = time.Millisecond
			}
			for _, pkt := range tt.before {
				b.crossedLocked(from, pkt, t0.Add(tt.at-gap))
			}
			drop, resend := b.crossedLocked(peer, theirs, t0.Add(tt.at))
			if drop != tt.drop || (resend != nil) != tt.resend {
				t.Fatalf("drop %v, resend %v; want drop %v, resend %v", drop, resend != nil, tt.drop, tt.resend)
			}
			if resend != nil && !bytes.Equal(resend, mine) {
				t.Error("sent again something other than its own initiation")
			}
		})
	}
}

// testClock is a clock that moves only when told.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *testClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// keyedNode starts a test node with key k and the tweak applied.
func keyedNode(t *testing.T, n byte, name string, k wire.WGPrivate, tweak func(*EngineConfig)) *testNode {
	t.Helper()
	tn := newTestNodeWith(t, n, name, nil, func(c *EngineConfig) {
		tweak(c)
		c.PrivateKey = k
	})
	tn.priv, tn.self.WGKey = k, k.Public()
	if err := tn.e.Apply(wire.MapResponse{Version: 2, Full: true, Self: &tn.self}); err != nil {
		t.Fatal(err)
	}
	return tn
}

// TestNoKickRightAfterAnsweringPeer: the follower answered the leader's
// initiation, and its keepalive turns on (keepaliveDelay after it added
// the leader) before the leader's first packet confirmed the session.
// wireguard-go counts no session on the follower yet, but a kick then
// would throw the follower's half away and start a second handshake, so
// the follower does not kick, and the leader's handshake makes the
// session.
func TestNoKickRightAfterAnsweringPeer(t *testing.T) {
	kl, kf := newTestKey(t), newTestKey(t)
	pl, pf := kl.Public(), kf.Public()
	if bytes.Compare(pl[:], pf[:]) < 0 {
		kl, kf = kf, kl
	}
	gate := &holdGate{closed: true}
	clock := newTestClock()
	followerLog, followerLogger := newLogLines(t, "follower")
	leaderLog, leaderLogger := newLogLines(t, "leader")
	follower := keyedNode(t, 2, "follower", kf, func(c *EngineConfig) {
		c.Bind, c.Logger, c.Clock = gate.bind, followerLogger, clock.now
	})
	leader := keyedNode(t, 1, "leader", kl, func(c *EngineConfig) { c.Logger = leaderLogger })
	follower.addPeers(t, 3, leader.peerOf(time.Time{}))
	leader.addPeers(t, 3, follower.peerOf(time.Time{}))
	eventually(t, "the follower's answer to the leader's initiation, sent", func() bool {
		follower.e.mu.Lock()
		defer follower.e.mu.Unlock()
		return follower.e.bind.answeredWithin(leader.self.WGKey, time.Now(), time.Minute)
	})
	clock.advance(2 * keepaliveDelay)
	follower.e.reconcileNow()
	follower.e.mu.Lock()
	keepalive := follower.e.have[leader.self.WGKey].keepalive
	follower.e.mu.Unlock()
	if !keepalive {
		t.Fatal("the follower's keepalive did not turn on")
	}
	if followerLog.has("handshake kicked") {
		t.Error("the follower kicked the peer right after answering its initiation")
	}
	gate.open()
	eventuallyWithin(t, handshakeWait, "the session on both sides", func() bool { return handshaken(leader) && handshaken(follower) })
	if followerLog.has("Sending handshake initiation") || leaderLog.has("Received handshake initiation") {
		t.Error("a second handshake: the follower initiated")
	}
}

// TestLeaderYieldsAfterUnansweredInitiation pins the review's finding "a
// leader whose initiations the follower rejects blocks the follower's
// initiations while it keeps retrying" (a leader's clock stepped back
// makes its initiations look like replays): once one of the leader's
// initiations went unanswered and wireguard-go sent another, or it aged
// out, the follower's initiations go through; an answer to the leader
// makes it claim the tie again.
func TestLeaderYieldsAfterUnansweredInitiation(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	first, second, theirs := testInitiation(1), testInitiation(3), testInitiation(2)
	second[initSenderAt] = 7 // another sender index
	for _, tt := range []struct {
		name  string
		retry bool // wireguard-go sent another (else the first aged out)
	}{{"retried", true}, {"aged out", false}} {
		t.Run(tt.name, func(t *testing.T) {
			peer := newTestKey(t).Public()
			b := newPathBind(conn.NewDefaultBind(), nil, newTestKey(t), nil)
			b.setPeers(map[wire.WGPublic]peerRoute{peer: {id: 2, leads: true}})
			b.noteSentHandshakes(peer, [][]byte{first}, t0)
			at := t0.Add(device.RekeyTimeout + time.Second)
			if tt.retry {
				b.noteSentHandshakes(peer, [][]byte{second}, t0.Add(device.RekeyTimeout))
			} else {
				b.mu.Lock()
				b.crossedLocked(peer, theirs, t0.Add(device.RekeyTimeout))
				b.mu.Unlock()
				b.noteSentHandshakes(peer, [][]byte{second}, at.Add(-time.Millisecond))
			}
			b.mu.Lock()
			drop, _ := b.crossedLocked(peer, theirs, at)
			b.mu.Unlock()
			if drop {
				t.Fatal("the leader dropped the follower's initiation after its own went unanswered")
			}
			resp := make([]byte, device.MessageResponseSize)
			binary.LittleEndian.PutUint32(resp, device.MessageResponseType)
			copy(resp[responseReceiver:], second[initSenderAt:initSenderAt+4])
			b.mu.Lock()
			b.crossedLocked(peer, resp, at.Add(time.Millisecond))
			b.mu.Unlock()
			b.noteSentHandshakes(peer, [][]byte{first}, at.Add(2*time.Millisecond))
			b.mu.Lock()
			drop, _ = b.crossedLocked(peer, theirs, at.Add(3*time.Millisecond))
			b.mu.Unlock()
			if !drop {
				t.Error("after an answer the leader no longer settles a crossing")
			}
		})
	}
}
