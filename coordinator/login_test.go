package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// fakeAuth stands in for the IdP: the callback names the user directly.
// The real OIDC flow is tested in coordinator/sso and e2e.
type fakeAuth struct{}

func (fakeAuth) AuthURL(_ http.ResponseWriter, _ *http.Request, payload string) (string, error) {
	return "https://idp.invalid/authorize?state=" + url.QueryEscape(payload), nil
}

func (fakeAuth) Complete(_ http.ResponseWriter, r *http.Request) (store.Identity, time.Time, string, error) {
	q := r.URL.Query()
	if q.Get("mfa") == "missing" {
		return store.Identity{}, time.Time{}, "", errors.New("MFA required")
	}
	return store.Identity{Issuer: "https://idp.invalid", Subject: q.Get("sub"), Email: q.Get("sub") + "@example.com",
		Groups: strings.Split(q.Get("groups"), ",")}, time.Time{}, q.Get("state"), nil
}

// group:ops is declared empty: its members come from the IdP.
const userPolicy = `{
  "groups": {"group:ops": [], "group:contractors": []},
  "tagOwners": {"tag:camera": []},
  "acls": [{"action": "accept", "src": ["group:ops"], "dst": ["tag:camera:22"]}],
}`

// startLogin starts m's interactive login as its node would.
func (c *testCoord) startLogin(m *machine, host, os string) wire.LoginResponse {
	c.t.Helper()
	if m.token == "" {
		c.session(m)
	}
	code, b := c.call("POST", wire.PathLogin, m.token, wire.LoginRequest{WGKey: m.wg.Public(), Hostname: host, OS: os})
	var lr wire.LoginResponse
	if code != 200 || json.Unmarshal(b, &lr) != nil {
		c.t.Fatalf("login: %d %s", code, b)
	}
	return lr
}

// login runs m's interactive login with the fake IdP: the person's
// browser opens the link, comes back as sub through the callback and
// clicks "Connect this device". It returns what the node was told and the
// status of the browser's last page.
func (c *testCoord) login(m *machine, sub, groups string) (wire.LoginResult, int) {
	c.t.Helper()
	lr := c.startLogin(m, sub+"-laptop", "linux")
	ctx := context.Background()
	b := devidptest.NewBrowser()
	b.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse } // the fake IdP is not served
	p, err := b.Open(ctx, lr.URL)
	if err != nil || p.Status != http.StatusFound {
		c.t.Fatalf("browser link: %v %+v", err, p)
	}
	p, err = b.Open(ctx, c.http.URL+wire.PathOIDCCallback+"?"+url.Values{"state": {lr.ID}, "sub": {sub}, "groups": {groups}}.Encode())
	if err != nil {
		c.t.Fatal(err)
	}
	if p.Status == http.StatusOK {
		if p, err = b.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); err != nil {
			c.t.Fatal(err)
		}
	}
	code, body := c.call("GET", wire.PathLoginWait+"?id="+lr.ID, m.token, nil)
	var res wire.LoginResult
	if code != 200 || json.Unmarshal(body, &res) != nil {
		c.t.Fatalf("login wait: %d %s", code, body)
	}
	return res, p.Status
}

func TestInteractiveLoginAndDisable(t *testing.T) {
	c := startCoordWith(t, userPolicy, func(cfg *Config) {
		cfg.Auth = fakeAuth{}
		cfg.GroupKeyTTL = map[string]time.Duration{"group:contractors": time.Hour}
	})
	cam := c.mustRegister([]string{"tag:camera"}, "cam1")
	camMap := c.openMap(cam, 0)
	if full := camMap.next(); len(full.Peers) != 0 {
		t.Fatalf("camera has peers before any login: %+v", full.Peers)
	}
	alice := newMachine(t)
	res, code := c.login(alice, "alice", "ops")
	if code != 200 || !res.Done || res.Node == nil || res.Node.User != "alice@example.com" {
		t.Fatalf("alice's login: %d %+v", code, res)
	}
	if ttl := time.Until(res.Node.KeyExpiry); ttl < 11*time.Hour || ttl > 12*time.Hour {
		t.Errorf("alice's key lives %v, want 12h", ttl)
	}
	// The camera now sees alice (group:ops from the IdP) and admits her.
	var peers []wire.Node
	for len(peers) == 0 {
		m := camMap.next()
		peers = append(peers, m.PeersChanged...)
	}
	if peers[0].User != "alice@example.com" {
		t.Fatalf("camera's new peer: %+v", peers[0])
	}
	// A contractor's key is shortened by the group limit.
	bob := newMachine(t)
	res, _ = c.login(bob, "bob", "contractors")
	if ttl := time.Until(res.Node.KeyExpiry); ttl > time.Hour {
		t.Errorf("contractor's key lives %v, want at most 1h", ttl)
	}
	// Disabling alice cuts her from the camera.
	start := time.Now()
	if code := c.admin("POST", wire.PathAdminUsers+"/alice@example.com/disable", nil, nil); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	for {
		m := camMap.next()
		if len(m.PeersRemoved) > 0 {
			break
		}
	}
	t.Logf("disabling alice reached the camera in %v", time.Since(start))
	// A disabled user cannot log in again.
	res, code = c.login(newMachine(t), "alice", "ops")
	if code != 403 || res.Error == "" {
		t.Fatalf("disabled user's login: %d %+v", code, res)
	}
	c.admin("POST", wire.PathAdminUsers+"/alice@example.com/enable", nil, nil)
	alice.wg, _ = wire.NewWGPrivate() // every login uses a fresh key
	res, code = c.login(alice, "alice", "ops")
	if code != 200 || res.Node == nil || res.Node.WGKey != alice.wg.Public() {
		t.Fatalf("re-enabled login: %d %+v", code, res)
	}
}
