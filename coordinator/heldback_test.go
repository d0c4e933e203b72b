package coordinator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// heldHeader marks the request a bodyWatch watches.
const heldHeader = "X-Test-Held"

// bodyWatch tells a test when the server's handler of a marked request
// starts reading its body: by then the handler has authenticated the
// caller and read its node, and waits for the body the test holds back.
type bodyWatch struct {
	reading chan struct{}
}

func newBodyWatch() *bodyWatch { return &bodyWatch{reading: make(chan struct{}, 1)} }

// wrap is a handler wrapper for startCoordWrapped.
func (bw *bodyWatch) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(heldHeader) != "" {
			r.Body = &signalReader{ReadCloser: r.Body, signal: bw.reading}
		}
		h.ServeHTTP(w, r)
	})
}

// signalReader signals once, at the first Read.
type signalReader struct {
	io.ReadCloser
	signal chan struct{}
	once   sync.Once
}

func (s *signalReader) Read(p []byte) (int, error) {
	s.once.Do(func() { s.signal <- struct{}{} })
	return s.ReadCloser.Read(p)
}

// hold sends method path with token as a modified client would: it
// returns once the handler has read the caller's node and waits for the
// body; release sends the body and returns the answer's status.
func (c *testCoord) hold(bw *bodyWatch, method, path, token string, body any) (release func() int) {
	c.t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(method, c.http.URL+path, pr)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(heldHeader, "1")
	done := make(chan int, 1)
	go func() {
		resp, err := c.http.Client().Do(req)
		if err != nil {
			pr.CloseWithError(err)
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-bw.reading:
	case code := <-done:
		c.t.Fatalf("held %s %s answered %d before reading its body", method, path, code)
	case <-time.After(10 * time.Second):
		c.t.Fatalf("held %s %s: the handler did not start reading its body within 10s", method, path)
	}
	return func() int {
		c.t.Helper()
		go func() {
			io.Copy(pw, bytes.NewReader(b))
			pw.Close()
		}()
		select {
		case code := <-done:
			return code
		case <-time.After(10 * time.Second):
			c.t.Fatalf("held %s %s: no answer within 10s of its body", method, path)
		}
		return 0
	}
}

// endpointsReport is a report moving a node to a new endpoint.
func endpointsReport(port uint16) wire.Report {
	return wire.Report{Endpoints: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), port)}}
}

