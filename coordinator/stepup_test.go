package coordinator

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// TestAdminFleetChangeNeedsRecentSecondFactor pins issue 17's step-up for
// admin actions, on the server and through the dev IdP: carol, an owner
// whose login showed no second factor, reads but cannot save the policy
// or mint a pre-auth key (a direct API call with her session cookie and
// CSRF token gets 401 naming the step-up, with RFC 9470's
// WWW-Authenticate); the step-up login the error names sends her to the
// IdP with max_age and acr_values; alice, an owner who logged in with a
// one-time code, saves it; API keys are governed by their scopes instead.
func TestAdminFleetChangeNeedsRecentSecondFactor(t *testing.T) {
	c := startCoordListening(t, func(cfg *Config) {
		cfg.AdminStepUp = 15 * time.Minute
		cfg.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner, "alice@example.com": admin.RoleOwner}
	})
	var cur wire.PolicyVersion
	c.admin("GET", wire.PathAdminPolicy, nil, &cur)
	save := wire.SetPolicyRequest{Text: cur.Text, ParentID: cur.ID}

	b, p := c.uiLogin(carol)
	if code := c.uiAPI(b, p, "GET", wire.PathAdminPolicy, nil, nil); code != http.StatusOK {
		t.Fatalf("carol reads the policy: %d", code)
	}
	resp, body := c.uiSend(b, p, "PUT", wire.PathAdminPolicy, save)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "second factor") || !strings.Contains(body, "/ui/login?step_up=1") ||
		!strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_user_authentication") {
		t.Errorf("carol saves the policy without a second factor: %d %q %s; want 401 naming the step-up", resp.StatusCode,
			resp.Header.Get("WWW-Authenticate"), body)
	}
	if resp, body := c.uiSend(b, p, "POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("carol mints a pre-auth key without a second factor: %d %s; want 401", resp.StatusCode, body)
	}
	go2 := c.uiGet(b, "/ui/login?step_up=1&next=/ui/policy")
	idp, err := url.Parse(go2.Header.Get("Location"))
	if err != nil || idp.Query().Get("max_age") != "900" || idp.Query().Get("acr_values") == "" {
		t.Errorf("the step-up login goes to %q; want the IdP with max_age=900 and acr_values", go2.Header.Get("Location"))
	}

	ab, ap := c.uiLoginAt("/ui/login?step_up=1&next=/ui/policy", alice)
	if ap.URL.Path != "/ui/policy" {
		t.Errorf("alice's step-up login ends on %s; want back on /ui/policy", ap.URL)
	}
	if resp, body := c.uiSend(ab, ap, "PUT", wire.PathAdminPolicy, save); resp.StatusCode != http.StatusOK {
		t.Errorf("alice saves the policy after a login with a one-time code: %d %s", resp.StatusCode, body)
	}
	if code := c.admin("POST", wire.PathAdminAuthKeys, wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Errorf("the bootstrap API key mints a pre-auth key: %d", code)
	}
}

// uiLoginAt logs creds in through the UI login at path (with its query).
func (c *testCoord) uiLoginAt(path string, creds devidptest.Credentials) (*devidptest.Browser, *devidptest.Page) {
	c.t.Helper()
	b := devidptest.NewBrowser()
	p, err := b.Login(c.t.Context(), c.http.URL+path, creds)
	if err != nil {
		c.t.Fatalf("ui login at %s as %s: %v", path, creds.Username, err)
	}
	return b, p
}

// uiSend sends a JSON request with b's session cookie and p's CSRF token,
// and returns the response (body closed) and its body.
func (c *testCoord) uiSend(b *devidptest.Browser, p *devidptest.Page, method, path string, body any) (*http.Response, string) {
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
	return resp, string(rb)
}
