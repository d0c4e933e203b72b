package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/fault"
	"github.com/wardnet/ward/wire"
)

// uiAPI calls the admin JSON API as the browser b's session would: with
// its cookie and the CSRF token of its last page p.
func (c *testCoord) uiAPI(b *devidptest.Browser, p *devidptest.Page, method, path string, body, out any) int {
	c.t.Helper()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(p.Body)
	if m == nil {
		c.t.Fatalf("no CSRF token on %s", p.URL)
	}
	j, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, c.http.URL+path, bytes.NewReader(j))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", m[1])
	resp, err := b.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(rb, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, rb)
		}
	}
	return resp.StatusCode
}

// whoami returns the status and principal of an API key.
func (c *testCoord) whoami(key string) (int, map[string]any) {
	c.t.Helper()
	code, b := c.call("GET", wire.PathAdminWhoami, key, nil)
	var p map[string]any
	if code == http.StatusOK {
		jsonUnmarshal(c.t, b, &p)
	}
	return code, p
}

// carolsAPIKey logs carol (an owner in dev mode) in to the admin UI and
// makes an API key with her session, as she would in the UI.
func carolsAPIKey(t *testing.T, c *testCoord) string {
	t.Helper()
	b, p := c.uiLogin(carol)
	var k wire.APIKey
	if code := c.uiAPI(b, p, "POST", wire.PathAdminAPIKeys, wire.CreateAPIKeyRequest{Description: "carol's script", Scopes: []string{"admin"}}, &k); code != http.StatusCreated || k.Key == "" {
		t.Fatalf("carol creates an API key in the UI: %d", code)
	}
	return k.Key
}

// TestDisabledAdminAPIKeyRefused: an owner makes an API key in the UI, and
// with it a second one; once she is disabled, neither does anything (403,
// with the reason), so she cannot re-enable herself; the bootstrap key and
// the keys it made stay valid; once enabled again, her keys work again.
func TestDisabledAdminAPIKeyRefused(t *testing.T) {
	c := startDevCoord(t)
	key := carolsAPIKey(t, c)
	if code, p := c.whoami(key); code != http.StatusOK || p["role"] != "owner" {
		t.Fatalf("whoami with carol's key: %d %v", code, p)
	}
	var chained wire.APIKey // made by carol's key: hers too
	if code, b := c.call("POST", wire.PathAdminAPIKeys, key, wire.CreateAPIKeyRequest{Description: "made by a key", Scopes: []string{"admin"}}); code != http.StatusCreated {
		t.Fatalf("create an API key with carol's key: %d %s", code, b)
	} else {
		jsonUnmarshal(t, b, &chained)
	}
	var system wire.APIKey // made by the bootstrap key: the system's
	if code := c.admin("POST", wire.PathAdminAPIKeys, wire.CreateAPIKeyRequest{Description: "ci", Scopes: []string{"admin"}}, &system); code != http.StatusCreated {
		t.Fatalf("create an API key with the bootstrap key: %d", code)
	}

	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, nil); code != http.StatusOK {
		t.Fatalf("disable carol: %d", code)
	}
	for name, k := range map[string]string{"carol's key": key, "the key her key made": chained.Key} {
		code, b := c.call("POST", wire.PathAdminUsers+"/carol@example.com/enable", k, nil)
		if code != http.StatusForbidden || !bytes.Contains(b, []byte("disabled")) {
			t.Errorf("%s re-enables carol after her disable: %d %s, want 403 saying she is disabled", name, code, b)
		}
		for _, call := range []struct{ method, path string }{
			{"GET", wire.PathAdminWhoami}, {"GET", wire.PathAdminNodes}, {"POST", wire.PathAdminAuthKeys},
		} {
			if code, b := c.call(call.method, call.path, k, wire.CreateAuthKeyRequest{}); code != http.StatusForbidden {
				t.Errorf("%s %s with %s after the disable: %d %s, want 403", call.method, call.path, name, code, b)
			}
		}
	}
	var u wire.AdminUser
	if code := c.admin("GET", wire.PathAdminUsers+"/carol@example.com", nil, &u); code != http.StatusOK || !u.Disabled {
		t.Fatalf("carol after her keys tried to enable her: %d disabled=%v", code, u.Disabled)
	}
	for name, k := range map[string]string{"bootstrap": c.apiKey, "made by bootstrap": system.Key} {
		if code, p := c.whoami(k); code != http.StatusOK || p["role"] != "owner" {
			t.Errorf("the system's key (%s) after carol's disable: %d %v", name, code, p)
		}
	}

	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("enable carol: %d", code)
	}
	if code, _ := c.whoami(chained.Key); code != http.StatusOK {
		t.Errorf("carol's chained key once she is enabled again: %d", code)
	}
}

