package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/wire"
)

// pairs is a policy of which keys are peers (both ways).
type pairs struct {
	mu      sync.Mutex // mu guards allowed
	allowed map[[2]wire.WGPublic]bool
}

func (p *pairs) allow(a, b wire.WGPublic) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed[[2]wire.WGPublic{a, b}] = true
	p.allowed[[2]wire.WGPublic{b, a}] = true
}

func (p *pairs) MayRelay(from, to wire.WGPublic) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allowed[[2]wire.WGPublic{from, to}]
}

// testRelay is a relay on loopback with its signer and policy.
type testRelay struct {
	srv    *Server
	url    string
	signer *Signer
	policy *pairs
}

func newTestRelay(t testing.TB, cfg Config) *testRelay {
	t.Helper()
	signer, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	p := &pairs{allowed: map[[2]wire.WGPublic]bool{}}
	if cfg.Verifier == nil {
		cfg.Verifier = NewVerifier(signer.Public(), 0)
	}
	cfg.Authorizer = p
	srv := NewServer(cfg)
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &testRelay{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer, policy: p}
}

func key(b byte) wire.WGPublic {
	var k wire.WGPublic
	k[0], k[31] = b, b
	return k
}

func (r *testRelay) token(t testing.TB, k wire.WGPublic) string {
	t.Helper()
	now := time.Now()
	tok, err := r.signer.Issue(Claims{Key: k, Node: wire.NodeID(k[0]), IssuedAt: now, Expiry: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (r *testRelay) dial(t testing.TB, k wire.WGPublic) *Client {
	t.Helper()
	c, err := Dial(context.Background(), r.url, r.token(t, k), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	waitFor(t, func() bool { return r.srv.Connected(k) })
	return c
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func recv(t testing.TB, c *Client) Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := c.Recv(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// nothingArrives says c receives nothing within a short while.
func nothingArrives(t testing.TB, c *Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if f, err := c.Recv(ctx); err == nil {
		t.Fatalf("received %v from %s, want nothing", f.Type, f.Key.ShortString())
	}
}

// rawDial upgrades with the given Authorization header, as an attacker's
// client would, and returns the HTTP status.
func rawDial(t *testing.T, url, authz string) int {
	t.Helper()
	h := http.Header{}
	if authz != "" {
		h.Set("Authorization", authz)
	}
	ws, resp, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	return resp.StatusCode
}

func TestRelayRefusesWithoutToken(t *testing.T) {
	r := newTestRelay(t, Config{})
	for _, authz := range []string{"", "Bearer ", "Bearer not-a-token", "Basic " + r.token(t, key(1)), r.token(t, key(1))} {
		if got := rawDial(t, r.url, authz); got != http.StatusUnauthorized {
			t.Errorf("Authorization %.20q: status %d, want 401", authz, got)
		}
	}
	// A relay that cannot check admission refuses even a valid token.
	open := NewServer(Config{Authorizer: r.policy})
	hs := httptest.NewServer(open)
	defer hs.Close()
	if got := rawDial(t, "ws"+strings.TrimPrefix(hs.URL, "http"), "Bearer "+r.token(t, key(1))); got != http.StatusUnauthorized {
		t.Errorf("relay without a verifier: status %d, want 401", got)
	}
}

func TestRelayRefusesForgedOrExpiredToken(t *testing.T) {
	r := newTestRelay(t, Config{})
	other, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	valid := Claims{Key: key(1), Node: 1, IssuedAt: now, Expiry: now.Add(5 * time.Minute)}
	sign := func(s *Signer, c Claims) string {
		tok, err := s.Issue(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// forge signs claims that Issue would refuse, with r's key.
	forge := func(c Claims) string {
		body := encodeClaims(c)
		return base64.RawURLEncoding.EncodeToString(append(body, ed25519.Sign(r.signer.priv, append([]byte(tokenContext), body...))...))
	}
	flip := func(tok string, i int) string {
		raw, _ := base64.RawURLEncoding.DecodeString(tok)
		raw[i] ^= 1
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	garbage := make([]byte, tokenBody+ed25519.SignatureSize)
	rand.Read(garbage)
	cases := []struct {
		name string
		tok  string
	}{
		{"signed by another key", sign(other, valid)},
		{"key changed after signing", flip(sign(r.signer, valid), 1)},
		{"expiry changed after signing", flip(sign(r.signer, valid), tokenBody-1)},
		{"signature changed", flip(sign(r.signer, valid), tokenBody+3)},
		{"random bytes", base64.RawURLEncoding.EncodeToString(garbage)},
		{"truncated", sign(r.signer, valid)[:40]},
		{"expired", sign(r.signer, Claims{Key: key(1), IssuedAt: now.Add(-10 * time.Minute), Expiry: now.Add(-time.Minute)})},
		{"issued in the future beyond the skew", sign(r.signer, Claims{Key: key(1), IssuedAt: now.Add(2 * time.Minute), Expiry: now.Add(5 * time.Minute)})},
		{"lifetime over the maximum", forge(Claims{Key: key(1), IssuedAt: now, Expiry: now.Add(time.Hour)})},
		{"expiry before issue", forge(Claims{Key: key(1), IssuedAt: now, Expiry: now.Add(-time.Second)})},
	}
	for _, c := range cases {
		if got := rawDial(t, r.url, "Bearer "+c.tok); got != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", c.name, got)
		}
	}
	// Clocks within the skew are tolerated at both ends.
	for _, c := range []Claims{
		{Key: key(2), IssuedAt: now.Add(20 * time.Second), Expiry: now.Add(5 * time.Minute)},
		{Key: key(3), IssuedAt: now.Add(-5 * time.Minute), Expiry: now.Add(-20 * time.Second)},
	} {
		if got := rawDial(t, r.url, "Bearer "+sign(r.signer, c)); got != http.StatusSwitchingProtocols {
			t.Errorf("token %v..%v within the skew: status %d, want 101", c.IssuedAt.Sub(now), c.Expiry.Sub(now), got)
		}
	}
	if _, err := r.signer.Issue(Claims{Key: key(1), IssuedAt: now, Expiry: now.Add(MaxTokenLife + time.Second)}); err == nil {
		t.Error("Issue signed a token living longer than MaxTokenLife")
	}
}

func TestRelayCannotTakeOverAnotherKey(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b, mallory := key(1), key(2), key(3)
	r.policy.allow(a, b)
	r.policy.allow(mallory, b)
	ca := r.dial(t, a)
	cb := r.dial(t, b)
	cm := r.dial(t, mallory)
	// Mallory's token speaks for mallory's key only: b's packets to a
	// still reach a, and mallory receives nothing of them.
	if err := cb.Send(context.Background(), a, []byte("to a")); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, ca); f.Type != TypeRecv || f.Key != b || string(f.Payload) != "to a" {
		t.Fatalf("a got %v from %s %q", f.Type, f.Key.ShortString(), f.Payload)
	}
	nothingArrives(t, cm)
	// A RECV claiming to be from a, sent by mallory, is not a SEND: the
	// relay closes mallory's connection and forwards nothing.
	ctx := context.Background()
	if err := cm.ws.Write(ctx, websocket.MessageBinary, Append(nil, TypeRecv, a, []byte("spoof"))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !r.srv.Connected(mallory) })
	nothingArrives(t, cb)
	if !r.srv.Connected(a) {
		t.Fatal("a lost its place")
	}
	// The key holder reconnecting replaces its own connection.
	ca2 := r.dial(t, a)
	if _, err := ca.Recv(ctx); err == nil {
		t.Fatal("the replaced connection of a still reads")
	}
	if err := cb.Send(ctx, a, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, ca2); string(f.Payload) != "again" || f.Key != b {
		t.Fatalf("a's new connection got %q from %s", f.Payload, f.Key.ShortString())
	}
}

func TestRelayCutClosesAndRefusesEarlierTokens(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	tok := r.token(t, a)
	r.dial(t, a)
	cb := r.dial(t, b)
	r.srv.Cut(a)
	if r.srv.Connected(a) {
		t.Fatal("a still connected after Cut")
	}
	if got := rawDial(t, r.url, "Bearer "+tok); got != http.StatusUnauthorized {
		t.Errorf("a token issued before the cut: status %d, want 401", got)
	}
	if err := cb.Send(context.Background(), a, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, cb); f.Type != TypeRefused || f.Reason() != NotConnected {
		t.Fatalf("send to a cut key: got %v %v, want REFUSED not connected", f.Type, f.Reason())
	}
}

func TestRelayRateLimitsAndBoundsQueues(t *testing.T) {
	// A burst larger than loopback's socket buffers, so that a receiver
	// that never reads fills its queue.
	const burst = 32 << 20
	r := newTestRelay(t, Config{RateBytes: 1, BurstBytes: burst, QueueLen: 4})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	ca := r.dial(t, a)
	// b connects and never reads.
	h := http.Header{}
	h.Set("Authorization", "Bearer "+r.token(t, b))
	wb, _, err := websocket.Dial(context.Background(), r.url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatal(err)
	}
	defer wb.CloseNow()
	waitFor(t, func() bool { return r.srv.Connected(b) })
	pkt := make([]byte, MaxPayload)
	ctx := context.Background()
	allowed := burst / MaxFrame
	n := allowed + 100
	for range n {
		if err := ca.Send(ctx, b, pkt); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool {
		st := r.srv.Stats()
		return st.Forwarded+st.QueueDrops+st.Refused >= uint64(n)
	})
	st := r.srv.Stats()
	if st.Forwarded+st.QueueDrops > uint64(allowed) || st.Refused < uint64(n-allowed) {
		t.Errorf("stats %+v: want at most %d past the rate limit, at least %d refused", st, allowed, n-allowed)
	}
	if st.QueueDrops == 0 {
		t.Errorf("stats %+v: a receiver that never reads had nothing dropped", st)
	}
	f := recv(t, ca)
	if f.Type != TypeRefused || f.Reason() != RateLimited || f.Key != b {
		t.Fatalf("after %d full frames against a %d-byte burst: got %v %v, want REFUSED rate limited", n, burst, f.Type, f.Reason())
	}
	t.Logf("sent %d, forwarded %d, queue drops %d, refused %d", n, st.Forwarded, st.QueueDrops, st.Refused)
}

func TestRelayRefusalIsNotAnAmplifier(t *testing.T) {
	// The smallest SENDs (one payload byte) to keys a may not reach, many
	// times and to many keys: one message each, and batched into few
	// messages.
	for _, batched := range []bool{false, true} {
		t.Run(map[bool]string{false: "one per message", true: "batched"}[batched], func(t *testing.T) {
			testRefusalIsNotAnAmplifier(t, batched)
		})
	}
}

func testRefusalIsNotAnAmplifier(t *testing.T, batched bool) {
	r := newTestRelay(t, Config{})
	a := key(1)
	ca := r.dial(t, a)
	ctx := context.Background()
	const perKey, keys = 50, 20
	for k := range keys {
		if batched {
			if err := ca.SendBatch(ctx, key(byte(100+k)), slices.Repeat([][]byte{{0}}, perKey)); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for range perKey {
			if err := ca.Send(ctx, key(byte(100+k)), []byte{0}); err != nil {
				t.Fatal(err)
			}
		}
	}
	sentBytes := keys * perKey * (HeaderLen + 1)
	waitFor(t, func() bool { return r.srv.Stats().Refused == keys*perKey })
	refusals, refusedBytes := 0, 0
	seen := map[wire.WGPublic]int{}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		f, err := ca.Recv(ctx)
		cancel()
		if err != nil {
			break
		}
		if f.Type != TypeRefused || f.Reason() != NotPeer {
			t.Fatalf("got %v %v, want REFUSED not a peer", f.Type, f.Reason())
		}
		refusals++
		refusedBytes += HeaderLen + len(f.Payload)
		seen[f.Key]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Errorf("%d refusals for %s within %v, want at most one", n, k.ShortString(), RefusalEvery)
		}
	}
	if refusedBytes > sentBytes/perKey {
		t.Errorf("relay answered %d bytes to %d sent", refusedBytes, sentBytes)
	}
	if refusals != keys {
		t.Errorf("%d refusals, want one per destination (%d)", refusals, keys)
	}
}

func TestRelayRefusesOversizeAndMalformedFrames(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	ca := r.dial(t, a)
	cb := r.dial(t, b)
	ctx := context.Background()
	if err := ca.Send(ctx, b, make([]byte, MaxPayload)); err != nil {
		t.Fatalf("a full-size packet: %v", err)
	}
	if f := recv(t, cb); len(f.Payload) != MaxPayload {
		t.Fatalf("full-size packet arrived with %d bytes, want %d", len(f.Payload), MaxPayload)
	}
	if err := ca.Send(ctx, b, make([]byte, MaxPayload+1)); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("client sent an oversize packet: %v", err)
	}
	if err := ca.ws.Write(ctx, websocket.MessageBinary, Append(nil, TypeSend, b, make([]byte, MaxPayload+1))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !r.srv.Connected(a) })
	nothingArrives(t, cb)
}

// FuzzFrame fuzzes decoding a message of frames, as either end reads it:
// whatever checkMessage accepts decodes, with Next, into frames within
// the bounds that re-encode to the very same bytes.
func FuzzFrame(f *testing.F) {
	f.Add(Append(nil, TypeSend, key(1), []byte("packet")), false)
	f.Add(Append(Append(nil, TypeSend, key(1), []byte("one")), TypeSend, key(2), []byte("two")), false)
	f.Add(Append(Append(nil, TypeRecv, key(1), []byte("one")), TypeRefused, key(2), []byte{byte(NotPeer)}), true)
	f.Add(Append(nil, TypeRefused, key(2), []byte{byte(RateLimited)}), true)
	f.Add([]byte{byte(TypeRecv)}, true)
	f.Fuzz(func(t *testing.T, b []byte, fromRelay bool) {
		if checkMessage(b, fromRelay) != nil {
			return
		}
		if len(b) > MaxMessage {
			t.Fatalf("accepted a message of %d bytes", len(b))
		}
		var again []byte
		for rest := b; len(rest) > 0; {
			fr, next, err := Next(rest)
			if err != nil {
				t.Fatalf("a checked message does not decode: %v", err)
			}
			if len(fr.Payload) == 0 || len(fr.Payload) > MaxPayload || (fr.Type == TypeSend) == fromRelay {
				t.Fatalf("decoded a %v frame with a %d-byte payload", fr.Type, len(fr.Payload))
			}
			again = Append(again, fr.Type, fr.Key, fr.Payload)
			rest = next
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs: %x vs %x", again, b)
		}
	})
}

func TestRelayCloseEndsConnections(t *testing.T) {
	r := newTestRelay(t, Config{})
	ca := r.dial(t, key(1))
	r.srv.Close()
	if _, err := recv0(ca); err == nil {
		t.Fatal("a connection still delivers after Close")
	}
	waitFor(t, func() bool { return !r.srv.Connected(key(1)) })
	if got := rawDial(t, r.url, "Bearer "+r.token(t, key(2))); got != http.StatusUnauthorized {
		t.Errorf("a closed relay admitted a connection: status %d", got)
	}
}

// recv0 waits for c's next frame or its end.
func recv0(c *Client) (Frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.Recv(ctx)
}

func TestRelaySendBatchArrivesInOrder(t *testing.T) {
	r := newTestRelay(t, Config{QueueLen: 64}) // the whole batch fits
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	ca, cb := r.dial(t, a), r.dial(t, b)
	ctx := context.Background()
	// More full-size packets than one message holds, and small ones.
	pkts := make([][]byte, 50)
	for i := range pkts {
		size := MaxPayload
		if i%3 == 1 {
			size = 1 + i
		}
		pkts[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	if err := ca.SendBatch(ctx, b, pkts); err != nil {
		t.Fatal(err)
	}
	for i, want := range pkts {
		if f := recv(t, cb); f.Type != TypeRecv || f.Key != a || !bytes.Equal(f.Payload, want) {
			t.Fatalf("packet %d: got %v from %s, %d bytes starting %x; want %d bytes of %x", i, f.Type, f.Key.ShortString(), len(f.Payload), f.Payload[:1], len(want), i)
		}
	}
	// A batch with one bad packet sends nothing.
	if err := ca.SendBatch(ctx, b, [][]byte{[]byte("ok"), nil}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("a batch with an empty packet: %v", err)
	}
	if err := ca.SendBatch(ctx, b, [][]byte{[]byte("ok"), make([]byte, MaxPayload+1)}); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("a batch with an oversize packet: %v", err)
	}
	nothingArrives(t, cb)
}

// TestRelayRefusesMalformedMessages writes messages as an attacker's
// client would: a message with any bad frame closes the connection and
// relays none of its frames, the good ones before it included.
func TestRelayRefusesMalformedMessages(t *testing.T) {
	good := Append(nil, TypeSend, key(2), []byte("good"))
	withLen := func(n uint16) []byte {
		m := Append(nil, TypeSend, key(2), []byte("abcd"))
		m[HeaderLen-2], m[HeaderLen-1] = byte(n>>8), byte(n)
		return m
	}
	var big []byte
	for len(big) <= MaxMessage {
		big = Append(big, TypeSend, key(2), make([]byte, MaxPayload))
	}
	cases := []struct {
		name string
		typ  websocket.MessageType
		msg  []byte
	}{
		{"a good frame then a truncated one", websocket.MessageBinary, append(bytes.Clone(good), good[:HeaderLen]...)},
		{"a good frame then a stray byte", websocket.MessageBinary, append(bytes.Clone(good), 1)},
		{"a length past the message's end", websocket.MessageBinary, append(bytes.Clone(good), withLen(5)...)},
		{"a zero length", websocket.MessageBinary, append(bytes.Clone(good), withLen(0)...)},
		{"a length over MaxPayload", websocket.MessageBinary, append(bytes.Clone(good), Append(nil, TypeSend, key(2), make([]byte, MaxPayload+1))...)},
		{"a good frame then a RECV", websocket.MessageBinary, Append(bytes.Clone(good), TypeRecv, key(2), []byte("spoof"))},
		{"a good frame then a REFUSED", websocket.MessageBinary, Append(bytes.Clone(good), TypeRefused, key(2), []byte{byte(NotPeer)})},
		{"an unknown type", websocket.MessageBinary, Append(bytes.Clone(good), Type(9), key(2), []byte("x"))},
		{"an empty message", websocket.MessageBinary, nil},
		{"a text message", websocket.MessageText, good},
		{"a message over MaxMessage", websocket.MessageBinary, big},
	}
	r := newTestRelay(t, Config{})
	cb := r.dial(t, key(2))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := key(byte(10 + i))
			r.policy.allow(a, key(2))
			ca := r.dial(t, a)
			// The relay may close before the whole of a message too big
			// arrives (its frame header says so), failing the write.
			if err := ca.ws.Write(context.Background(), c.typ, c.msg); err != nil && len(c.msg) <= MaxMessage {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return !r.srv.Connected(a) })
			nothingArrives(t, cb)
		})
	}
	// The receiver was never at fault.
	if !r.srv.Connected(key(2)) {
		t.Fatal("the receiver lost its connection")
	}
}

