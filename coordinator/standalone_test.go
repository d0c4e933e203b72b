package coordinator

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/relay/relayd"
	"github.com/wardnet/ward/wire"
)

// standalone is a standalone relay (package relayd) on a loopback port,
// registered with and fed by a test coordinator.
type standalone struct {
	t      testing.TB
	r      *relayd.Relay
	url    string // ws://host:port/ward/v1/relay
	secret string // its relay credential
}

// addRelay registers a relay named name at url through the admin API and
// returns its credential.
func (c *testCoord) addRelay(name, url string) string {
	c.t.Helper()
	var out wire.AdminRelay
	if code := c.admin("POST", wire.PathAdminRelays, wire.CreateRelayRequest{Name: name, URL: url}, &out); code != http.StatusCreated {
		c.t.Fatalf("add relay %s: %d", name, code)
	}
	if out.Secret == "" {
		c.t.Fatalf("add relay %s: no credential in the answer", name)
	}
	return out.Secret
}

// startStandalone registers a relay named name with c and runs it against
// coordinator (c's URL when empty), waiting for its feed when wait.
func (c *testCoord) startStandalone(name, coordinator string, wait bool) *standalone {
	c.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + wire.PathRelay
	secret := c.addRelay(name, url)
	if coordinator == "" {
		coordinator = c.http.URL
	}
	r, err := relayd.New(relayd.Config{Coordinator: coordinator, Credential: secret, Grace: time.Second})
	if err != nil {
		c.t.Fatal(err)
	}
	hs := &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	c.t.Cleanup(func() {
		cancel()
		<-done
		hs.Close()
	})
	s := &standalone{t: c.t, r: r, url: url, secret: secret}
	if wait {
		s.waitFor("the relay holds its feed", r.Ready)
	}
	return s
}

// waitFor waits up to 10 s for cond.
func (s *standalone) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// dial connects m to the relay with a fresh token from c.
func (s *standalone) dial(c *testCoord, m *machine) (*relay.Client, error) {
	s.t.Helper()
	code, tok := c.relayToken(m)
	if code != http.StatusOK {
		s.t.Fatalf("relay token: %d", code)
	}
	rc, err := relay.Dial(s.t.Context(), s.url, tok.Token, nil)
	if err != nil {
		return nil, err
	}
	s.t.Cleanup(func() { rc.Close() })
	return rc, nil
}

// client connects m and waits until the relay registered it.
func (s *standalone) client(c *testCoord, m *machine) *relay.Client {
	s.t.Helper()
	rc, err := s.dial(c, m)
	if err != nil {
		s.t.Fatal(err)
	}
	s.waitFor("the connection is registered", func() bool { return s.r.Connected(m.wg.Public()) })
	return rc
}

// upgradeStatus is the status of a WebSocket upgrade to url bearing
// token, as an attacker's client sees it; 101 when it succeeded.
func upgradeStatus(t *testing.T, url, token string) int {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ws, resp, err := websocket.Dial(t.Context(), url, &websocket.DialOptions{HTTPHeader: h})
	if err == nil {
		ws.CloseNow()
		return http.StatusSwitchingProtocols
	}
	if resp == nil {
		t.Fatalf("upgrade to %s: %v", url, err)
	}
	return resp.StatusCode
}

func TestStandaloneRelayForwardsBetweenPeers(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.startStandalone("edge1", "", true)
	full := c.openMap(op, 0).next()
	want := []wire.Relay{{Name: "coordinator", URL: wire.PathRelay}, {Name: "edge1", URL: s.url}}
	if !slices.Equal(full.Relays, want) {
		t.Fatalf("map lists relays %+v, want %+v", full.Relays, want)
	}
	rop, rcam := s.client(c, op), s.client(c, cam)
	for _, size := range []int{148, relay.MaxPayload} {
		pkt := make([]byte, size)
		for i := range pkt {
			pkt[i] = byte(i * 7)
		}
		for _, dir := range []struct {
			from, to       *machine
			sender, target *relay.Client
		}{{op, cam, rop, rcam}, {cam, op, rcam, rop}} {
			if err := dir.sender.Send(t.Context(), dir.to.wg.Public(), pkt); err != nil {
				t.Fatal(err)
			}
			f, err := relayRecv(t, dir.target)
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != relay.TypeRecv || f.Key != dir.from.wg.Public() || string(f.Payload) != string(pkt) {
				t.Fatalf("%d bytes: got %v from %s (%d bytes), want RECV from %s", size, f.Type, f.Key.ShortString(), len(f.Payload), dir.from.wg.Public().ShortString())
			}
		}
	}
}