// TestAPIKeyActsWithCreatorRole: a key acts with its person's current role:
// once carol's groups (recorded at her last login) make her an auditor, her
// key reads but changes nothing, and makes no API key.
func TestAPIKeyActsWithCreatorRole(t *testing.T) {
	c := startDevCoord(t)
	key := carolsAPIKey(t, c)
	users, err := c.srv.st.UsersByEmail(t.Context(), "carol@example.com")
	if err != nil || len(users) != 1 {
		t.Fatalf("carol: %v %v", users, err)
	}
	u := users[0]
	// A later login records her new groups.
	if _, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: u.Issuer, Subject: u.Subject, Email: u.Email,
		Groups: []string{"auditors"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, p := c.whoami(key); code != http.StatusOK || p["role"] != "auditor" {
		t.Errorf("whoami with the key of an auditor now: %d %v, want auditor", code, p)
	}
	if code, _ := c.call("GET", wire.PathAdminNodes, key, nil); code != http.StatusOK {
		t.Errorf("an auditor's key reads nodes: %d", code)
	}
	for _, path := range []string{wire.PathAdminAuthKeys, wire.PathAdminAPIKeys} {
		if code, b := c.call("POST", path, key, map[string]any{}); code != http.StatusForbidden {
			t.Errorf("POST %s with an auditor's key: %d %s, want 403", path, code, b)
		}
	}
	if _, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: u.Issuer, Subject: u.Subject, Email: u.Email,
		Groups: []string{"ops"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, b := c.call("GET", wire.PathAdminNodes, key, nil); code != http.StatusForbidden {
		t.Errorf("the key of a person without an admin role: %d %s, want 403", code, b)
	}
}

// TestDisabledAdminPreAuthKeyRefused: pre-auth keys an owner made (in the
// UI, and with her API key) register no device once she is disabled: 403
// with the reason, as a modified client calling register directly sees
// it. The bootstrap key's pre-auth keys still register, and hers do again
// once she is enabled.
func TestDisabledAdminPreAuthKeyRefused(t *testing.T) {
	c := startDevCoord(t)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: testPolicy, ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("set policy: %d", code)
	}
	b, p := c.uiLogin(carol)
	req := wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}, Reusable: true}
	var inUI wire.AuthKey
	if code := c.uiAPI(b, p, "POST", wire.PathAdminAuthKeys, req, &inUI); code != http.StatusCreated {
		t.Fatalf("carol creates a pre-auth key in the UI: %d", code)
	}
	var byKey wire.AuthKey
	if code, body := c.call("POST", wire.PathAdminAuthKeys, carolsAPIKey(t, c), req); code != http.StatusCreated {
		t.Fatalf("carol creates a pre-auth key with her API key: %d %s", code, body)
	} else {
		jsonUnmarshal(t, body, &byKey)
	}
	system := c.authKey([]string{"tag:camera"}, true, "")
	if code, _ := c.register(newMachine(t), inUI.Key, "before"); code != http.StatusOK {
		t.Fatalf("register with carol's key before the disable: %d", code)
	}

	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, nil); code != http.StatusOK {
		t.Fatalf("disable carol: %d", code)
	}
	for name, k := range map[string]string{"made in the UI": inUI.Key, "made with her API key": byKey.Key} {
		m := newMachine(t)
		c.session(m)
		code, body := c.call("POST", wire.PathRegister, m.token, wire.RegisterRequest{AuthKey: k, WGKey: m.wg.Public(), Hostname: "cam"})
		if code != http.StatusForbidden || !bytes.Contains(body, []byte("disabled")) {
			t.Errorf("register with carol's pre-auth key (%s) after her disable: %d %s, want 403 with the reason", name, code, body)
		}
	}
	if code, _ := c.register(newMachine(t), system, "system"); code != http.StatusOK {
		t.Errorf("register with the bootstrap key's pre-auth key: %d", code)
	}

	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("enable carol: %d", code)
	}
	if code, _ := c.register(newMachine(t), byKey.Key, "after"); code != http.StatusOK {
		t.Errorf("register with carol's key once she is enabled again: %d", code)
	}
}

// TestBackendMakesAPIKeysForOwnersOnly: the coordinator itself refuses an
// API key to a principal whose role lacks the right, whatever front end
// asks: a key's role is never capped by its maker's role at its making
// because that role is always owner.
func TestBackendMakesAPIKeysForOwnersOnly(t *testing.T) {
	c := startCoord(t, testPolicy)
	b := c.srv.Backend()
	for _, r := range []admin.Role{admin.RoleAdmin, admin.RoleNetworkAdmin, admin.RoleITAdmin, admin.RoleAuditor, admin.RoleNone} {
		_, err := b.CreateAPIKey(t.Context(), wire.CreateAPIKeyRequest{Description: "x"}, admin.Principal{Actor: "user:x@example.com", Role: r})
		if fault.KindOf(err) != fault.Forbidden {
			t.Errorf("an API key for a principal of role %q: %v, want forbidden", r, err)
		}
	}
	if _, err := b.CreateAPIKey(t.Context(), wire.CreateAPIKeyRequest{Description: "x"}, admin.Principal{Actor: "system", Role: admin.RoleOwner}); err != nil {
		t.Errorf("an API key for an owner: %v", err)
	}
}