// TestRelayKeepsBytesSentWithTheUpgrade sends a frame in the same write as
// the upgrade request, as a client that does not wait for the answer
// would: the relay's own small buffers must not lose it.
func TestRelayKeepsBytesSentWithTheUpgrade(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	cb := r.dial(t, b)
	addr := strings.TrimPrefix(r.url, "ws://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := Append(nil, TypeSend, b, []byte("early"))
	// A masked binary WebSocket frame with a zero mask key.
	ws := append([]byte{0x82, 0x80 | byte(len(frame)), 0, 0, 0, 0}, frame...)
	req := fmt.Sprintf("GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n", addr, r.token(t, a))
	if _, err := c.Write(append([]byte(req), ws...)); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, cb); f.Type != TypeRecv || f.Key != a || string(f.Payload) != "early" {
		t.Fatalf("b got %v from %s %q, want the early frame", f.Type, f.Key.ShortString(), f.Payload)
	}
}

// TestRelayClosesAStalledMessage begins a message and stops, as a client
// pinning the relay's read buffer would: the relay closes the connection
// after MessageTimeout, and leaves idle connections and complete messages
// alone.
func TestRelayClosesAStalledMessage(t *testing.T) {
	const timeout = 200 * time.Millisecond
	r := newTestRelay(t, Config{MessageTimeout: timeout})
	a, b, idle := key(1), key(2), key(3)
	r.policy.allow(a, b)
	cb := r.dial(t, b)
	r.dial(t, idle)
	addr := strings.TrimPrefix(r.url, "ws://")
	c, err := upgradeBare(addr, r.token(t, a), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, func() bool { return r.srv.Connected(a) })
	// A whole message is relayed.
	frame := Append(nil, TypeSend, b, []byte("whole"))
	if _, err := c.Write(append([]byte{0x82, 0x80 | byte(len(frame)), 0, 0, 0, 0}, frame...)); err != nil {
		t.Fatal(err)
	}
	if f := recv(t, cb); string(f.Payload) != "whole" {
		t.Fatalf("b got %q", f.Payload)
	}
	// Idle for several timeouts: still connected.
	time.Sleep(3 * timeout)
	if !r.srv.Connected(a) || !r.srv.Connected(idle) {
		t.Fatal("an idle connection was closed")
	}
	// A frame header promising 100 bytes, and 10 of them.
	if _, err := c.Write(append([]byte{0x82, 0x80 | 100, 0, 0, 0, 0}, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !r.srv.Connected(a) })
	nothingArrives(t, cb)
}

