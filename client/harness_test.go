package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

const (
	// deadline bounds waits for things that must happen.
	deadline = 30 * time.Second
	// refusedDial bounds a proxy's dial to a port the policy does not
	// grant (the device answers nothing, so the dial runs out).
	refusedDial = 2 * time.Second
)

// failLog returns a debug logger whose output the test prints if it fails.
func failLog(t *testing.T, name string) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

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
	url       string
	srv       *coordinator.Server
	idp       *fakeIdP
	camera    *node.Agent
	granted   uint16
	ungranted uint16
	stopCoord func()
	dataDir   string
	// policyFile and userTTL configure every start of the coordinator.
	policyFile string
	userTTL    time.Duration
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
	w := &world{t: t, idp: &fakeIdP{}, granted: echoServer(t), ungranted: echoServer(t)}
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.hujson")
	if err := os.WriteFile(pf, []byte(fmt.Sprintf(policy, w.granted)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.url = "http://" + ln.Addr().String()
	w.idp.coordURL = w.url
	w.dataDir, w.policyFile, w.userTTL = filepath.Join(dir, "data"), pf, userTTL
	w.startCoord(ln)
	w.startCamera()
	return w
}

// startCoord runs the coordinator on ln until the test ends or stopCoord.
func (w *world) startCoord(ln net.Listener) {
	t := w.t
	var err error
	w.srv, err = coordinator.New(context.Background(), coordinator.Config{DataDir: w.dataDir, Listen: ln.Addr().String(),
		Dev: true, PolicyFile: w.policyFile, Auth: w.idp, UserKeyTTL: w.userTTL, DeniedWindow: 300 * time.Millisecond,
		Logger: failLog(t, "coordinator")})
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := w.srv
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	var once sync.Once
	w.stopCoord = func() { once.Do(func() { cancel(); <-done; srv.Close() }) }
	t.Cleanup(w.stopCoord)
}

// restartCoord stops the coordinator and starts a new one on the same
// address and data: it keeps its store and forgets what it held in memory
// (control sessions, pending logins).
func (w *world) restartCoord() {
	w.t.Helper()
	w.stopCoord()
	ln, err := net.Listen("tcp", strings.TrimPrefix(w.url, "http://"))
	if err != nil {
		w.t.Fatalf("listen again: %v", err)
	}
	w.startCoord(ln)
}

// startCamera registers and runs the camera agent.
func (w *world) startCamera() {
	t := w.t
	key, err := w.srv.CreateAuthKey(context.Background(), wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}, "test", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	w.camera, err = node.NewAgent(node.AgentConfig{StateDir: t.TempDir(), Coordinator: w.url, AuthKey: key.Key,
		AllowInsecureHTTP: true, Expose: []uint16{w.granted, w.ungranted}, Hostname: "cam1", Logger: failLog(t, "camera")})
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, w.camera)
	eventually(t, "the camera's data plane", func() bool { return w.camera.Engine().ListenPort() != 0 })
	// A device in the field has long announced its endpoints; wait for
	// that, so a login's first handshake goes straight to the camera.
	eventually(t, "the camera's endpoints at the coordinator", w.cameraEndpointsKnown)
}

// admin GETs path from the admin API with the bootstrap key and decodes
// the answer into out; it reports whether that worked.
func (w *world) admin(path string, out any) bool {
	key, err := os.ReadFile(filepath.Join(w.dataDir, coordinator.BootstrapKeyFile))
	if err != nil {
		return false
	}
	req, _ := http.NewRequest("GET", w.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(out) == nil
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

// runAgent runs a until the test ends.
func runAgent(t *testing.T, a *node.Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("camera agent: %v", err)
		}
	})
}

// laptop is a client daemon run in process, with the API client the CLI
// uses.
type laptop struct {
	t     *testing.T
	dir   string
	d     *client.Daemon
	api   *localapi.Client
	stop  func()
	socks string
	http  string
}

// startLaptop runs a client daemon against w's coordinator.
func (w *world) startLaptop(tweak func(*client.Config)) *laptop {
	t := w.t
	t.Helper()
	// A short directory: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "wardc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg := client.Config{StateDir: dir, Coordinator: w.url, AllowInsecureHTTP: true, SOCKS5: "127.0.0.1:0",
		HTTPProxy: "127.0.0.1:0", Hostname: "alice-laptop", DialTimeout: refusedDial, Logger: failLog(t, "laptop")}
	if tweak != nil {
		tweak(&cfg)
	}
	d, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	l := &laptop{t: t, dir: dir, d: d, api: &localapi.Client{Socket: filepath.Join(dir, localapi.SocketName)}}
	l.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("client daemon: %v", err)
			}
		})
	}
	t.Cleanup(l.stop)
	var st localapi.Status
	eventually(t, "the client daemon's socket", func() bool {
		st, err = l.api.Status(context.Background())
		return err == nil
	})
	l.socks, l.http = person(st).SOCKS5, person(st).HTTPProxy
	return l
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

// echoServer runs a TCP echo server on 127.0.0.1 until the test ends.
func echoServer(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(deadline))
				io.Copy(c, c)
			}()
		}
	}()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// echo writes msg on c and reads it back.
func echo(c net.Conn, msg string) error {
	c.SetDeadline(time.Now().Add(deadline))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}

// socksConnect opens a SOCKS5 CONNECT to host:port through proxy and
// returns the connection, or an error carrying the reply code.
func socksConnect(proxy, host string, port uint16) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", proxy, deadline)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(deadline))
	req := []byte{5, 1, 0, 5, 1, 0, 3, byte(len(host))}
	req = append(append(req, host...), byte(port>>8), byte(port))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	var rep [12]byte // greeting answer (2) + reply with an IPv4 address (10)
	if _, err := io.ReadFull(c, rep[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("socks5 reply: %w", err)
	}
	if rep[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("socks5 reply code %d", rep[3])
	}
	return c, nil
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
	stop := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(stop) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// person returns the desktop client's side of st (zero when st has none).
func person(st localapi.Status) localapi.PersonStatus {
	if st.Person == nil {
		return localapi.PersonStatus{}
	}
	return *st.Person
}
