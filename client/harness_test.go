package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/nodetest"
	"github.com/wardnet/ward/wire"
)

const (
	// deadline bounds waits for things that must happen.
	deadline = 30 * time.Second
	// refusedDial bounds a proxy's dial to a port the policy does not
	// grant (the device answers nothing, so the dial runs out).
	refusedDial = 2 * time.Second
)

// fakeIdP stands in for the identity provider: its authorization URL
// redirects straight back to the coordinator's callback as the person the
// test chose. The real OIDC flow is tested in coordinator/sso and e2e;
// swap browse for a devidptest browser to run this file against it.
type fakeIdP struct {
	coordURL string
	mu       sync.Mutex // guards who, groups, refuse
	who      string
	groups   string
	refuse   string
}

func (f *fakeIdP) as(who, groups, refuse string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.who, f.groups, f.refuse = who, groups, refuse
}

func (f *fakeIdP) AuthURL(_ http.ResponseWriter, _ *http.Request, payload string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := url.Values{"state": {payload}, "sub": {f.who}, "groups": {f.groups}, "refuse": {f.refuse}}
	return f.coordURL + wire.PathOIDCCallback + "?" + q.Encode(), nil
}

func (f *fakeIdP) Complete(_ http.ResponseWriter, r *http.Request) (store.Identity, time.Time, string, error) {
	q := r.URL.Query()
	if why := q.Get("refuse"); why != "" {
		return store.Identity{}, time.Time{}, q.Get("state"), errors.New(why)
	}
	return store.Identity{Issuer: "https://idp.invalid", Subject: q.Get("sub"), Email: q.Get("sub") + "@example.com",
		Groups: strings.Split(q.Get("groups"), ",")}, time.Time{}, q.Get("state"), nil
}

// browse is the person's browser: it opens the login URL, follows the
// redirects through the identity provider back to the coordinator and,
// when the coordinator asks, clicks "Connect this device" on its
// confirmation page.
var browse = func(t *testing.T, loginURL string) {
	t.Helper()
	b := devidptest.NewBrowser()
	p, err := b.Open(context.Background(), loginURL)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if p.Field(wire.PathLoginConfirm, "csrf") == "" {
		return // refused before the confirmation page
	}
	if _, err := b.SubmitForm(context.Background(), p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); err != nil {
		t.Fatalf("browser: confirm: %v", err)
	}
}

// world is a coordinator with a fake IdP and one camera device exposing a
// granted and an ungranted echo port.
type world struct {
	t         *testing.T
	coord     *nodetest.Coordinator
	idp       *fakeIdP
	camera    *nodetest.Agent
	granted   uint16
	ungranted uint16
}

// policy grants group:ops the camera's port %d.
const policy = `{
  "groups": {"group:ops": []},
  "tagOwners": {"tag:camera": []},
  "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:%d"]}],
}`

// newWorld starts the coordinator (people's keys live userTTL; 0: the
// default) and the camera, and waits for the camera's data plane.
func newWorld(t *testing.T, userTTL time.Duration) *world {
	t.Helper()
	w := &world{t: t, idp: &fakeIdP{}, granted: nodetest.EchoServer(t), ungranted: nodetest.EchoServer(t)}
	w.coord = nodetest.StartCoordinator(t, fmt.Sprintf(policy, w.granted), func(c *assembly.Config) {
		w.idp.coordURL = "http://" + c.Listen
		c.Auth, c.UserKeyTTL = w.idp, userTTL
	})
	w.startCamera()
	return w
}

// attackAsCamera stops the camera and returns an attacker with its key
// and address toward the node named peer: a modified camera that ignores
// the grants in its map.
func (w *world) attackAsCamera(t *testing.T, peer string) *nodetest.Attacker {
	t.Helper()
	cam, err := node.LoadState(w.camera.Dir)
	if err != nil {
		t.Fatal(err)
	}
	self := w.camera.Engine().Self()
	w.camera.Stop() // the peer must answer the attacker, not the camera
	var target wire.AdminNode
	eventually(t, peer+"'s endpoints at the coordinator", func() bool {
		code, _ := w.coord.Admin("GET", wire.PathAdminNodes+"/"+peer, nil, &target)
		return code == 200 && nodetest.HasLoopback(target.Endpoints)
	})
	return nodetest.NewAttacker(t, cam.WGKey, self.IPv4, target.Node, target.Endpoints)
}

// url is the coordinator's URL.
func (w *world) url() string { return w.coord.URL() }

// stopCoord stops the coordinator.
func (w *world) stopCoord() { w.coord.Stop() }

// restartCoord stops the coordinator and starts a new one on the same
// address and data: it keeps its store and forgets what it held in memory
// (control sessions, pending logins).
func (w *world) restartCoord() { w.coord.Restart() }