// TestRelayIdleConnectionHasNoWriter relays a packet and then waits: the
// destination's writer goroutine ends once its queue stays empty, so an
// idle connection holds only its reader, and the next packet starts a
// writer again.
func TestRelayIdleConnectionHasNoWriter(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	ca, cb := r.dial(t, a), r.dial(t, b)
	ctx := context.Background()
	for _, payload := range []string{"first", "after the writer ended"} {
		if err := ca.Send(ctx, b, []byte(payload)); err != nil {
			t.Fatal(err)
		}
		if f := recv(t, cb); string(f.Payload) != payload {
			t.Fatalf("b got %q, want %q", f.Payload, payload)
		}
		waitFor(t, func() bool { return writers() == 0 })
	}
}

// writers counts the goroutines running a connection's writeLoop.
func writers() int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 2)
	return strings.Count(buf.String(), "relay.(*conn).writeLoop(")
}

// TestRelayKeepsPingedIdleConnection: a node that pings its idle relay
// connection (to check it is alive) is never cut for it: pings are control
// frames and start no message timer.
func TestRelayKeepsPingedIdleConnection(t *testing.T) {
	const timeout = 200 * time.Millisecond
	r := newTestRelay(t, Config{MessageTimeout: timeout})
	k := key(1)
	c := r.dial(t, k)
	defer c.Close()
	waitFor(t, func() bool { return r.srv.Connected(k) })
	for i := range 6 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := c.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		time.Sleep(timeout / 2)
	}
	if !r.srv.Connected(k) {
		t.Fatal("the relay dropped a connection that only pinged")
	}
}

