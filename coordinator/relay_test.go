package coordinator

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// relayURL is the coordinator's relay as a WebSocket URL.
func (c *testCoord) relayURL() string {
	return "ws" + strings.TrimPrefix(c.http.URL, "http") + wire.PathRelay
}

// relayToken asks for m's relay token as a node would.
func (c *testCoord) relayToken(m *machine) (int, wire.RelayTokenResponse) {
	c.t.Helper()
	if m.token == "" {
		c.session(m)
	}
	code, b := c.call("POST", wire.PathRelayToken, m.token, nil)
	var r wire.RelayTokenResponse
	if code == http.StatusOK {
		jsonUnmarshal(c.t, b, &r)
	}
	return code, r
}

// relayClient connects m to the coordinator's relay with a fresh token.
func (c *testCoord) relayClient(m *machine) *relay.Client {
	c.t.Helper()
	code, tok := c.relayToken(m)
	if code != http.StatusOK {
		c.t.Fatalf("relay token: %d", code)
	}
	rc, err := relay.Dial(c.t.Context(), c.relayURL(), tok.Token, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { rc.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for !c.srv.relay.srv.Connected(m.wg.Public()) {
		if time.Now().After(deadline) {
			c.t.Fatal("relay connection not registered within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return rc
}

func relayRecv(t *testing.T, rc *relay.Client) (relay.Frame, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return rc.Recv(ctx)
}

// relayQuiet says rc receives nothing within a short while.
func relayQuiet(t *testing.T, rc *relay.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if f, err := rc.Recv(ctx); err == nil {
		t.Fatalf("received %v from %s, want nothing", f.Type, f.Key.ShortString())
	}
}

func TestRelayForwardsBetweenPeers(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	full := c.openMap(op, 0).next()
	if len(full.Relays) != 1 || full.Relays[0].URL != wire.PathRelay {
		t.Fatalf("map lists relays %+v, want the coordinator's at %s", full.Relays, wire.PathRelay)
	}
	rop, rcam := c.relayClient(op), c.relayClient(cam)
	ctx := t.Context()
	// A handshake initiation, a full-size data packet of a 1500-byte
	// overlay MTU, and one of a 1280-byte underlay's.
	for _, size := range []int{148, relay.MaxPayload, 1280 - 80 + relay.WireGuardOverhead} {
		pkt := make([]byte, size)
		for i := range pkt {
			pkt[i] = byte(i * size)
		}
		for _, dir := range []struct {
			from, to       *machine
			sender, target *relay.Client
		}{{op, cam, rop, rcam}, {cam, op, rcam, rop}} {
			if err := dir.sender.Send(ctx, dir.to.wg.Public(), pkt); err != nil {
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

func TestRelayRefusesWithoutTokenAtTheCoordinator(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	// An upgrade without a token, or with a control session token.
	for _, authz := range []string{"", "Bearer " + cam.token} {
		h := http.Header{}
		if authz != "" {
			h.Set("Authorization", authz)
		}
		_, resp, err := websocket.Dial(t.Context(), c.relayURL(), &websocket.DialOptions{HTTPHeader: h})
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("upgrade with %.12q: %v, want 401", authz, err)
		}
	}
	// A token needs a node's session.
	if code, b := c.call("POST", wire.PathRelayToken, "", nil); code != http.StatusUnauthorized {
		t.Errorf("relay token without a session: %d %s, want 401", code, b)
	}
	stranger := newMachine(t)
	if code, _ := c.relayToken(stranger); code != http.StatusForbidden {
		t.Errorf("relay token for a machine that is no node: %d, want 403", code)
	}
	// --relay=false serves neither and lists no relay.
	off := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.DisableRelay = true })
	cam2 := off.mustRegister([]string{"tag:camera"}, "cam1")
	if code, _ := off.relayToken(cam2); code != http.StatusNotFound {
		t.Errorf("relay token with the relay off: %d, want 404", code)
	}
	if full := off.openMap(cam2, 0).next(); len(full.Relays) != 0 {
		t.Errorf("map lists relays %+v with the relay off", full.Relays)
	}
}

func TestRelayRefusesNonPeer(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	sensor := c.mustRegister([]string{"tag:sensor"}, "sensor1")
	rcam, rsensor := c.relayClient(cam), c.relayClient(sensor)
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
	// A key no node holds is no peer either.
	var nobody wire.WGPublic
	nobody[0] = 9
	if err := rcam.Send(t.Context(), nobody, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rcam); err != nil || f.Reason() != relay.NotPeer {
		t.Fatalf("camera to an unknown key: %v %v, want REFUSED not a peer", f.Reason(), err)
	}
}

func TestRelayCutsRevokedNodeAtOnce(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	rop := c.relayClient(op)
	_, oldTok := c.relayToken(cam)
	rcam := c.relayClient(cam)
	if code := c.admin("POST", fmt.Sprintf("%s/%d/expire", wire.PathAdminNodes, c.storeNode(cam).ID), nil, nil); code != http.StatusOK {
		t.Fatalf("expire: %d", code)
	}
	// The admin call returned: the camera is off the relay already.
	if c.srv.relay.srv.Connected(cam.wg.Public()) {
		t.Fatal("the expired camera is still connected when the admin call returns")
	}
	if _, err := relayRecv(t, rcam); err == nil {
		t.Fatal("the expired camera's connection still delivers")
	}
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("to cam")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rop); err != nil || f.Type != relay.TypeRefused || f.Key != cam.wg.Public() {
		t.Fatalf("send to the expired camera: %v %v, want REFUSED", f.Type, err)
	}
	// Its earlier token no longer admits it, and it gets no new one.
	if rc, err := relay.Dial(t.Context(), c.relayURL(), oldTok.Token, nil); err == nil {
		rc.Close()
		t.Fatal("the expired camera's earlier token still admits it")
	}
	if code, _ := c.relayToken(cam); code != http.StatusForbidden {
		t.Errorf("relay token for the expired camera: %d, want 403", code)
	}
}

// TestRelayFollowsPolicyChange: a policy edit that ends two nodes'
// peering refuses their frames at once, though the relay had cached them
// as peers.
func TestRelayFollowsPolicyChange(t *testing.T) {
	c := startCoord(t, testPolicy)
	op := c.mustRegister([]string{"tag:operator"}, "laptop")
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	rop, rcam := c.relayClient(op), c.relayClient(cam)
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rcam); err != nil || string(f.Payload) != "before" {
		t.Fatalf("before the edit: %q %v", f.Payload, err)
	}
	apart := `{"tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []}, "acls": []}`
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: apart, ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("set policy: %d", code)
	}
	if err := rop.Send(t.Context(), cam.wg.Public(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	if f, err := relayRecv(t, rop); err != nil || f.Type != relay.TypeRefused || f.Reason() != relay.NotPeer {
		t.Fatalf("after the edit: %v %v %v, want REFUSED not a peer", f.Type, f.Reason(), err)
	}
	relayQuiet(t, rcam)
}