// TestHeldBackReportDoesNotUndoDisable: a node's report whose body is held
// back until after its person is cut off (an admin disables them, they log
// out, the IdP refuses them, an admin expires the node) does not put the
// node's old record, with its old valid key, back in its peers' maps.
func TestHeldBackReportDoesNotUndoDisable(t *testing.T) {
	tests := []struct {
		name string
		cut  func(c *testCoord, laptop *machine)
	}{
		{"user disabled", func(c *testCoord, _ *machine) {
			if code := c.admin("POST", wire.PathAdminUsers+"/alice@example.com/disable", nil, nil); code != http.StatusOK {
				c.t.Fatalf("disable: %d", code)
			}
		}},
		{"logout", func(c *testCoord, laptop *machine) {
			if code, b := c.call("POST", wire.PathLogout, laptop.token, nil); code != http.StatusNoContent {
				c.t.Fatalf("logout: %d %s", code, b)
			}
		}},
		{"identity provider refused", func(c *testCoord, _ *machine) {
			u, err := c.srv.fleet.lookupUser(c.t.Context(), "alice@example.com")
			if err != nil {
				c.t.Fatal(err)
			}
			c.srv.logins.refreshRefused(c.t.Context(), u, "test: the IdP refused")
		}},
		{"admin expired the node", func(c *testCoord, laptop *machine) {
			id := c.storeNode(laptop).ID
			if code := c.admin("POST", fmt.Sprintf("%s/%d/expire", wire.PathAdminNodes, id), nil, nil); code != http.StatusOK {
				c.t.Fatalf("expire: %d", code)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bw := newBodyWatch()
			c := startCoordWrapped(t, userPolicy, func(cfg *Config) { cfg.Auth = fakeAuth{} }, bw.wrap)
			laptop := newMachine(t)
			if res, _ := c.login(laptop, "alice", "ops"); res.Node == nil {
				t.Fatalf("login: %+v", res)
			}
			cam := c.mustRegister([]string{"tag:camera"}, "cam1")
			if _, ok := c.peerNamed(cam, "alice-laptop"); !ok {
				t.Fatal("alice-laptop is not cam1's peer to begin with")
			}

			release := c.hold(bw, "POST", wire.PathReport, laptop.token, endpointsReport(41641))
			tt.cut(c, laptop)
			if _, ok := c.peerNamed(cam, "alice-laptop"); ok {
				t.Fatal("cutting alice off did not drop alice-laptop")
			}
			code := release()
			t.Logf("held-back report answered %d", code)
			if p, ok := c.peerNamed(cam, "alice-laptop"); ok {
				t.Errorf("alice-laptop is cam1's peer again after the held-back report (key valid until %v per the map)", p.KeyExpiry)
			}
			if n, _ := c.srv.nm.node(c.storeNode(laptop).ID); n.KeyExpiry.After(time.Now()) {
				t.Errorf("the netmap holds alice-laptop's key as valid until %v", n.KeyExpiry)
			}
		})
	}
}

// TestHeldBackReportDoesNotUndoRetag: a device's report held back until
// after an admin retags it does not put its old tags, and the grants they
// had, back in the netmap.
func TestHeldBackReportDoesNotUndoRetag(t *testing.T) {
	bw := newBodyWatch()
	c := startCoordWrapped(t, testPolicy, nil, bw.wrap)
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	op := c.mustRegister([]string{"tag:operator"}, "op1")
	if _, ok := c.peerNamed(op, "cam1"); !ok {
		t.Fatal("cam1 is not op1's peer to begin with")
	}
	id := c.storeNode(cam).ID

	release := c.hold(bw, "POST", wire.PathReport, cam.token, endpointsReport(41641))
	if code := c.admin("PUT", fmt.Sprintf("%s/%d/tags", wire.PathAdminNodes, id), map[string]any{"tags": []string{"tag:sensor"}}, nil); code != http.StatusOK {
		t.Fatalf("retag: %d", code)
	}
	if _, ok := c.peerNamed(op, "cam1"); ok {
		t.Fatal("the retag did not drop cam1 from op1's map")
	}
	if code := release(); code != http.StatusNoContent {
		t.Errorf("held-back report: %d, want 204", code)
	}
	if p, ok := c.peerNamed(op, "cam1"); ok {
		t.Errorf("cam1 is op1's peer again with tags %v after the held-back report", p.Tags)
	}
	n, _ := c.srv.nm.node(id)
	if !slices.Equal(n.Tags, []string{"tag:sensor"}) {
		t.Errorf("netmap tags of cam1: %v, want [tag:sensor]", n.Tags)
	}
	if !slices.Equal(n.Endpoints, endpointsReport(41641).Endpoints) {
		t.Errorf("netmap endpoints of cam1: %v, want the reported ones", n.Endpoints)
	}
}

// storeNode returns m's node as the store holds it.
func (c *testCoord) storeNode(m *machine) store.Node {
	c.t.Helper()
	n, err := c.srv.st.NodeByMachineKey(c.t.Context(), store.MachinePublic(m.priv.Public()))
	if err != nil {
		c.t.Fatal(err)
	}
	return n
}

// peerNamed reports whether the full map m gets now lists name as a peer,
// and returns that peer.
func (c *testCoord) peerNamed(m *machine, name string) (wire.Node, bool) {
	c.t.Helper()
	if m.token == "" {
		c.session(m)
	}
	s := c.openMap(m, 0)
	mr := s.next()
	s.resp.Body.Close()
	for _, p := range mr.Peers {
		if p.Name == name {
			return p, true
		}
	}
	return wire.Node{}, false
}

// TestDisableCutsNodeNotYetInNetmap: a node a login has registered in the
// store but not yet put in the netmap is cut by a disable too, so the
// login's netmap update that follows cannot bring it in alive.
func TestDisableCutsNodeNotYetInNetmap(t *testing.T) {
	c := startCoord(t, userPolicy)
	ctx, now := t.Context(), time.Now().UTC()
	u, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: "https://idp.invalid", Subject: "alice", Email: "alice@example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.srv.st.RegisterWithUser(ctx, u.ID, now, store.NewNode{Name: "alice-laptop", Hostname: "alice-laptop",
		MachineKey: store.MachinePublic{7}, WGKey: store.WGPublic{8}, KeyExpiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.srv.fleet.SetUserDisabled(ctx, u.ID, true, admin.Principal{Actor: "apikey:test", Role: admin.RoleOwner}); err != nil {
		t.Fatal(err)
	}
	got, err := c.srv.reloadNode(ctx, n.ID) // what the login does next
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyExpiry.After(time.Now()) {
		t.Errorf("alice-laptop's key lives until %v after alice was disabled", got.KeyExpiry)
	}
}
