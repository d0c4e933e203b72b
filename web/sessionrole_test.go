package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// whoamiRole returns the status of a's whoami and the role it names.
func (a *agent) whoamiRole() (int, string) {
	a.e.t.Helper()
	resp := a.api("GET", wire.PathAdminWhoami, "", false)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, ""
	}
	p := decode[map[string]any](a.e.t, resp)
	r, _ := p["role"].(string)
	return resp.StatusCode, r
}

// TestSessionActsWithTheRoleItHoldsNow: a session acts with its role at
// login capped by the role the backend resolves at each request: lowered,
// it acts lower at once; raised, never above its login; dropped to none,
// it ends (401, and the cookie stays dead when the role comes back). A
// session without a role at login keeps its "no access" page.
func TestSessionActsWithTheRoleItHoldsNow(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAdmin)
	email := people[admin.RoleAdmin].Email
	if code, r := a.whoamiRole(); code != http.StatusOK || r != "admin" {
		t.Fatalf("whoami at login: %d %q", code, r)
	}

	e.b.SetSessionRole(email, admin.RoleAuditor)
	if code, r := a.whoamiRole(); code != http.StatusOK || r != "auditor" {
		t.Errorf("whoami once lowered to auditor: %d %q", code, r)
	}
	writes := e.b.Writes()
	if resp := a.api("PUT", wire.PathAdminPolicy, policyEdit(), true); resp.StatusCode != http.StatusForbidden || e.b.Writes() != writes {
		t.Errorf("policy save once lowered to auditor: %d, writes %d -> %d", resp.StatusCode, writes, e.b.Writes())
	}

	e.b.SetSessionRole(email, admin.RoleOwner)
	if code, r := a.whoamiRole(); code != http.StatusOK || r != "admin" {
		t.Errorf("whoami once the backend says owner: %d %q, want admin (the login's role)", code, r)
	}

	e.b.SetSessionRole(email, admin.RoleNone)
	if code, _ := a.whoamiRole(); code != http.StatusUnauthorized {
		t.Errorf("whoami once the role is gone: %d, want 401", code)
	}
	e.b.SetSessionRole(email, admin.RoleAdmin)
	if code, _ := a.whoamiRole(); code != http.StatusUnauthorized {
		t.Errorf("whoami with the ended session once the role is back: %d, want 401", code)
	}
	if resp := a.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/ui/login") {
		t.Errorf("page with the ended session: %d %q, want the login page", resp.StatusCode, resp.Header.Get("Location"))
	}

	nobody := e.login(admin.RoleNone)
	e.b.SetSessionRole(people[admin.RoleNone].Email, admin.RoleNone)
	for range 2 {
		if resp := nobody.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusForbidden {
			t.Errorf("page of a session without a role at login: %d, want the no-access page (403)", resp.StatusCode)
		}
	}
}