// startCamera registers and runs the camera agent.
func (w *world) startCamera() {
	t := w.t
	w.camera = nodetest.StartAgent(t, node.AgentConfig{Coordinator: w.url(), AuthKey: w.coord.AuthKey("tag:camera"),
		AllowInsecureHTTP: true, Expose: []uint16{w.granted, w.ungranted}, Hostname: "cam1"})
	t.Cleanup(func() {
		if err := w.camera.Stop(); err != nil {
			t.Errorf("camera agent: %v", err)
		}
	})
	eventually(t, "the camera's data plane", func() bool { return w.camera.Engine().ListenPort() != 0 })
	// A device in the field has long announced its endpoints; wait for
	// that, so a login's first handshake goes straight to the camera.
	eventually(t, "the camera's endpoints at the coordinator", w.cameraEndpointsKnown)
}

// admin GETs path from the admin API and decodes the answer into out; it
// reports whether that worked.
func (w *world) admin(path string, out any) bool {
	code, _ := w.coord.Admin(http.MethodGet, path, nil, out)
	return code == http.StatusOK
}

// cameraEndpointsKnown asks the admin API whether the coordinator knows
// the camera's UDP endpoints.
func (w *world) cameraEndpointsKnown() bool {
	var nodes []wire.AdminNode
	if !w.admin(wire.PathAdminNodes, &nodes) {
		return false
	}
	for _, n := range nodes {
		if n.Name == "cam1" && len(n.Endpoints) > 0 {
			return true
		}
	}
	return false
}

// laptop is a client daemon run in process, with the API client the CLI
// uses.
type laptop struct {
	t     *testing.T
	dir   string
	api   *localapi.Client
	socks string
	http  string
	// stop stops the daemon and returns what its Run returned.
	stop func() error
}

// startLaptop runs a client daemon against w's coordinator.
func (w *world) startLaptop(tweak func(*client.Config)) *laptop {
	t := w.t
	t.Helper()
	cfg := client.Config{Coordinator: w.url(), AllowInsecureHTTP: true, SOCKS5: "127.0.0.1:0",
		HTTPProxy: "127.0.0.1:0", Hostname: "alice-laptop", DialTimeout: refusedDial}
	if tweak != nil {
		tweak(&cfg)
	}
	l := nodetest.StartLaptop(t, cfg)
	t.Cleanup(func() {
		if err := l.Stop(); err != nil {
			t.Errorf("client daemon: %v", err)
		}
	})
	return &laptop{t: t, dir: l.Dir, api: l.API, socks: l.SOCKS5, http: l.HTTPProxy, stop: l.Stop}
}

// login runs `ward up`'s steps: start a login, let the person finish it
// in the browser, wait for the outcome. It returns the result and when
// the browser step ended.
func (l *laptop) login(w *world, who, groups, refuse string) (localapi.LoginResult, time.Time) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start, err := l.api.Login(ctx, localapi.LoginRequest{Force: true})
	if err != nil || start.URL == "" {
		l.t.Fatalf("start login: %+v, %v", start, err)
	}
	w.idp.as(who, groups, refuse)
	browse(l.t, start.URL)
	done := time.Now()
	res, err := l.api.WaitLogin(ctx, start.ID)
	if err != nil {
		l.t.Fatalf("wait for login: %v", err)
	}
	return res, done
}

// wgKey returns the WireGuard public key of the saved session (zero when
// none).
func (l *laptop) wgKey() wire.WGPublic {
	st, err := node.LoadPersonState(l.dir)
	if err != nil {
		l.t.Fatal(err)
	}
	if st.Session == nil {
		return wire.WGPublic{}
	}
	return st.Session.WGKey.Public()
}

// echo writes msg on c and reads it back.
func echo(c net.Conn, msg string) error { return nodetest.Echo(c, msg, deadline) }

// socksConnect opens a SOCKS5 CONNECT to host:port through proxy and
// returns the connection, or an error carrying the reply code.
func socksConnect(proxy, host string, port uint16) (net.Conn, error) {
	return nodetest.SOCKSConnect(proxy, host, port, deadline)
}

// connectProxy opens an HTTP CONNECT tunnel to host:port through proxy.
func connectProxy(proxy, host string, port uint16) (net.Conn, int, error) {
	c, err := net.DialTimeout("tcp", proxy, deadline)
	if err != nil {
		return nil, 0, err
	}
	c.SetDeadline(time.Now().Add(deadline))
	target := net.JoinHostPort(host, fmt.Sprint(port))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		c.Close()
		return nil, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, resp.StatusCode, fmt.Errorf("connect: %s", resp.Status)
	}
	if br.Buffered() > 0 {
		c.Close()
		return nil, 0, errors.New("data before the tunnel")
	}
	return c, resp.StatusCode, nil
}

// reach retries dial until it connects and echoes, or the deadline
// passes. A first WireGuard handshake that meets a peer which has not yet
// applied the map delta naming this node is retried by wireguard-go after
// 5 s, longer than a proxy's dial timeout in these tests.
func reach(t *testing.T, what string, dial func() (net.Conn, error)) {
	t.Helper()
	var err error
	eventually(t, what, func() bool {
		var c net.Conn
		if c, err = dial(); err != nil {
			return false
		}
		defer c.Close()
		err = echo(c, "hello through "+what)
		return err == nil
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	nodetest.Eventually(t, deadline, what, cond)
}

// person returns the desktop client's side of st (zero when st has none).
func person(st localapi.Status) localapi.PersonStatus {
	if st.Person == nil {
		return localapi.PersonStatus{}
	}
	return *st.Person
}
