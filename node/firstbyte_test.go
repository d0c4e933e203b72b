package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/wardnet/ward/disco"
	"github.com/wardnet/ward/filter"
	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// testRelay is a real relay server on loopback that relays between any
// two keys, with the signer of its tokens.
type testRelay struct {
	srv    *httptest.Server
	signer *relay.Signer
}

// anyPeers lets every key send to every other.
type anyPeers struct{}

func (anyPeers) MayRelay(from, to wire.WGPublic) bool { return true }

func startTestRelay(t *testing.T) *testRelay {
	t.Helper()
	signer, err := relay.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	rs := relay.NewServer(relay.Config{Verifier: relay.NewVerifier(signer.Public(), 0), Authorizer: anyPeers{}})
	srv := httptest.NewServer(rs)
	t.Cleanup(func() { rs.Close(); srv.Close() })
	return &testRelay{srv: srv, signer: signer}
}

// token returns a token admitting key.
func (r *testRelay) token(t *testing.T, key wire.WGPublic) string {
	t.Helper()
	now := time.Now()
	tok, err := r.signer.Issue(relay.Claims{Key: key, IssuedAt: now, Expiry: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial connects key to the relay as a hand-made client.
func (r *testRelay) dial(t *testing.T, key wire.WGPublic) *relay.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	c, err := relay.Dial(ctx, r.srv.URL+"/relay", r.token(t, key), r.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// relays is the map's relay list naming r.
func (r *testRelay) relays() []wire.Relay { return []wire.Relay{{Name: "r", URL: "/relay"}} }

// gatedTokens is a RelayTokens for one key whose tokens wait until open
// is closed: the node's relay connection comes up when the test says.
type gatedTokens struct {
	r    *testRelay
	t    *testing.T
	key  func() wire.WGPublic
	open chan struct{}
}

func newGatedTokens(t *testing.T, r *testRelay, key func() wire.WGPublic) *gatedTokens {
	return &gatedTokens{r: r, t: t, key: key, open: make(chan struct{})}
}

func (g *gatedTokens) RelayToken(ctx context.Context) (wire.RelayTokenResponse, error) {
	select {
	case <-g.open:
	case <-ctx.Done():
		return wire.RelayTokenResponse{}, ctx.Err()
	}
	now := time.Now()
	tok, err := g.r.signer.Issue(relay.Claims{Key: g.key(), IssuedAt: now, Expiry: now.Add(time.Minute)})
	return wire.RelayTokenResponse{Token: tok}, err
}
func (g *gatedTokens) RelayURL(r wire.Relay) (string, error) { return g.r.srv.URL + r.URL, nil }
func (g *gatedTokens) HTTPClient() *http.Client              { return g.r.srv.Client() }
func (g *gatedTokens) STUNAddr(context.Context, wire.Relay) (netip.AddrPort, error) {
	return netip.AddrPort{}, errors.New("no STUN here")
}

// recvFrame returns c's next frame, failing the test after deadline.
func recvFrame(t *testing.T, c *relay.Client) relay.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), deadline)
	defer cancel()
	f, err := c.Recv(ctx)
	if err != nil {
		t.Fatalf("relay receive: %v", err)
	}
	return f
}

// testInitiation returns a packet shaped as a handshake initiation, its
// bytes after the type set to tag.
func testInitiation(tag byte) []byte {
	pkt := bytes.Repeat([]byte{tag}, device.MessageInitiationSize)
	binary.LittleEndian.PutUint32(pkt, device.MessageInitiationType)
	return pkt
}

// runLink runs a relay link over tokens with r's relay list until the
// test ends; it leads every pair when leads is set and sees every peer
// online when online is.
func runLink(t *testing.T, r *testRelay, tokens RelayTokens, leads, online bool) *relayLink {
	t.Helper()
	l := newRelayLink(tokens, failLog(t, "link"))
	l.inits.leads = func(wire.WGPublic) bool { return leads }
	l.inits.online = func(wire.WGPublic) bool { return online }
	l.setRelays(r.relays())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// TestRelayHoldsPacketsSentBeforeItConnects: what wireguard-go sends
// while the relay connection is still being dialled (a starting node's
// first handshake initiation) is delivered once it connects, in order,
// rather than dropped.
func TestRelayHoldsPacketsSentBeforeItConnects(t *testing.T) {
	r := startTestRelay(t)
	self, peer := newTestKey(t).Public(), newTestKey(t).Public()
	pc := r.dial(t, peer)
	tokens := newGatedTokens(t, r, func() wire.WGPublic { return self })
	l := runLink(t, r, tokens, false, true)
	eventually(t, "the link dials", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.conns["r"] != nil
	})
	first, second := testInitiation(1), []byte("then data")
	l.send(peer, "", first)
	l.send(peer, "", second)
	if l.connected() {
		t.Fatal("the link connected before its token was issued")
	}
	close(tokens.open)
	for i, want := range [][]byte{first, second} {
		f := recvFrame(t, pc)
		if f.Type != relay.TypeRecv || f.Key != self || !bytes.Equal(f.Payload, want) {
			t.Fatalf("frame %d: type %d from %s, %d bytes; want the packet sent before the link connected", i, f.Type, f.Key.ShortString(), len(f.Payload))
		}
	}
}

// TestRelayResendsRefusedInitiationWhenLeading: a handshake initiation
// the relay refuses because the peer is not on it yet (it just
// registered) is sent again by the side that leads the pair while the map
// says the peer is online, so it reaches the peer once the peer connects;
// the follower does not resend (its own attempt comes later, and two
// would cross), and no resend goes to a peer that is offline.
func TestRelayResendsRefusedInitiationWhenLeading(t *testing.T) {
	tests := []struct {
		name          string
		leads, online bool
	}{
		{"leader", true, true},
		{"follower", false, true},
		{"leader, peer offline", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leads, resent := tt.leads, tt.leads && tt.online
			r := startTestRelay(t)
			self, peer := newTestKey(t).Public(), newTestKey(t).Public()
			tokens := newGatedTokens(t, r, func() wire.WGPublic { return self })
			close(tokens.open)
			l := runLink(t, r, tokens, leads, tt.online)
			eventually(t, "the link connects", l.connected)
			init := testInitiation(2)
			l.send(peer, "", init)
			eventually(t, "the relay's refusal", func() bool {
				l.mu.Lock()
				c := l.conns["r"]
				l.mu.Unlock()
				return c != nil && c.frames.Load() > 0
			})
			if leads {
				eventually(t, "a resend round", func() bool { return l.inits.rounds.Load() == 1 })
			} else if time.Sleep(noAnswer); l.inits.rounds.Load() != 0 {
				t.Fatal("the follower resends its refused initiation")
			}
			pc := r.dial(t, peer)
			if resent {
				if f := recvFrame(t, pc); f.Type != relay.TypeRecv || f.Key != self || !bytes.Equal(f.Payload, init) {
					t.Fatalf("the peer's first frame: type %d from %s, %d bytes; want the refused initiation", f.Type, f.Key.ShortString(), len(f.Payload))
				}
			} else {
				time.Sleep(noAnswer) // a resend would come within resendMaxWait
			}
			// Another packet to the peer ends the round: a session exists.
			l.send(peer, "", []byte("data"))
			if n := l.inits.rounds.Load(); n != 0 {
				t.Errorf("%d resend rounds after a data packet, want none", n)
			}
			for {
				f := recvFrame(t, pc)
				if string(f.Payload) == "data" {
					break
				}
				if !resent || !bytes.Equal(f.Payload, init) {
					t.Fatalf("the peer got %d bytes before the data packet, want the data packet (after copies of the leader's initiation)", len(f.Payload))
				}
			}
		})
	}
}

