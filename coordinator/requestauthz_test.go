package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// TestAccessRequestDecisionNeedsAnotherApprover pins the access-request
// routes' authorization, called directly over the admin API as each
// person's UI session: bob, an admin of the UI but no approver, can
// neither approve nor deny; alice, an approver, cannot approve or deny her
// own request; carol, an approver, approves it.
func TestAccessRequestDecisionNeedsAnotherApprover(t *testing.T) {
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	policy := `{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["carol@example.com", "alice@example.com"]},
  "tagOwners": {"tag:camera": []},
  "grants": [{"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22"], "approval": "group:oncall"}],
}`
	if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile = pf
		cfg.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner,
			"alice@example.com": admin.RoleAuditor, "bob@example.com": admin.RoleAdmin}
	})
	c.mustRegister([]string{"tag:camera"}, "cam1")
	laptop, _ := c.personMachine(alice, "alice-laptop")
	code, b := c.call("POST", wire.PathRequests, laptop.token, wire.AccessRequestCreate{Device: "cam1", Port: 22, Duration: "10m", Reason: "INC-9"})
	if code != http.StatusCreated {
		t.Fatalf("alice's request: %d %s", code, b)
	}
	var req wire.AccessRequest
	jsonUnmarshal(t, b, &req)
	path := func(verb string) string { return fmt.Sprintf("%s/%d/%s", wire.PathAdminRequests, req.ID, verb) }

	for _, who := range []struct {
		name  string
		creds devidptest.Credentials
	}{{"bob, no approver", bob}, {"alice, the requester", alice}} {
		bb, pp := c.uiLogin(who.creds)
		for _, verb := range []string{"approve", "deny"} {
			if code := c.uiAPI(bb, pp, "POST", path(verb), nil, nil); code != http.StatusForbidden {
				t.Errorf("%s may %s: %d, want 403", who.name, verb, code)
			}
		}
	}
	cb, cp := c.uiLogin(carol)
	var decided wire.AccessRequest
	if code := c.uiAPI(cb, cp, "POST", path("approve"), nil, &decided); code != http.StatusOK || decided.Status != "approved" {
		t.Errorf("carol approves: %d %+v", code, decided)
	}
}