// TestRelayParkedConnectionLosesNothing: an idle connection parks in the
// poller (no goroutine of its own), over plain WebSocket and TLS, and
// still delivers the first packet to it at once, takes the first packet
// from it, answers its ping, and notices its peer gone.
func TestRelayParkedConnectionLosesNothing(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tlsOn), func(t *testing.T) {
			r, hc := newLingerRelay(t, tlsOn)
			a, b := key(1), key(2)
			r.policy.allow(a, b)
			dial := func(k wire.WGPublic) *Client {
				c, err := Dial(context.Background(), r.url, r.token(t, k), hc)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				return c
			}
			ca, cb := dial(a), dial(b)
			parked := func(n int) { t.Helper(); waitFor(t, func() bool { return r.srv.Stats().Parked == n }) }
			ctx := context.Background()
			for i, payload := range []string{"to a parked node", "again, parked again"} {
				parked(2)
				if err := ca.Send(ctx, b, []byte(payload)); err != nil {
					t.Fatal(err)
				}
				if f := recv(t, cb); string(f.Payload) != payload {
					t.Fatalf("send %d: b got %q, want %q", i, f.Payload, payload)
				}
			}
			parked(2)
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := cb.Ping(pctx); err != nil {
				t.Fatalf("a parked connection did not answer a ping: %v", err)
			}
			parked(2)
			// The peer goes without a close frame.
			ca.ws.CloseNow()
			waitFor(t, func() bool { return !r.srv.Connected(a) && r.srv.Stats().Parked == 1 })
			// A peer's reset (an error on the socket) is noticed too.
			var tc *tls.Config
			if tlsOn {
				tc = hc.Transport.(*http.Transport).TLSClientConfig.Clone()
				tc.ServerName = "example.com"
			}
			reset := key(3)
			raw, err := upgradeBare(strings.TrimPrefix(strings.TrimPrefix(r.url, "ws://"), "wss://"), r.token(t, reset), tc)
			if err != nil {
				t.Fatal(err)
			}
			parked(2)
			if tlsc, ok := raw.(*tls.Conn); ok {
				raw = tlsc.NetConn()
			}
			raw.(*net.TCPConn).SetLinger(0)
			raw.Close()
			waitFor(t, func() bool { return !r.srv.Connected(reset) && r.srv.Stats().Parked == 1 })
			if !r.srv.Connected(b) {
				t.Fatal("the other connection was closed")
			}
		})
	}
}