func TestStandaloneRelayRefusesWithoutCoordinator(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")

	// A relay that never reached its coordinator has no key to verify
	// tokens with, and no one to ask: it admits nobody.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	lone := c.startStandalone("lone", deadURL, false)
	_, tok := c.relayToken(op)
	if code := upgradeStatus(t, lone.url, tok.Token); code != http.StatusUnauthorized {
		t.Errorf("a relay that never reached its coordinator answered a valid token with %d, want 401", code)
	}

	// A relay whose coordinator stops refuses new connections and the
	// frames of the ones it has, once the grace is over.
	s := c.startStandalone("edge1", "", true)
	rop, rcam := s.client(c, op), s.client(c, cam)
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rcam); err != nil || string(f.Payload) != "before" {
		t.Fatalf("before the coordinator stopped: %q %v", f.Payload, err)
	}
	op2 := c.mustRegister([]string{"tag:operator"}, "laptop2")
	rop2 := s.client(c, op2)
	_, tok = c.relayToken(op)
	c.srv.cancel() // ends the feeds, as a stopping coordinator does
	c.http.Close()
	s.waitFor("the relay notices its feed is gone", func() bool { return !s.r.Ready() })
	// A pair it never asked about is refused at once.
	if err := rop2.Send(t.Context(), cam.wg.Public(), []byte("new pair")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rop2); err != nil || f.Type != relay.TypeRefused || f.Reason() != relay.NotPeer {
		t.Fatalf("a new pair while the coordinator is away: %v %v %v, want REFUSED", f.Type, f.Reason(), err)
	}
	if code := upgradeStatus(t, s.url, tok.Token); code != http.StatusUnauthorized {
		t.Errorf("a new connection with a valid token while the coordinator is away: %d, want 401", code)
	}
	// Frames between a pair the relay had asked about pass on its cached
	// answer until the grace (1 s here) since the coordinator last spoke
	// is over, and are refused from then on.
	s.waitFor("the relay refuses the cached pair", func() bool {
		if err := rop.Send(t.Context(), cam.wg.Public(), []byte("after")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		f, err := rop.Recv(ctx)
		return err == nil && f.Type == relay.TypeRefused && f.Reason() == relay.NotPeer
	})
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		_, err := rcam.Recv(ctx) // what passed within the grace
		cancel()
		if err != nil {
			break
		}
	}
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("later")); err != nil {
		t.Fatal(err)
	}
	relayQuiet(t, rcam)
}

func TestStandaloneRelayCutsRevokedNodeAtOnce(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.startStandalone("edge1", "", true)
	rop := s.client(c, op)
	_, oldTok := c.relayToken(cam)
	rcam := s.client(c, cam)
	// A frame makes the relay cache the pair's answer: the cut must void
	// it.
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rcam); err != nil || string(f.Payload) != "before" {
		t.Fatalf("before the expiry: %q %v", f.Payload, err)
	}
	if code := c.admin("POST", "/ward/v1/admin/nodes/cam1/expire", nil, nil); code != http.StatusOK {
		t.Fatalf("expire: %d", code)
	}
	// The coordinator pushed the cut: the relay does not wait for the
	// token to expire or for a poll.
	s.waitFor("the relay cuts the expired camera", func() bool { return !s.r.Connected(cam.wg.Public()) })
	if _, err := relayRecv(t, rcam); err == nil {
		t.Fatal("the expired camera's connection still delivers")
	}
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("to cam")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rop); err != nil || f.Type != relay.TypeRefused || f.Key != cam.wg.Public() {
		t.Fatalf("send to the expired camera: %v %v, want REFUSED", f.Type, err)
	}
	if code := upgradeStatus(t, s.url, oldTok.Token); code != http.StatusUnauthorized {
		t.Errorf("the expired camera's earlier token: %d, want 401", code)
	}
}

