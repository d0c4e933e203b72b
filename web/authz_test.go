package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

// write is one state-changing endpoint: an API call (JSON body) or a page
// form action (form body).
type write struct {
	method, path string
	json         string     // API body; used when form is nil
	form         url.Values // page form, without the CSRF field
	perm         admin.Perm
}

func (w write) name() string { return w.method + " " + w.path }

// send makes the request as a with or without the CSRF token.
func (w write) send(a *agent, withCSRF bool) *http.Response {
	if w.form != nil {
		return a.form(w.path, w.form, withCSRF)
	}
	return a.api(w.method, w.path, w.json, withCSRF)
}

func policyEdit() string {
	b, _ := json.Marshal(wire.SetPolicyRequest{Text: strings.Replace(webtest.SeedPolicy, "80,443,554", "80,443", 1), Comment: "drop rtsp", ParentID: 1})
	return string(b)
}

// writes lists every state-changing endpoint of the API and the pages.
var writes = []write{
	{method: "POST", path: "/ward/v1/admin/authkeys", json: `{"tags":["tag:camera"],"expiry":"1h"}`, perm: admin.PermFleet},
	{method: "DELETE", path: "/ward/v1/admin/authkeys/1", perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/apikeys", json: `{"description":"ci"}`, perm: admin.PermAPIKeys},
	{method: "DELETE", path: "/ward/v1/admin/apikeys/2", perm: admin.PermAPIKeys},
	{method: "POST", path: "/ward/v1/admin/relays", json: `{"name":"edge2","url":"wss://edge2.example.com/ward/v1/relay"}`, perm: admin.PermAPIKeys},
	{method: "DELETE", path: "/ward/v1/admin/relays/edge1", perm: admin.PermAPIKeys},
	{method: "DELETE", path: "/ward/v1/admin/nodes/cam-1", perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/nodes/cam-1/expire", perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/nodes/sensor-1/approve", perm: admin.PermFleet},
	{method: "PUT", path: "/ward/v1/admin/nodes/cam-1/tags", json: `{"tags":["tag:gateway"]}`, perm: admin.PermFleet},
	{method: "PUT", path: "/ward/v1/admin/nodes/cam-1/risk", json: `{"class":"critical"}`, perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/nodes/cam-1/rename", json: `{"name":"camera-1"}`, perm: admin.PermFleet},
	{method: "PUT", path: "/ward/v1/admin/nodes/cam-1/rename", json: `{"name":"camera-1"}`, perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/nodes/cam-1/routes", json: `{"approve":["192.168.10.0/24"]}`, perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/users/alice@example.com/disable", perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/users/1/enable", perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/users/alice@example.com/rebind", json: `{"subject":"sub-new"}`, perm: admin.PermFleet},
	{method: "POST", path: "/ward/v1/admin/users/migrate-issuer", json: `{"from":"https://idp.example.com","to":"https://idp.new.example.com"}`, perm: admin.PermFleet},
	{method: "PUT", path: "/ward/v1/admin/policy", json: policyEdit(), perm: admin.PermPolicy},
	{method: "POST", path: "/ui/devices/cam-1/tags", form: url.Values{"tags": {"tag:gateway"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/cam-1/risk", form: url.Values{"risk": {"critical"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/cam-1/rename", form: url.Values{"name": {"camera-1"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/cam-1/routes", form: url.Values{"route": {"192.168.10.0/24"}, "action": {"approve"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/cam-1/expire", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/sensor-1/approve", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/devices/cam-1/remove", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/users/1/disable", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/users/1/enable", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/users/rebind", form: url.Values{"email": {"alice@example.com"}, "subject": {"sub-new"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/keys", form: url.Values{"tags": {"tag:camera"}, "expiry": {"24h"}, "reusable": {"on"}}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/keys/1/revoke", form: url.Values{}, perm: admin.PermFleet},
	{method: "POST", path: "/ui/apikeys", form: url.Values{"description": {"ci"}}, perm: admin.PermAPIKeys},
	{method: "POST", path: "/ui/apikeys/2/revoke", form: url.Values{}, perm: admin.PermAPIKeys},
	{method: "POST", path: "/ui/policy/versions/1/rollback", form: url.Values{"parent": {"1"}}, perm: admin.PermPolicy},
}

// TestWritesNeedRoleAndCSRF checks every state-changing endpoint: without
// the CSRF token, or from a role without the right, it is refused with 403
// and changes nothing; with both, it succeeds and changes something.
func TestWritesNeedRoleAndCSRF(t *testing.T) {
	for _, w := range writes {
		t.Run(w.name(), func(t *testing.T) {
			e := newEnv(t)
			if _, err := e.b.CreateAuthKey(context.Background(), wire.CreateAuthKeyRequest{Tags: []string{"tag:camera"}}, admin.Principal{Actor: "test"}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.b.CreateRelay(context.Background(), wire.CreateRelayRequest{Name: "edge1", URL: "wss://edge1.example.com/ward/v1/relay"}, "test"); err != nil {
				t.Fatal(err)
			}
			agents := map[admin.Role]*agent{}
			for _, r := range allRoles {
				agents[r] = e.login(r)
			}
			for _, r := range allRoles {
				before := e.b.Writes()
				if resp := w.send(agents[r], false); resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s without CSRF token: %s, want 403", roleLabel(r), resp.Status)
				}
				if !r.Can(w.perm) {
					if resp := w.send(agents[r], true); resp.StatusCode != http.StatusForbidden {
						t.Errorf("%s (may not %s) with token: %s, want 403", roleLabel(r), w.perm, resp.Status)
					}
				}
				if got := e.b.Writes(); got != before {
					t.Fatalf("%s: a refused request changed the backend (%d writes)", roleLabel(r), got-before)
				}
			}
			if w.form == nil {
				before := e.b.Writes()
				if resp := e.bearer(auditorKey, w.method, w.path, w.json); resp.StatusCode != http.StatusForbidden {
					t.Errorf("auditor API key: %s, want 403", resp.Status)
				}
				if e.b.Writes() != before {
					t.Fatal("an auditor API key changed the backend")
				}
			}
			allowed := leastAllowed(w.perm)
			before := e.b.Writes()
			resp := w.send(agents[allowed], true)
			if resp.StatusCode >= 400 {
				t.Fatalf("%s with token: %s: %s", roleLabel(allowed), resp.Status, readBody(t, resp))
			}
			if e.b.Writes() == before {
				t.Errorf("%s with token: %s but nothing changed", roleLabel(allowed), resp.Status)
			}
		})
	}
}

// leastAllowed is the least powerful role with perm.
func leastAllowed(p admin.Perm) admin.Role {
	for _, r := range []admin.Role{admin.RoleAuditor, admin.RoleNetworkAdmin, admin.RoleITAdmin, admin.RoleAdmin, admin.RoleOwner} {
		if r.Can(p) {
			return r
		}
	}
	return admin.RoleOwner
}

func roleLabel(r admin.Role) string {
	if r == admin.RoleNone {
		return "no-role"
	}
	return string(r)
}

// TestReadOnlyPostsNeedCSRF: checking and previewing a policy change
// nothing but are POSTs, so a session still needs its token.
func TestReadOnlyPostsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAuditor)
	body := `{"text":"{}"}`
	for _, p := range []string{"/ward/v1/admin/policy/check", "/ward/v1/admin/policy/impact"} {
		if resp := a.api("POST", p, body, false); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s without token: %s, want 403", p, resp.Status)
		}
		if resp := a.api("POST", p, body, true); resp.StatusCode != http.StatusOK {
			t.Errorf("%s as auditor: %s, want 200", p, resp.Status)
		}
	}
}

// TestLogoutNeedsCSRF: a cross-site form cannot log an admin out.
func TestLogoutNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAdmin)
	if resp := a.form("/ui/logout", url.Values{}, false); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without token: %s, want 403", resp.Status)
	}
	if resp := a.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("session after refused logout: %s", resp.Status)
	}
	if resp := a.form("/ui/logout", url.Values{}, true); resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s", resp.Status)
	}
	if resp := a.do("GET", "/ui/devices", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("page after logout: %s, want a redirect to login", resp.Status)
	}
	if resp := a.api("GET", "/ward/v1/admin/nodes", "", false); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after logout: %s, want 401", resp.Status)
	}
}
