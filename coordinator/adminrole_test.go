package coordinator

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// alice is a demo user of the built-in dev IdP with a second factor.
var alice = devidptest.Credentials{Username: "alice", Password: "alice", OTP: devidp.DefaultOTP}

// rolePolicy gives group:netops to bob and group:owners to carol.
const rolePolicy = `{
  "groups": {"group:netops": ["bob@example.com"], "group:owners": ["carol@example.com"]},
  "tagOwners": {"tag:camera": ["group:netops"]},
  "acls": [],
}`

// startRoleCoord runs a dev coordinator with rolePolicy and roles.
func startRoleCoord(t *testing.T, roles map[string]admin.Role) *testCoord {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return startCoordListening(t, func(c *Config) { c.PolicyFile, c.AdminRoles = pf, roles })
}

// uiRole logs creds in to the admin UI and returns the role its session
// holds ("" when it holds none), its browser and landing page.
func (c *testCoord) uiRole(creds devidptest.Credentials) (string, *devidptest.Browser, *devidptest.Page) {
	c.t.Helper()
	b, p := c.uiLogin(creds)
	if p.Status == http.StatusForbidden {
		return "", b, p
	}
	var who map[string]any
	if code := c.uiAPI(b, p, "GET", wire.PathAdminWhoami, nil, &who); code != http.StatusOK {
		c.t.Fatalf("whoami as %s: %d", creds.Username, code)
	}
	r, _ := who["role"].(string)
	return r, b, p
}

// TestAdminRoleByEmail: --admin-role gives a role to a person by email, in
// any case, for the admin UI session and for the API keys they make; the
// role's limits hold.
func TestAdminRoleByEmail(t *testing.T) {
	c := startRoleCoord(t, map[string]admin.Role{"Bob@Example.com": admin.RoleAuditor, "carol@example.com": admin.RoleOwner})
	role, b, p := c.uiRole(bob)
	if role != "auditor" {
		t.Fatalf("bob's role = %q, want auditor", role)
	}
	if code := c.uiAPI(b, p, "PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: DefaultPolicy, ParentID: -1}, nil); code != http.StatusForbidden {
		t.Errorf("an auditor saved the policy: %d", code)
	}
	key := carolsAPIKey(t, c)
	if code, p := c.whoami(key); code != http.StatusOK || p["role"] != "owner" {
		t.Errorf("carol's API key: %d %v, want owner", code, p)
	}
}

// TestAdminRoleByPolicyGroup: --admin-role group:NAME gives a role to the
// people the policy's "groups" lists under group:NAME: bob is a
// network-admin through group:netops; once an owner takes him out of it,
// his next login has no role.
func TestAdminRoleByPolicyGroup(t *testing.T) {
	c := startRoleCoord(t, map[string]admin.Role{"group:netops": admin.RoleNetworkAdmin, "group:owners": admin.RoleOwner})
	if role, _, _ := c.uiRole(bob); role != "network-admin" {
		t.Fatalf("bob's role = %q, want network-admin", role)
	}
	if role, _, _ := c.uiRole(carol); role != "owner" {
		t.Fatalf("carol's role = %q, want owner", role)
	}
	var users []wire.AdminUser
	c.admin("GET", wire.PathAdminUsers, nil, &users)
	for _, u := range users {
		if u.Email == "bob@example.com" && (len(u.PolicyGroups) != 1 || u.PolicyGroups[0] != "group:netops") {
			t.Errorf("bob's policy groups %v, want [group:netops]", u.PolicyGroups)
		}
	}
	without := strings.Replace(rolePolicy, `"group:netops": ["bob@example.com"]`, `"group:netops": []`, 1)
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: without, ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("the owner takes bob out of group:netops: %d", code)
	}
	if role, _, p := c.uiRole(bob); role != "" || p.Status != http.StatusForbidden {
		t.Errorf("bob after leaving group:netops: role %q, page %d; want no access", role, p.Status)
	}
}

// TestPolicyEditCannotGrantRolesAboveOwn: a network-admin may edit the
// policy, but not the members of a policy group that holds a role beyond
// theirs (adding themselves to group:owners, or removing the owner); the
// refused save changes nothing; an edit of anything else, and of a group
// holding a role they cover, goes through.
func TestPolicyEditCannotGrantRolesAboveOwn(t *testing.T) {
	c := startRoleCoord(t, map[string]admin.Role{"group:netops": admin.RoleNetworkAdmin, "group:owners": admin.RoleOwner})
	_, b, p := c.uiRole(bob)
	save := func(text string) int {
		var cur wire.PolicyVersion
		c.admin("GET", wire.PathAdminPolicy, nil, &cur)
		return c.uiAPI(b, p, "PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: text, ParentID: cur.ID}, nil)
	}
	for name, text := range map[string]string{
		"add himself to group:owners": strings.Replace(rolePolicy, `"group:owners": ["carol@example.com"]`, `"group:owners": ["carol@example.com", "bob@example.com"]`, 1),
		"drop the owners' group":      strings.Replace(rolePolicy, `, "group:owners": ["carol@example.com"]`, ``, 1),
	} {
		if code := save(text); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	var cur wire.PolicyVersion
	if c.admin("GET", wire.PathAdminPolicy, nil, &cur); cur.Text != rolePolicy {
		t.Fatalf("a refused save changed the policy:\n%s", cur.Text)
	}
	if role, _, _ := c.uiRole(bob); role != "network-admin" {
		t.Errorf("bob's role after the refused saves: %q", role)
	}
	for name, text := range map[string]string{
		"a tag":                     strings.Replace(rolePolicy, `"tag:camera"`, `"tag:sensor": ["group:netops"], "tag:camera"`, 1),
		"a member of his own group": strings.Replace(rolePolicy, `"group:netops": ["bob@example.com"]`, `"group:netops": ["bob@example.com", "erin@example.com"]`, 1),
	} {
		if code := save(text); code != http.StatusOK {
			t.Errorf("%s: %d, want 200", name, code)
		}
	}
}
