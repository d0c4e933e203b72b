package coordinator

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// startApprovalCoord starts a coordinator whose policy has carol approve
// alice's requests for ssh to cam1, registers cam1 and files alice's
// request; it returns the coordinator and the request's decision path.
func startApprovalCoord(t *testing.T, stepUp time.Duration) (*testCoord, func(verb string) string) {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	policy := `{
  "groups": {"group:eng": ["alice@example.com"], "group:oncall": ["carol@example.com"]},
  "tagOwners": {"tag:camera": []},
  "grants": [{"src": ["group:eng"], "dst": ["tag:camera"], "ip": ["tcp:22"], "approval": "group:oncall"}],
}`
	if err := os.WriteFile(pf, []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile = pf
		cfg.AdminStepUp = stepUp
		cfg.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner, "alice@example.com": admin.RoleAuditor}
	})
	c.mustRegister([]string{"tag:camera"}, "cam1")
	laptop, _ := c.personMachine(alice, "alice-laptop")
	code, b := c.call("POST", wire.PathRequests, laptop.token, wire.AccessRequestCreate{Device: "cam1", Port: 22, Duration: "10m", Reason: "INC-9"})
	if code != http.StatusCreated {
		t.Fatalf("alice's request: %d %s", code, b)
	}
	var req wire.AccessRequest
	jsonUnmarshal(t, b, &req)
	return c, func(verb string) string { return fmt.Sprintf("%s/%d/%s", wire.PathAdminRequests, req.ID, verb) }
}

// TestAccessRequestDecisionNeedsFleetScopeAndStepUp: approving an access
// request grants access, so a read-only API key of an approver cannot
// decide one (403; a key with the fleet scope can), and with the admin
// step-up on, an approver whose UI login showed no second factor cannot
// either (401 naming the step-up), called directly over the admin API.
func TestAccessRequestDecisionNeedsFleetScopeAndStepUp(t *testing.T) {
	c, path := startApprovalCoord(t, 0)
	cb, cp := c.uiLogin(carol)
	mint := func(scopes ...string) wire.APIKey {
		var k wire.APIKey
		if code := c.uiAPI(cb, cp, "POST", wire.PathAdminAPIKeys, wire.CreateAPIKeyRequest{Description: "ci", Scopes: scopes}, &k); code != http.StatusCreated {
			t.Fatalf("carol mints a key with scopes %q: %d", scopes, code)
		}
		return k
	}
	readKey := mint()
	for _, verb := range []string{"approve", "deny"} {
		if code, b := c.call("POST", path(verb), readKey.Key, nil); code != http.StatusForbidden {
			t.Errorf("carol's read-only key may %s: %d %s, want 403", verb, code, b)
		}
	}
	if code, b := c.call("POST", path("approve"), mint("fleet").Key, nil); code != http.StatusOK {
		t.Errorf("carol's fleet-scoped key approves: %d %s, want 200", code, b)
	}

	c, path = startApprovalCoord(t, 15*time.Minute)
	cb, cp = c.uiLogin(carol)
	for _, verb := range []string{"approve", "deny"} {
		resp, body := c.uiSend(cb, cp, "POST", path(verb), nil)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "/ui/login?step_up=1") {
			t.Errorf("carol, without a second factor, may %s: %d %s; want 401 naming the step-up", verb, resp.StatusCode, body)
		}
	}
}