// newLingerRelay is a relay whose readers park after 20 ms, over TLS when
// tlsOn, and the HTTP client to dial it with.
func newLingerRelay(t *testing.T, tlsOn bool) (*testRelay, *http.Client) {
	signer, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	p := &pairs{allowed: map[[2]wire.WGPublic]bool{}}
	srv := NewServer(Config{Verifier: NewVerifier(signer.Public(), 0), Authorizer: p, Linger: 20 * time.Millisecond})
	hs := httptest.NewUnstartedServer(srv)
	if tlsOn {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &testRelay{srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http"), signer: signer, policy: p}, hs.Client()
}

// TestRelayReassemblesFragmentedMessage sends a message in three
// fragments with a ping between two, by hand: the relay answers the ping
// and relays the frames whole; a fragment out of order closes.
func TestRelayReassemblesFragmentedMessage(t *testing.T) {
	r := newTestRelay(t, Config{})
	a, b := key(1), key(2)
	r.policy.allow(a, b)
	cb := r.dial(t, b)
	addr := strings.TrimPrefix(r.url, "ws://")
	c, err := upgradeBare(addr, r.token(t, a), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := Append(Append(nil, TypeSend, b, []byte("first")), TypeSend, b, bytes.Repeat([]byte("x"), 300))
	mask := [4]byte{1, 2, 3, 4}
	frame := func(b0 byte, p []byte) []byte {
		p = bytes.Clone(p)
		unmask(p, mask)
		h := []byte{b0, 0x80 | byte(len(p))}
		if len(p) > maxControl {
			h = []byte{b0, 0x80 | 126, byte(len(p) >> 8), byte(len(p))}
		}
		return append(append(h, mask[:]...), p...)
	}
	var stream []byte
	stream = append(stream, frame(opBinary, msg[:10])...)
	stream = append(stream, frame(0x80|opPing, []byte("are you there"))...)
	stream = append(stream, frame(opContinuation, msg[10:100])...)
	stream = append(stream, frame(0x80|opContinuation, msg[100:])...)
	for i := 0; i < len(stream); i += 7 { // in small pieces
		if _, err := c.Write(stream[i:min(i+7, len(stream))]); err != nil {
			t.Fatal(err)
		}
	}
	pong := make([]byte, 2+len("are you there"))
	if _, err := io.ReadFull(c, pong); err != nil || pong[0] != 0x80|opPong || string(pong[2:]) != "are you there" {
		t.Fatalf("pong %q, %v", pong, err)
	}
	for _, want := range []int{5, 300} {
		if f := recv(t, cb); len(f.Payload) != want {
			t.Fatalf("b got %d bytes, want %d", len(f.Payload), want)
		}
	}
	if _, err := c.Write(frame(0x80|opContinuation, msg)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !r.srv.Connected(a) })
	nothingArrives(t, cb)
}

// FuzzWebSocketStream feeds the relay's WebSocket reader any bytes as a
// client's stream: it must not panic, and every message it returns fits
// MaxMessage.
func FuzzWebSocketStream(f *testing.F) {
	good := Append(nil, TypeSend, key(2), []byte("good"))
	f.Add(append([]byte{0x82, 0x80 | byte(len(good)), 0, 0, 0, 0}, good...))
	f.Add([]byte{0x02, 0x81, 1, 2, 3, 4, 9, 0x89, 0x80, 0, 0, 0, 0, 0x80, 0x81, 0, 0, 0, 0, 7})
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0x80, 0, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := &conn{nc: &streamConn{Reader: bytes.NewReader(stream)}}
		for range 1000 {
			msg, err := c.readMessage(time.Second)
			if err != nil {
				break
			}
			if len(msg) > MaxMessage {
				t.Fatalf("a message of %d bytes", len(msg))
			}
			c.rd.release()
		}
		c.rd.drop()
	})
}

