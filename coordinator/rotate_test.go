package coordinator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

func (c *testCoord) nodeOfMachine(m *machine) store.Node {
	c.t.Helper()
	n, err := c.srv.st.NodeByMachineKey(context.Background(), store.MachinePublic(m.priv.Public()))
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// wantNotPeer checks that op's full map does not list name.
func (c *testCoord) wantNotPeer(op *machine, name string) {
	c.t.Helper()
	for _, p := range c.openMap(op, 0).next().Peers {
		if p.Name == name {
			c.t.Fatalf("%s is %s's peer again, key valid until %v", name, "op", p.KeyExpiry)
		}
	}
}

// holdBackRotate starts m's rotation to key over a raw connection and
// sends one byte of its body; it returns the connection and the rest.
func (c *testCoord) holdBackRotate(m *machine, key wire.WGPublic) (net.Conn, []byte) {
	c.t.Helper()
	body, _ := json.Marshal(wire.RotateRequest{WGKey: key})
	conn, err := net.Dial("tcp", c.http.Listener.Addr().String())
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		wire.PathRotate, m.token, len(body))
	conn.Write(body[:1])
	return conn, body[1:]
}

// TestHeldBackRotateDoesNotUndoExpire: a device's holder sends a rotate
// while the device is authorized and holds back its body; an admin
// expires the device; the body then arrives. The rotation is refused and
// the device stays cut.
func TestHeldBackRotateDoesNotUndoExpire(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	c.session(op)
	camNode := c.nodeOfMachine(cam)

	nk, _ := wire.NewWGPrivate()
	conn, rest := c.holdBackRotate(cam, nk.Public())
	time.Sleep(300 * time.Millisecond) // the handler is reading the body

	if code := c.admin("POST", fmt.Sprintf("%s/%d/expire", wire.PathAdminNodes, camNode.ID), nil, nil); code != 200 {
		t.Fatalf("expire: %d", code)
	}
	conn.Write(rest)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("held-back rotate after the expire: %d %s, want 403", resp.StatusCode, rb)
	}
	if n := c.nodeOfMachine(cam); n.WGKey == store.WGPublic(nk.Public()) || !expired(n, time.Now()) {
		t.Fatalf("the held-back rotation changed the revoked node: key %v expiry %v", n.WGKey, n.KeyExpiry)
	}
	c.wantNotPeer(op, "cam1")
}

// revokeOnRotate is a store that runs hook once just before a rotation's
// write: the moment between a handler's checks and its write.
type revokeOnRotate struct {
	store.Store
	hook atomic.Pointer[func()]
}

func (r *revokeOnRotate) RotateWGKey(ctx context.Context, id store.NodeID, k store.KeyRotation) error {
	if h := r.hook.Swap(nil); h != nil {
		(*h)()
	}
	return r.Store.RotateWGKey(ctx, id, k)
}

// TestExpireDuringRotationWins: an admin's expire that lands between a
// rotation's checks and its write wins; so does a disable that lands
// between a person's login and its re-key.
func TestExpireDuringRotationWins(t *testing.T) {
	c := startCoord(t, testPolicy)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	c.session(op)
	camNode := c.nodeOfMachine(cam)
	rs := &revokeOnRotate{Store: c.srv.st}
	c.srv.st = rs
	h := func() {
		if _, err := c.srv.fleet.ExpireNode(context.Background(), camNode.ID, "test", false); err != nil {
			t.Errorf("expire: %v", err)
		}
	}
	rs.hook.Store(&h)
	nk, _ := wire.NewWGPrivate()
	if code, b := c.call("POST", wire.PathRotate, cam.token, wire.RotateRequest{WGKey: nk.Public()}); code != http.StatusForbidden {
		t.Fatalf("rotate racing an expire: %d %s, want 403", code, b)
	}
	c.wantNotPeer(op, "cam1")
}

// TestHeldBackControlBodyTimesOut: a control request whose body does not
// arrive within BodyTimeout gets an answer (400) and changes nothing,
// instead of holding its connection open until the client leaves.
func TestHeldBackControlBodyTimesOut(t *testing.T) {
	c := startCoordWith(t, testPolicy, func(cfg *Config) { cfg.BodyTimeout = 300 * time.Millisecond })
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	before := c.nodeOfMachine(cam)
	nk, _ := wire.NewWGPrivate()
	conn, _ := c.holdBackRotate(cam, nk.Public())
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a held-back body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("held-back body: %s, want 400", resp.Status)
	}
	if after := c.nodeOfMachine(cam); after.WGKey != before.WGKey {
		t.Fatal("a request whose body never came changed the key")
	}
}

// TestExpireCanRevokeTheDevicesPreAuthKey: the reusable pre-auth key a
// device registered with is on the device; whoever holds the device can
// register a new node with it even after the device was expired. The
// expire answer says so, and with revoke_auth_key the key goes too.
func TestExpireCanRevokeTheDevicesPreAuthKey(t *testing.T) {
	c := startCoord(t, testPolicy)
	key := c.authKey([]string{"tag:camera"}, true, "")
	cam := newMachine(t)
	if code, _ := c.register(cam, key, "cam1"); code != 200 {
		t.Fatalf("register: %d", code)
	}
	var n wire.AdminNode
	if code := c.admin("POST", wire.PathAdminNodes+"/cam1/expire", nil, &n); code != 200 || !n.AuthKeyUsable || n.AuthKeyID == 0 {
		t.Fatalf("expire: %d %+v; want the answer to say the reusable key still registers", code, n)
	}
	if code, _ := c.register(newMachine(t), key, "thief1"); code != 200 {
		t.Fatalf("the key still registers after a plain expire (documented): %d", code)
	}

	cam2 := newMachine(t)
	key2 := c.authKey([]string{"tag:camera"}, true, "")
	if code, _ := c.register(cam2, key2, "cam2"); code != 200 {
		t.Fatalf("register: %d", code)
	}
	var n2 wire.AdminNode
	if code := c.admin("POST", wire.PathAdminNodes+"/cam2/expire?revoke_auth_key=true", nil, &n2); code != 200 || n2.AuthKeyUsable {
		t.Fatalf("expire with revoke_auth_key: %d %+v", code, n2)
	}
	if code, _ := c.register(newMachine(t), key2, "thief2"); code != http.StatusForbidden {
		t.Fatalf("a fresh machine with the revoked device's key: %d, want 403", code)
	}
}
