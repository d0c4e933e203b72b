package coordinator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

const testPolicy = `{
  "tagOwners": {"tag:operator": [], "tag:camera": [], "tag:sensor": []},
  "acls": [{"action": "accept", "src": ["tag:operator"], "dst": ["tag:camera:22"]}],
}`

// testCoord is a coordinator served by httptest.
type testCoord struct {
	t      testing.TB
	srv    *Server
	http   *httptest.Server
	apiKey string
}

func startCoord(t testing.TB, policy string) *testCoord {
	t.Helper()
	return startCoordWith(t, policy, nil)
}

func startCoordWith(t testing.TB, policy string, tweak func(*Config)) *testCoord {
	t.Helper()
	return startCoordWrapped(t, policy, tweak, nil)
}

// startCoordWrapped is startCoordWith whose handler wrap (when not nil)
// wraps, so that a test can watch requests inside the server.
func startCoordWrapped(t testing.TB, policy string, tweak func(*Config), wrap func(http.Handler) http.Handler) *testCoord {
	t.Helper()
	return startCoordShaped(t, policy, tweak, wrap, nil)
}

// startCoordShaped is startCoordWrapped whose listener wrapLn (when not
// nil) wraps, so that a test can shape the connections it accepts.
func startCoordShaped(t testing.TB, policy string, tweak func(*Config), wrap func(http.Handler) http.Handler, wrapLn func(net.Listener) net.Listener) *testCoord {
	t.Helper()
	dir := t.TempDir()
	pf := filepath.Join(dir, "policy.hujson")
	if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	// The listener comes first, so that the built-in dev IdP's issuer is
	// the address served.
	hs := httptest.NewUnstartedServer(nil)
	cfg := Config{DataDir: filepath.Join(dir, "data"), Listen: hs.Listener.Addr().String(), Dev: true, PolicyFile: pf, KeepAlive: time.Hour}
	if tweak != nil {
		tweak(&cfg)
	}
	withDevIdP(t, &cfg)
	srv, err := New(context.Background(), cfg)
	if err != nil {
		hs.Close()
		t.Fatal(err)
	}
	mountUI(t, srv)
	hs.Config.Handler = srv.Handler()
	if wrap != nil {
		hs.Config.Handler = wrap(hs.Config.Handler)
	}
	hs.EnableHTTP2 = false
	// As Serve: HTTP/1.1 and h2c (HTTP/2 with prior knowledge).
	hs.Config.Protocols, hs.Config.HTTP2 = srv.protocols()
	if wrapLn != nil {
		hs.Listener = wrapLn(hs.Listener)
	}
	hs.Start()
	t.Cleanup(func() {
		srv.cancel()
		hs.CloseClientConnections()
		hs.Close()
		srv.Close()
	})
	key, err := os.ReadFile(filepath.Join(dir, "data", BootstrapKeyFile))
	if err != nil && !(cfg.DB != "" && os.IsNotExist(err)) { // a later replica: the first has the key
		t.Fatal(err)
	}
	return &testCoord{t: t, srv: srv, http: hs, apiKey: strings.TrimSpace(string(key))}
}

// withDevIdP points a dev-mode cfg without an identity provider at a
// development OIDC provider on its own loopback port, with dev mode's
// admin roles, as package assembly does for `ward coordinator --dev`
// (this package's tests cannot import assembly, which imports it).
func withDevIdP(t testing.TB, cfg *Config) {
	t.Helper()
	if !cfg.Dev || cfg.OIDC != nil || cfg.Auth != nil {
		return
	}
	base := "http://" + cfg.Listen
	secret := rand.Text()
	idp := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: "ward", Secret: secret,
		RedirectURIs: []string{base + wire.PathOIDCCallback, base + PathUICallback}}}})
	cfg.OIDC = &sso.Config{Issuer: idp.Issuer(), ClientID: "ward", ClientSecret: sso.Secret(secret),
		RedirectURL: base + wire.PathOIDCCallback, Refresh: true}
	if len(cfg.AdminRoles) == 0 {
		cfg.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner, admin.MemberIdP + "auditors": admin.RoleAuditor}
	}
}

// mountUI mounts the admin UI and JSON API on srv, as package assembly
// does.
func mountUI(t testing.TB, srv *Server) {
	t.Helper()
	var login web.Login
	if l, ok := srv.AdminLogin(); ok {
		login = l
	}
	ui, err := web.New(web.Config{Roles: srv.cfg.AdminRoles, ClientAddr: ClientAddr, Sessions: srv.AdminSessionStore(),
		StepUp: srv.cfg.AdminStepUp}, srv.Backend(), login)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetAdminSessions(ui)
	ui.Mount(srv.AdminRoutes())
}