// streamConn is a net.Conn reading a stream and discarding writes.
type streamConn struct {
	net.Conn
	io.Reader
}

func (c *streamConn) Read(p []byte) (int, error)       { return c.Reader.Read(p) }
func (c *streamConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// TestRelayDropsAClientThatNeverReads: a client that never reads what the
// relay writes to it (pongs to its own pings, or packets for it) must not
// pin the relay's reader or writer (and their buffers) for ever: a write
// that makes no progress for MessageTimeout ends the connection, which
// then leaves the relay even while it is parked.
func TestRelayDropsAClientThatNeverReads(t *testing.T) {
	const timeout = 500 * time.Millisecond
	mask := []byte{1, 2, 3, 4}
	ping := append([]byte{0x80 | opPing, 0x80 | maxControl}, mask...)
	ping = append(ping, make([]byte, maxControl)...)
	for _, tc := range []struct {
		name string
		// flood makes the relay write to x, which never reads.
		flood func(t *testing.T, x net.Conn, a *Client, xk wire.WGPublic)
	}{
		{"pongs", func(t *testing.T, x net.Conn, _ *Client, _ wire.WGPublic) {
			x.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			x.Write(bytes.Repeat(ping, 500)) // fails once the relay stops reading
		}},
		{"packets", func(t *testing.T, _ net.Conn, a *Client, xk wire.WGPublic) {
			// A write cancelled midway would close a's own connection.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for range 64 {
				if a.Send(ctx, xk, make([]byte, 1200)) != nil {
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRelay(t, Config{MessageTimeout: timeout, Linger: 20 * time.Millisecond,
				RateBytes: 1 << 30, BurstBytes: 1 << 24})
			ak, xk := key(1), key(2)
			r.policy.allow(ak, xk)
			a := r.dial(t, ak)
			x, err := upgradeBare(strings.TrimPrefix(r.url, "ws://"), r.token(t, xk), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer x.Close()
			waitFor(t, func() bool { return r.srv.Connected(xk) })
			waitFor(t, func() bool {
				if !r.srv.Connected(ak) {
					t.Fatal("the sender was dropped")
				}
				tc.flood(t, x, a, xk)
				return !r.srv.Connected(xk)
			})
			if !r.srv.Connected(ak) {
				t.Fatal("the sender was dropped too")
			}
		})
	}
}
