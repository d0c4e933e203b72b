package coordinator

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// startDevCoord runs a dev-mode coordinator with a development OIDC
// provider (see withDevIdP) on a loopback port chosen first, since the
// provider's redirect URIs name it.
func startDevCoord(t *testing.T) *testCoord {
	t.Helper()
	return startCoordListening(t, nil)
}

var carol = devidptest.Credentials{Username: "carol", Password: "carol"} // group admins: owner in dev mode

// uiLogin logs a person in to the admin UI through the dev provider's
// login form and returns their browser, holding the session cookie.
func (c *testCoord) uiLogin(creds devidptest.Credentials) (*devidptest.Browser, *devidptest.Page) {
	c.t.Helper()
	b := devidptest.NewBrowser()
	p, err := b.Login(c.t.Context(), c.http.URL+"/ui/login", creds)
	if err != nil {
		c.t.Fatalf("ui login as %s: %v", creds.Username, err)
	}
	return b, p
}

// uiGet requests path with b's cookies, without following redirects.
func (c *testCoord) uiGet(b *devidptest.Browser, path string) *http.Response {
	c.t.Helper()
	client := &http.Client{Jar: b.Client.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(c.http.URL + path)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// refused reports whether resp turns a session away: 401/403, or a
// redirect to the login page.
func refused(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return true
	case http.StatusSeeOther, http.StatusFound:
		return strings.HasPrefix(resp.Header.Get("Location"), "/ui/login")
	}
	return false
}

// TestDisabledUserLosesAdminUI: an admin logged in to the UI (a real
// session cookie from a real OIDC login) is disabled: their next page and
// API request are refused, and a new UI login is refused. The check runs
// on every request, so a disable this replica did not make (written
// straight to the store) ends the session too.
func TestDisabledUserLosesAdminUI(t *testing.T) {
	c := startDevCoord(t)
	b, p := c.uiLogin(carol)
	if p.Status != http.StatusOK || p.URL.Path != "/ui/devices" {
		t.Fatalf("ui login ended on %s: %d", p.URL, p.Status)
	}
	for _, path := range []string{"/ui/devices", wire.PathAdminNodes} {
		if resp := c.uiGet(b, path); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the session: %d", path, resp.StatusCode)
		}
	}

	var u wire.AdminUser
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, &u); code != http.StatusOK || !u.Disabled {
		t.Fatalf("disable carol: %d %+v", code, u)
	}
	for _, path := range []string{"/ui/devices", wire.PathAdminNodes, "/ui/users"} {
		if resp := c.uiGet(b, path); !refused(resp) {
			t.Errorf("GET %s after the disable: %d %s, want refused", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if _, p := c.uiLogin(carol); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "disabled") {
		t.Errorf("new ui login of a disabled admin: %d %s", p.Status, p.URL)
	}
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("enable carol: %d", code)
	}
	if resp := c.uiGet(b, "/ui/devices"); !refused(resp) {
		t.Errorf("the old session came back after the enable: %d", resp.StatusCode)
	}

	t.Run("disabled elsewhere", func(t *testing.T) {
		b, _ := c.uiLogin(carol)
		if resp := c.uiGet(b, "/ui/devices"); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /ui/devices after logging in again: %d", resp.StatusCode)
		}
		// Another replica's disable reaches this one through the store only.
		if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), true); err != nil {
			t.Fatal(err)
		}
		if resp := c.uiGet(b, "/ui/devices"); !refused(resp) {
			t.Errorf("GET /ui/devices after a disable in the store: %d, want refused", resp.StatusCode)
		}
	})
}

// TestAdminSessionEndedElsewhereStaysEnded: a session refused because its
// person was disabled by another replica (written straight to the store,
// so this replica ended no session itself) is ended, not only refused:
// once the person is enabled again, the old cookie does nothing, and the
// API tells its holder to log in (401) rather than that it may not (403).
func TestAdminSessionEndedElsewhereStaysEnded(t *testing.T) {
	c := startDevCoord(t)
	b, _ := c.uiLogin(carol)
	var u wire.AdminUser
	if code := c.admin("GET", wire.PathAdminUsers+"/carol@example.com", nil, &u); code != http.StatusOK {
		t.Fatalf("get carol: %d", code)
	}
	if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), true); err != nil {
		t.Fatal(err)
	}
	if resp := c.uiGet(b, wire.PathAdminNodes); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with the session after a disable elsewhere: %d, want 401 (session ended)", resp.StatusCode)
	}
	if err := c.srv.st.SetUserDisabled(t.Context(), store.UserID(u.ID), false); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{wire.PathAdminNodes, "/ui/devices"} {
		if resp := c.uiGet(b, path); !refused(resp) {
			t.Errorf("GET %s with the old session after the enable: %d, want refused", path, resp.StatusCode)
		}
	}
}

// groupsIdP is an IdP that, asked to refresh a person, now gives them
// groups.
type groupsIdP struct{ groups []string }

func (g groupsIdP) Refresh(_ context.Context, id store.Identity) (store.Identity, error) {
	id.Groups = g.groups
	return id, nil
}