func TestStandaloneRelayRefusesNonPeer(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	sensor := c.mustRegister([]string{"tag:sensor"}, "sensor1")
	s := c.startStandalone("edge1", "", true)
	rcam, rsensor := s.client(c, cam), s.client(c, sensor)
	if err := rsensor.Send(t.Context(), cam.wg.Public(), []byte("knock")); err != nil {
		t.Fatal(err)
	}
	f, err := relayRecv(t, rsensor)
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != relay.TypeRefused || f.Reason() != relay.NotPeer || f.Key != cam.wg.Public() {
		t.Fatalf("sensor to camera: got %v %v for %s, want REFUSED not a peer", f.Type, f.Reason(), f.Key.ShortString())
	}
	relayQuiet(t, rcam)
	// Keys the relay has not admitted are looked up by the coordinator: a
	// key no node holds is no peer, and a peer elsewhere is not connected
	// here.
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	var nobody wire.WGPublic
	nobody[0] = 9
	for _, tt := range []struct {
		to   wire.WGPublic
		want relay.Reason
	}{{nobody, relay.NotPeer}, {op.wg.Public(), relay.NotConnected}} {
		if err := rcam.Send(t.Context(), tt.to, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if f, err := relayRecv(t, rcam); err != nil || f.Type != relay.TypeRefused || f.Reason() != tt.want {
			t.Errorf("camera to %s: %v %v %v, want REFUSED %v", tt.to.ShortString(), f.Type, f.Reason(), err, tt.want)
		}
	}
}

func TestRelayCredentialCannotAdmitNode(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.startStandalone("edge1", "", true)
	_, tok := c.relayToken(cam)
	feedURL := "ws" + strings.TrimPrefix(c.http.URL, "http") + wire.PathRelayFeed
	for _, tt := range []struct {
		name, url, token string
	}{
		{"relay credential as a node token at the standalone relay", s.url, s.secret},
		{"relay credential as a node token at the coordinator's relay", c.relayURL(), s.secret},
		{"node relay token as a relay credential", feedURL, tok.Token},
		{"node session token as a relay credential", feedURL, cam.token},
		{"admin API key as a relay credential", feedURL, c.apiKey},
		{"no credential at the feed", feedURL, ""},
	} {
		if code := upgradeStatus(t, tt.url, tt.token); code != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tt.name, code)
		}
	}
	// The credential of a relay admits only the feed.
	if code, _ := c.call("POST", wire.PathRelayToken, s.secret, nil); code != http.StatusUnauthorized {
		t.Errorf("relay credential asking for a node's relay token: %d, want 401", code)
	}
	if code := c.admin("GET", wire.PathAdminRelays, nil, nil); code != http.StatusOK {
		t.Fatalf("list relays: %d", code)
	}
	if code, _ := c.call("GET", wire.PathAdminRelays, s.secret, nil); code < 400 {
		t.Errorf("relay credential on the admin API: %d, want a refusal", code)
	}
}

func TestRemovedRelayVanishesFromMap(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s1 := c.startStandalone("edge1", "", true)
	s2 := c.startStandalone("edge2", "", true)
	ms := c.openMap(cam, 0)
	own := wire.Relay{Name: "coordinator", URL: wire.PathRelay}
	if got, want := ms.next().Relays, []wire.Relay{own, {Name: "edge1", URL: s1.url}, {Name: "edge2", URL: s2.url}}; !slices.Equal(got, want) {
		t.Fatalf("map lists %+v, want %+v", got, want)
	}
	if code := c.admin("DELETE", wire.PathAdminRelays+"/edge1", nil, nil); code != http.StatusNoContent {
		t.Fatalf("remove relay: %d", code)
	}
	want := []wire.Relay{own, {Name: "edge2", URL: s2.url}}
	if d := ms.next(); !d.RelaysChanged || !slices.Equal(d.Relays, want) {
		t.Fatalf("open stream after the removal: %+v (changed %t), want %+v", d.Relays, d.RelaysChanged, want)
	}
	if got := c.openMap(cam, 0).next().Relays; !slices.Equal(got, want) {
		t.Fatalf("new stream after the removal: %+v, want %+v", got, want)
	}
	// Its feed is closed and its credential refused.
	s1.waitFor("the removed relay loses its feed", func() bool { return !s1.r.Ready() })
	feedURL := "ws" + strings.TrimPrefix(c.http.URL, "http") + wire.PathRelayFeed
	if code := upgradeStatus(t, feedURL, s1.secret); code != http.StatusUnauthorized {
		t.Errorf("removed relay's credential: %d, want 401", code)
	}
	if !s2.r.Ready() {
		t.Error("the other relay lost its feed")
	}
	var list []wire.AdminRelay
	if code := c.admin("GET", wire.PathAdminRelays, nil, &list); code != http.StatusOK || len(list) != 1 || list[0].Name != "edge2" || !list[0].Connected {
		t.Errorf("relay list after the removal: %d %+v", code, list)
	}
	if code := c.admin("DELETE", wire.PathAdminRelays+"/edge1", nil, nil); code != http.StatusNotFound {
		t.Errorf("removing it again: %d, want 404", code)
	}
}