// call sends a JSON request and returns the status and body.
func (c *testCoord) call(method, path, token string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, c.http.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func (c *testCoord) admin(method, path string, body, out any) int {
	c.t.Helper()
	code, b := c.call(method, path, c.apiKey, body)
	if out != nil && code < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return code
}

func (c *testCoord) authKey(tags []string, reusable bool, expiry string) string {
	c.t.Helper()
	var k wire.AuthKey
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: tags, Reusable: reusable, Expiry: expiry}, &k); code != 201 {
		c.t.Fatalf("create auth key: %d", code)
	}
	return k.Key
}

// machine is a test node's identity.
type machine struct {
	priv  wire.MachinePrivate
	wg    wire.WGPrivate
	token string
}

func newMachine(t testing.TB) *machine {
	mk, _ := wire.NewMachinePrivate()
	wk, _ := wire.NewWGPrivate()
	return &machine{priv: mk, wg: wk}
}

func (c *testCoord) session(m *machine) string {
	c.t.Helper()
	var ch wire.ChallengeResponse
	code, b := c.call("POST", wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: m.priv.Public()})
	if code != 200 || json.Unmarshal(b, &ch) != nil {
		c.t.Fatalf("challenge: %d %s", code, b)
	}
	sig := m.priv.Sign(wire.SessionMessage(ch.Challenge, m.priv.Public()))
	var ss wire.SessionResponse
	code, b = c.call("POST", wire.PathSession, "", wire.SessionRequest{MachineKey: m.priv.Public(), Challenge: ch.Challenge, Signature: sig, ProtocolVersion: wire.ProtocolVersion})
	if code != 200 || json.Unmarshal(b, &ss) != nil {
		c.t.Fatalf("session: %d %s", code, b)
	}
	m.token = ss.Token
	return ss.Token
}

func (c *testCoord) register(m *machine, key, host string) (int, wire.Node) {
	c.t.Helper()
	if m.token == "" {
		c.session(m)
	}
	code, b := c.call("POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: key, WGKey: m.wg.Public(), Hostname: host, OS: "linux", Version: "test"})
	var r wire.RegisterResponse
	json.Unmarshal(b, &r)
	return code, r.Node
}

func (c *testCoord) mustRegister(tags []string, host string) *machine {
	c.t.Helper()
	m := newMachine(c.t)
	if code, _ := c.register(m, c.authKey(tags, false, ""), host); code != 200 {
		c.t.Fatalf("register %s: %d", host, code)
	}
	return m
}

// mapStream is an open map stream.
type mapStream struct {
	t    testing.TB
	resp *http.Response
	msgs chan wire.MapResponse
}

func (c *testCoord) openMap(m *machine, since uint64) *mapStream {
	c.t.Helper()
	return c.openMapQuery(m, fmt.Sprintf("since=%d", since))
}

// openMapQuery opens m's map stream with the query string q.
func (c *testCoord) openMapQuery(m *machine, q string) *mapStream {
	c.t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s?%s", c.http.URL, wire.PathMap, q), nil)
	req.Header.Set("Authorization", "Bearer "+m.token)
	resp, err := c.http.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.t.Fatalf("map: %d %s", resp.StatusCode, b)
	}
	s := &mapStream{t: c.t, resp: resp, msgs: make(chan wire.MapResponse, 100)}
	go func() {
		defer close(s.msgs)
		br := bufio.NewReaderSize(resp.Body, 1<<20)
		for {
			mr, err := readMapMsg(br)
			if err != nil {
				return
			}
			if !mr.KeepAlive {
				s.msgs <- mr
			}
		}
	}()
	c.t.Cleanup(func() { resp.Body.Close() })
	return s
}

// next returns the next message, failing after a generous deadline.
func (s *mapStream) next() wire.MapResponse {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			s.t.Fatal("map stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatal("no map message within 10s")
	}
	return wire.MapResponse{}
}

// quiet reports whether no message arrives within d.
func (s *mapStream) quiet(d time.Duration) bool {
	select {
	case m, ok := <-s.msgs:
		if ok {
			s.t.Logf("unexpected message: %+v", m)
		}
		return !ok
	case <-time.After(d):
		return true
	}
}

// ended waits for the stream to end.
func (s *mapStream) ended() bool {
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func jsonUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// readMapMsg reads one map message from br as node/control does: its
// line, then the binary peer blocks the line says follow it
// (wire.FeatureBinaryPeers).
func readMapMsg(br *bufio.Reader) (wire.MapResponse, error) {
	var m wire.MapResponse
	line, err := br.ReadBytes('\n')
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return m, fmt.Errorf("%w %.200q: %w", errMapDecode, line, err)
	}
	if err := wire.ReadMapBinary(br, &m, 64<<20); errors.Is(err, wire.ErrPeerBlock) {
		return m, fmt.Errorf("%w: %w", errMapDecode, err)
	} else if err != nil {
		return m, err
	}
	return m, nil
}

// errMapDecode: readMapMsg read a message it could not decode.
var errMapDecode = errors.New("decode map message")