// logLines is a debug logger whose lines can be searched.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func newLogLines(t *testing.T, name string) (*logLines, *slog.Logger) {
	l := &logLines{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, l.String())
		}
	})
	return l, slog.New(slog.NewTextHandler(lockedWriter{&l.mu, &l.buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logLines) has(s string) bool { return strings.Contains(l.String(), s) }

// relayOnlyPair starts two Engines whose UDP sends vanish, on relay r:
// the early one connected, the late one (the pair's leader when lateLeads
// is set) getting its relay connection only when the returned func is
// called, on lateClock when not nil; the early one exposes expose. It
// returns them and the late one's logs.
func relayOnlyPair(t *testing.T, r *testRelay, lateLeads bool, lateClock func() time.Time, expose ...uint16) (early, late *testNode, lateLog *logLines, connectLate func()) {
	t.Helper()
	cut := new(atomic.Bool)
	cut.Store(true)
	k1, k2 := newTestKey(t), newTestKey(t)
	p1, p2 := k1.Public(), k2.Public()
	if (bytes.Compare(p1[:], p2[:]) > 0) != lateLeads {
		k1, k2 = k2, k1
	}
	lateLog, lateLogger := newLogLines(t, "late")
	var lateTokens *gatedTokens
	node := func(n byte, name string, k wire.WGPrivate, log *slog.Logger, expose ...uint16) *testNode {
		tokens := newGatedTokens(t, r, func() wire.WGPublic { return k.Public() })
		if log == nil {
			close(tokens.open)
		} else {
			lateTokens = tokens
		}
		tn := newTestNodeWith(t, n, name, nil, func(c *EngineConfig) {
			c.PrivateKey, c.Relays = k, tokens
			c.Bind = func() conn.Bind { return cutBind{Bind: conn.NewDefaultBind(), cut: cut} }
			if log != nil {
				c.Logger, c.Clock = log, lateClock
			}
		}, expose...)
		tn.priv, tn.self.WGKey = k, k.Public()
		if err := tn.e.Apply(wire.MapResponse{Version: 2, Full: true, Self: &tn.self, Relays: r.relays()}); err != nil {
			t.Fatal(err)
		}
		return tn
	}
	early = node(1, "early", k2, nil, expose...)
	late = node(2, "late", k1, lateLogger)
	eventually(t, "the early node's relay connects", early.e.relay.connected)
	return early, late, lateLog, func() { close(lateTokens.open) }
}

// online returns n as a peer entry whose map stream is open.
func online(n *testNode) wire.Node {
	p := n.peerOf(time.Time{})
	p.Online = true
	return p
}

// TestFirstHandshakeOverRelayIsNotLost: a node that starts learns its
// peer with its first map and initiates at once, before its relay
// connection is up; the initiation is delivered when it connects, so the
// session it makes is the node's own (the old node never has to
// initiate). And when the node that was there first leads, its initiation,
// refused while the new node was not on the relay, reaches the new node
// once it connects, before the new node's own attempt.
func TestFirstHandshakeOverRelayIsNotLost(t *testing.T) {
	t.Run("the starting node leads", func(t *testing.T) {
		r := startTestRelay(t)
		early, late, lateLog, connect := relayOnlyPair(t, r, true, nil)
		early.addPeers(t, 3, online(late))
		late.addPeers(t, 3, online(early))
		eventually(t, "the starting node's first initiation", func() bool { return lateLog.has("Sending handshake initiation") })
		connect()
		eventuallyWithin(t, handshakeWait, "the session", func() bool { return lateLog.has("Received handshake response") })
		if lateLog.has("Failed to send handshake initiation") || lateLog.has("Received handshake initiation") {
			t.Error("the starting node's first initiation was lost: the session came another way")
		}
	})
	t.Run("the node there first leads", func(t *testing.T) {
		r := startTestRelay(t)
		early, late, lateLog, connect := relayOnlyPair(t, r, false, nil)
		late.addPeers(t, 3, online(early))
		early.addPeers(t, 3, online(late))
		eventually(t, "the relay's refusal of the first initiation", func() bool { return early.e.relay.inits.rounds.Load() > 0 })
		connect()
		eventuallyWithin(t, handshakeWait, "the session", func() bool {
			return lateLog.has("Received handshake response") || lateLog.has("Receiving keepalive packet")
		})
		if !lateLog.has("Received handshake initiation") {
			t.Error("the first node's initiation never reached the new node: the session came from the new node's later attempt")
		}
	})
}

// TestFollowerKickKeepsQueuedSYN: a starting node that follows the pair
// and opens a connection at once sends the SYN before its relay
// connection is up: wireguard-go queues it and initiates for it. That
// initiation is under way (held for the relay), so the follower's kick
// keepaliveDelay later does not re-create the peer, which would drop the
// SYN (TCP would send it again only a second later): the connection is
// made with the first SYN. The late node's clock stands still until its
// initiation for the SYN is out (on a loaded machine the dial may come
// after keepaliveDelay), then moves past the kick.
func TestFollowerKickKeepsQueuedSYN(t *testing.T) {
	r := startTestRelay(t)
	open := startEchoServer(t)
	clock := newTestClock()
	early, late, lateLog, connect := relayOnlyPair(t, r, false, clock.now, open)
	if err := early.e.Apply(wire.MapResponse{Version: 3, FilterChanged: true, Filter: []filter.Rule{allowFrom(late, early, open)}}); err != nil {
		t.Fatal(err)
	}
	// Offline in the early node's map: it does not resend its refused
	// initiation, so the late node's is the one that makes the session.
	early.addPeers(t, 4, late.peerOf(time.Time{}))
	late.addPeers(t, 3, online(early))
	done := make(chan error, 1)
	go func() { done <- echoThrough(late, "early", open, handshakeWait) }()
	eventually(t, "the late node's initiation for the SYN, on its way to the relay", func() bool {
		return late.e.relay.inits.underWay(early.self.WGKey, time.Now())
	})
	clock.advance(2 * keepaliveDelay)
	late.e.reconcileNow()
	late.e.mu.Lock()
	keepalive := late.e.have[early.self.WGKey].keepalive
	late.e.mu.Unlock()
	if !keepalive {
		t.Fatal("the follower's keepalive did not turn on, where it would kick")
	}
	connect()
	if err := <-done; err != nil {
		t.Fatalf("echo through the late node's first connection: %v", err)
	}
	if lateLog.has("handshake kicked") {
		t.Error("the follower kicked the peer while its initiation for the SYN was under way: the SYN was dropped")
	}
}

// TestRelayedInitiationStaysUnderWayPastDisco: an initiation sent over
// the relay stays under way (no kick replaces it) while the path logic
// sends the peer disco packets over the relay too; a response or data
// (a session) ends it.
func TestRelayedInitiationStaysUnderWayPastDisco(t *testing.T) {
	peer := newTestKey(t).Public()
	t0 := time.Now()
	data := bytes.Repeat([]byte{4}, 64)
	binary.LittleEndian.PutUint32(data, device.MessageTransportType)
	tests := []struct {
		name  string
		after []byte
		want  bool
	}{
		{"a disco packet", append([]byte(disco.Magic), make([]byte, 40)...), true},
		{"data", data, false},
	}
	for _, tt := range tests {
		var r initResender
		r.sent(peer, "", testInitiation(1), t0)
		r.sent(peer, "", tt.after, t0.Add(time.Millisecond))
		if got := r.underWay(peer, t0.Add(time.Second)); got != tt.want {
			t.Errorf("after %s: under way %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCrossedInitiationCopyKeepsResendRound: the leader's copy of its
// pending initiation, sent again for a crossed initiation from the peer
// that it dropped (crossing.go), is the same initiation: its round of
// resends over the relay goes on when the relay refuses the copy too (the
// peer is not on it yet). Ending the round left the pair without a
// handshake until wireguard-go's 5 s retry (seen in e2e after a re-login:
// the new key's first byte after 5.1 s).
func TestCrossedInitiationCopyKeepsResendRound(t *testing.T) {
	peer := newTestKey(t).Public()
	var delivered atomic.Int32
	r := initResender{leads: func(wire.WGPublic) bool { return true }, online: func(wire.WGPublic) bool { return true },
		deliver: func(wire.WGPublic, string, []byte) { delivered.Add(1) }}
	defer r.close()
	init := testInitiation(5)
	r.sent(peer, "", init, time.Now())
	r.refused(peer, relay.NotConnected)
	if n := r.rounds.Load(); n != 1 {
		t.Fatalf("%d resend rounds after the refusal, want 1", n)
	}
	r.sent(peer, "", append([]byte(nil), init...), time.Now()) // the crossing copy
	r.refused(peer, relay.NotConnected)
	if n := r.rounds.Load(); n != 1 {
		t.Fatalf("%d resend rounds after the crossing copy's refusal, want 1", n)
	}
	eventually(t, "a resend after the copy", func() bool { return delivered.Load() > 0 })
	if !r.underWay(peer, time.Now()) {
		t.Error("the initiation is not under way after its copy")
	}
	// Another initiation (wireguard-go's retry) replaces it and its round.
	r.sent(peer, "", testInitiation(6), time.Now())
	if n := r.rounds.Load(); n != 0 {
		t.Errorf("%d resend rounds after a new initiation, want 0", n)
	}
}

// TestHeardPeerGetsPendingInitiation: a frame from the peer while a
// round of resends runs (the peer is on the relay now) ends the round
// with one last resend, which now reaches it. The frame may be the peer's
// own initiation, crossing this node's, which the bind drops as this
// node leads: without the copy, neither initiation was ever consumed and
// the pair waited for wireguard-go's 5 s retry.
func TestHeardPeerGetsPendingInitiation(t *testing.T) {
	peer := newTestKey(t).Public()
	var got [][]byte
	var mu sync.Mutex
	r := initResender{leads: func(wire.WGPublic) bool { return true }, online: func(wire.WGPublic) bool { return true },
		deliver: func(_ wire.WGPublic, _ string, pkt []byte) { mu.Lock(); got = append(got, pkt); mu.Unlock() }}
	defer r.close()
	init := testInitiation(7)
	r.sent(peer, "", init, time.Now())
	r.refused(peer, relay.NotPeer)
	r.heard(peer) // before the round's first resend
	if n := r.rounds.Load(); n != 0 {
		t.Fatalf("%d resend rounds after the peer was heard, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !bytes.Equal(got[0], init) {
		t.Fatalf("delivered %d packets on hearing the peer, want the pending initiation once", len(got))
	}
	// Heard again: no round runs, nothing more is sent.
	mu.Unlock()
	r.heard(peer)
	time.Sleep(2 * resendMaxWait)
	mu.Lock()
	if len(got) != 1 {
		t.Errorf("delivered %d packets after the round ended, want 1", len(got))
	}
}