// TestAdminSessionLosesRoleAtOnce: an admin session's role is resolved
// again at every request, from the user as last recorded, the running
// policy's groups and --admin-role, so the old cookie of a person taken out
// of a role-holding group never acts with the role: lowered, it acts lower
// at once; dropped, the session ends (401) and stays ended when the role
// comes back. The same holds for a role from IdP groups, once a refresh
// records new ones.
func TestAdminSessionLosesRoleAtOnce(t *testing.T) {
	policy := func(netops, audit string) string {
		return `{"groups": {"group:netops": [` + netops + `], "group:audit": [` + audit + `], "group:owners": ["carol@example.com"]},
  "tagOwners": {"tag:camera": ["group:netops"]}, "acls": []}`
	}
	t.Run("policy group", func(t *testing.T) {
		pf := filepath.Join(t.TempDir(), "policy.hujson")
		if err := os.WriteFile(pf, []byte(policy(`"bob@example.com"`, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		c := startCoordListening(t, func(cfg *Config) {
			cfg.PolicyFile = pf
			cfg.AdminRoles = map[string]admin.Role{"group:netops": admin.RoleAdmin, "group:audit": admin.RoleAuditor, "group:owners": admin.RoleOwner}
		})
		key := carolsAPIKey(t, c) // another owner's key
		save := func(text string) {
			t.Helper()
			if code, b := c.call("PUT", wire.PathAdminPolicy, key, wire.SetPolicyRequest{Text: text, ParentID: -1}); code != http.StatusOK {
				t.Fatalf("carol's key saves the policy: %d %s", code, b)
			}
		}
		role, b, p := c.uiRole(bob)
		if role != "admin" {
			t.Fatalf("bob's role at login = %q, want admin", role)
		}

		save(policy("", `"bob@example.com"`)) // bob moves to the auditors
		var who map[string]any
		if code := c.uiAPI(b, p, "GET", wire.PathAdminWhoami, nil, &who); code != http.StatusOK || who["role"] != "auditor" {
			t.Errorf("bob's old session once an auditor: %d %v, want auditor", code, who)
		}
		if code := c.uiAPI(b, p, "PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: policy(`"bob@example.com"`, ""), ParentID: -1}, nil); code != http.StatusForbidden {
			t.Errorf("bob's old session puts himself back in group:netops: %d, want 403", code)
		}
		if code := c.uiAPI(b, p, "POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, nil); code != http.StatusForbidden {
			t.Errorf("bob's old session disables carol: %d, want 403", code)
		}

		save(policy("", "")) // bob holds no role
		if resp := c.uiGet(b, wire.PathAdminWhoami); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("bob's old session once he holds no role: %d, want 401 (session ended)", resp.StatusCode)
		}
		save(policy(`"bob@example.com"`, ""))
		for _, path := range []string{wire.PathAdminWhoami, "/ui/devices"} {
			if resp := c.uiGet(b, path); !refused(resp) {
				t.Errorf("GET %s with bob's old session once his role is back: %d, want refused", path, resp.StatusCode)
			}
		}
		if role, _, _ := c.uiRole(bob); role != "admin" {
			t.Errorf("bob's new login once his role is back: %q, want admin", role)
		}
	})

	t.Run("IdP group", func(t *testing.T) {
		c := startDevCoord(t) // idp:admins are owners, idp:auditors auditors
		role, b, p := c.uiRole(carol)
		if role != "owner" {
			t.Fatalf("carol's role at login = %q, want owner", role)
		}
		us, err := c.srv.st.UsersByEmail(t.Context(), "carol@example.com")
		if err != nil || len(us) != 1 {
			t.Fatalf("carol's user: %v %v", us, err)
		}
		refresh := func(groups ...string) {
			u, err := c.srv.st.User(t.Context(), us[0].ID)
			if err != nil {
				t.Fatal(err)
			}
			c.srv.logins.refreshUser(t.Context(), groupsIdP{groups}, u)
		}

		refresh("auditors", "ops")
		var who map[string]any
		if code := c.uiAPI(b, p, "GET", wire.PathAdminWhoami, nil, &who); code != http.StatusOK || who["role"] != "auditor" {
			t.Errorf("carol's old session once the IdP says auditors: %d %v, want auditor", code, who)
		}
		if code := c.uiAPI(b, p, "POST", wire.PathAdminAPIKeys, wire.CreateAPIKeyRequest{Description: "x"}, nil); code != http.StatusForbidden {
			t.Errorf("carol's old session makes an API key as an auditor: %d, want 403", code)
		}

		refresh("ops")
		if resp := c.uiGet(b, wire.PathAdminWhoami); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("carol's old session once the IdP gives no role: %d, want 401", resp.StatusCode)
		}
		refresh("admins", "ops")
		if resp := c.uiGet(b, "/ui/devices"); !refused(resp) {
			t.Errorf("carol's old session once her group is back: %d, want refused", resp.StatusCode)
		}
	})
}