func TestRelayRegistrationRefusesBadInput(t *testing.T) {
	c := startCoord(t, testPolicy)
	c.addRelay("edge1", "wss://edge1.example.com/ward/v1/relay")
	for _, req := range []wire.CreateRelayRequest{
		{Name: "coordinator", URL: "wss://x.example.com/ward/v1/relay"},
		{Name: "Edge", URL: "wss://x.example.com/ward/v1/relay"},
		{Name: "edge2", URL: "https://x.example.com/ward/v1/relay"},
		{Name: "edge2", URL: "wss://user:pw@x.example.com/"},
		{Name: "edge2", URL: ""},
	} {
		if code := c.admin("POST", wire.PathAdminRelays, req, nil); code != http.StatusBadRequest {
			t.Errorf("register %+v: %d, want 400", req, code)
		}
	}
	if code := c.admin("POST", wire.PathAdminRelays, wire.CreateRelayRequest{Name: "edge1", URL: "wss://y.example.com/"}, nil); code != http.StatusConflict {
		t.Errorf("register a taken name: %d, want 409", code)
	}
}

// TestStandaloneRelayWithCoordinatorRelayOff: with --relay=false the
// coordinator still signs tokens for the standalone relays it lists, and
// lists only them.
func TestStandaloneRelayWithCoordinatorRelayOff(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.DisableRelay = true })
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.startStandalone("edge1", "", true)
	if got, want := c.openMap(op, 0).next().Relays, []wire.Relay{{Name: "edge1", URL: s.url}}; !slices.Equal(got, want) {
		t.Fatalf("map lists %+v, want %+v", got, want)
	}
	if code := upgradeStatus(t, c.relayURL(), ""); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		t.Errorf("the coordinator's own relay with --relay=false: %d, want 404", code)
	}
	rop, rcam := s.client(c, op), s.client(c, cam)
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rcam); err != nil || string(f.Payload) != "hi" {
		t.Fatalf("through the standalone relay: %q %v", f.Payload, err)
	}
}

// TestStandaloneRelayCutsNodeRevokedWhileAway: a node revoked while the
// relay had no feed (no cut could be pushed) is cut when the relay holds
// a feed again, which asks about every key it holds.
func TestStandaloneRelayCutsNodeRevokedWhileAway(t *testing.T) {
	var blocked atomic.Bool
	c := startCoordWrapped(t, testPolicy, nil, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if blocked.Load() && r.URL.Path == wire.PathRelayFeed {
				http.Error(w, "partitioned", http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	s := c.startStandalone("edge1", "", true)
	s.client(c, op)
	s.client(c, cam)
	blocked.Store(true)
	c.srv.relays.end("edge1")
	s.waitFor("the relay loses its feed", func() bool { return !s.r.Ready() })
	if code := c.admin("POST", "/ward/v1/admin/nodes/cam1/expire", nil, nil); code != http.StatusOK {
		t.Fatalf("expire: %d", code)
	}
	if !s.r.Connected(cam.wg.Public()) {
		t.Fatal("the camera was cut with no feed to push the cut")
	}
	blocked.Store(false)
	s.waitFor("the relay holds a feed again", s.r.Ready)
	s.waitFor("the relay cuts the camera revoked while it was away", func() bool { return !s.r.Connected(cam.wg.Public()) })
	if !s.r.Connected(op.wg.Public()) {
		t.Error("the live operator was cut too")
	}
}
