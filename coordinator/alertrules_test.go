package coordinator

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/wire"
)

// TestAlertRulesEditedThroughAdminAPI: the alert rules live in the store
// and are edited like the policy, called over raw HTTP with UI sessions:
// an auditor lists the versions but gets 403 saving; an owner without a recent second
// factor gets 401 (step-up); invalid rules are a 400 naming each problem
// at line:col and change nothing; a valid save is a version, audited as
// alerts.save, and takes effect without a restart (its new rule fires);
// a rollback from the page saves the old text as a new version.
func TestAlertRulesEditedThroughAdminAPI(t *testing.T) {
	sink := newSlackSink(t)
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile, cfg.AdminStepUp, cfg.AlertEvery = pf, 15*time.Minute, 50*time.Millisecond
		cfg.AdminRoles = map[string]admin.Role{"carol@example.com": admin.RoleOwner, "alice@example.com": admin.RoleOwner,
			"bob@example.com": admin.RoleAuditor}
	})
	joins := fmt.Sprintf(`{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [{"name": "joins", "kind": "device_joined", "to": ["chat"]}],
}`, sink.srv.URL)

	role, bb, bp := c.uiRole(bob)
	if role != "auditor" {
		t.Fatalf("bob's role %q", role)
	}
	var vs0 []wire.PolicyVersion
	if code := c.uiAPI(bb, bp, "GET", wire.PathAdminAlertRulesVersions, nil, &vs0); code != http.StatusOK || len(vs0) != 0 {
		t.Fatalf("an auditor lists the rules' versions: %d %+v", code, vs0)
	}
	if code := c.uiAPI(bb, bp, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: joins, ParentID: -1}, nil); code != http.StatusForbidden {
		t.Errorf("an auditor saved alert rules: %d, want 403", code)
	}
	cb, cp := c.uiLogin(carol)
	if resp, body := c.uiSend(cb, cp, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: joins, ParentID: -1}); resp.StatusCode != http.StatusUnauthorized ||
		!strings.Contains(body, "second factor") {
		t.Errorf("an owner without a second factor saved alert rules: %d %s, want 401", resp.StatusCode, body)
	}

	ab, ap := c.uiLoginAt("/ui/login?step_up=1&next=/ui/alerts/rules", alice)
	bad := "{\n  \"rules\": [\n    {\"name\": \"joins\", \"kind\": \"device_joined\", \"to\": [\"nowhere\"], \"groupWait\": \"soon\"}]}"
	resp, body := c.uiSend(ab, ap, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: bad, ParentID: 0})
	var pe wire.PolicyError
	json.Unmarshal([]byte(body), &pe)
	if resp.StatusCode != http.StatusBadRequest || len(pe.Problems) != 2 || !strings.HasPrefix(pe.Problems[0], "alert-rules:3:") ||
		!strings.Contains(strings.Join(pe.Problems, "\n"), `groupWait: "soon"`) {
		t.Fatalf("invalid rules: %d %s; want 400 with each problem at line:col", resp.StatusCode, body)
	}
	var vs []wire.PolicyVersion
	if code := c.uiAPI(ab, ap, "GET", wire.PathAdminAlertRulesVersions, nil, &vs); code != http.StatusOK || len(vs) != 0 {
		t.Fatalf("versions after a refused save: %d %+v; want none", code, vs)
	}

	var saved wire.PolicyVersion
	if code := c.uiAPI(ab, ap, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: joins, Comment: "page on joins", ParentID: 0}, &saved); code != http.StatusOK || saved.ID != 1 {
		t.Fatalf("save: %d %+v", code, saved)
	}
	c.mustRegister([]string{"tag:camera"}, "cam1")
	sink.waitText(t, "joins: cam1 joined the fleet")

	// A second version without the rule, then a rollback from the page.
	none := fmt.Sprintf(`{"destinations": [{"name": "chat", "type": "slack", "url": %q}], "rules": []}`, sink.srv.URL)
	if code := c.uiAPI(ab, ap, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: none, ParentID: 1}, nil); code != http.StatusOK {
		t.Fatalf("second save: %d", code)
	}
	if code := c.uiAPI(ab, ap, "PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: none, ParentID: 1}, nil); code != http.StatusConflict {
		t.Errorf("a save from a stale version: %d, want 409", code)
	}
	page, err := ab.Open(t.Context(), c.http.URL+"/ui/alerts/rules")
	if err != nil || !strings.Contains(page.Body, `id="rollback-1"`) || !strings.Contains(page.Body, "Version 2 in force") {
		t.Fatalf("rules page: %v\n%s", err, page.Body)
	}
	if _, err := ab.SubmitForm(t.Context(), page, "/ui/alerts/rules/versions/1/rollback", nil); err != nil {
		t.Fatalf("roll back from the page: %v", err)
	}
	c.mustRegister([]string{"tag:camera"}, "cam2")
	sink.waitText(t, "joins: cam2 joined the fleet")
	if code := c.uiAPI(ab, ap, "GET", wire.PathAdminAlertRulesVersions, nil, &vs); code != http.StatusOK || len(vs) != 3 ||
		vs[0].Comment != "roll back to version 1" || vs[2].Author != "user:alice@example.com" {
		t.Fatalf("versions: %d %+v", code, vs)
	}
	var evs []wire.AuditEvent
	if code := c.admin("GET", wire.PathAdminAudit+"?"+url.Values{"action": {"alerts.save"}}.Encode(), nil, &evs); code != http.StatusOK || len(evs) != 3 ||
		evs[0].Actor != "user:alice@example.com" || evs[0].Target != "alerts:v1" {
		t.Errorf("alerts.save audit events: %d %+v", code, evs)
	}

	// A refused save from the page keeps the draft and shows line:col.
	page, _ = ab.Open(t.Context(), c.http.URL+"/ui/alerts/rules")
	refused, err := ab.SubmitForm(t.Context(), page, "/ui/alerts/rules", url.Values{"text": {bad}})
	if err != nil || refused.Status != http.StatusBadRequest || !strings.Contains(refused.Body, "line 3, col") ||
		!strings.Contains(refused.Body, "nowhere") {
		t.Errorf("a refused save from the page: %v %d\n%s", err, refused.Status, refused.Body)
	}
}

// TestAlertRulesFileImportedWhenChanged: the --alerts file is saved as a
// version at the first start, not again while it is unchanged (edits made
// since stand), and again once it changed.
func TestAlertRulesFileImportedWhenChanged(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "alerts.hujson")
	write := func(rule string) {
		text := fmt.Sprintf(`{"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/h", "secret": "0123456789abcdef"}],
  "rules": [{"name": %q, "kind": "device_joined", "to": ["ops"]}]}`, rule)
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("from the file")
	d := newCoordDir(t, testPolicy)
	d.tweak = func(cfg *Config) { cfg.AlertRulesFile = file }
	rules := func(c *testCoord) (wire.PolicyVersion, []wire.PolicyVersion) {
		var cur wire.PolicyVersion
		var vs []wire.PolicyVersion
		c.admin("GET", wire.PathAdminAlertRules, nil, &cur)
		c.admin("GET", wire.PathAdminAlertRulesVersions, nil, &vs)
		return cur, vs
	}
	c := d.start("")
	cur, vs := rules(c)
	if len(vs) != 1 || vs[0].Author != "file:"+file || !strings.Contains(cur.Text, "from the file") {
		t.Fatalf("first start: %+v %+v", cur, vs)
	}
	edited := strings.Replace(cur.Text, "from the file", "edited in the UI", 1)
	if code := c.admin("PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: edited, ParentID: cur.ID}, nil); code != http.StatusOK {
		t.Fatalf("edit: %d", code)
	}
	c.stop()
	c = d.start("")
	if cur, vs := rules(c); len(vs) != 2 || !strings.Contains(cur.Text, "edited in the UI") {
		t.Fatalf("restart with the file unchanged: %+v %+v; want the edit to stand", cur, vs)
	}
	c.stop()
	write("changed file")
	c = d.start("")
	if cur, vs := rules(c); len(vs) != 3 || !strings.Contains(cur.Text, "changed file") {
		t.Fatalf("restart with the file changed: %+v %+v; want it imported", cur, vs)
	}
}

// TestAlertRulesSavedReachEveryReplica: alert rules saved through one
// coordinator on a shared PostgreSQL are in force on the other within its
// evaluation interval, without a restart.
func TestAlertRulesSavedReachEveryReplica(t *testing.T) {
	sink := newSlackSink(t)
	cs := startReplicas(t, 2, testPolicy)
	joins := fmt.Sprintf(`{
  "destinations": [{"name": "chat", "type": "slack", "url": %q}],
  "rules": [{"name": "joins", "kind": "device_joined", "to": ["chat"]}],
}`, sink.srv.URL)
	if code := cs[0].admin("PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: joins, ParentID: 0}, nil); code != http.StatusOK {
		t.Fatalf("save on the first: %d", code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(cs[1].srv.alerts.ruleSet().Rules) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the second coordinator never put the saved rules in force")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cs[1].mustRegister([]string{"tag:camera"}, "cam1")
	sink.waitText(t, "joins: cam1 joined the fleet")
}

// TestAlertRulesCredentialsHiddenFromReadOnlyAdmins: the alert rules' text
// holds credentials (a webhook's HMAC secret, an SMTP password, a Slack
// hook URL), so an admin who may only read (an auditor, a read-scoped API
// key) must not get it, over the API (the rules in force or an old
// version) or the UI page: 403, and no credential in any answer. The
// versions' list (no texts) stays readable; an owner reads the text.
func TestAlertRulesCredentialsHiddenFromReadOnlyAdmins(t *testing.T) {
	const secret = "hmac-secret-0123456789abcdef"
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	if err := os.WriteFile(pf, []byte(rolePolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile = pf
		cfg.AdminRoles = map[string]admin.Role{"carol@example.com": admin.RoleOwner, "bob@example.com": admin.RoleAuditor}
	})
	text := fmt.Sprintf(`{"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/h", "secret": %q}],
  "rules": [{"name": "joins", "kind": "device_joined", "to": ["ops"]}]}`, secret)
	var saved wire.PolicyVersion
	if code := c.admin("PUT", wire.PathAdminAlertRules, wire.SetPolicyRequest{Text: text, ParentID: 0}, &saved); code != http.StatusOK || saved.ID != 1 {
		t.Fatalf("save: %d %+v", code, saved)
	}

	role, bb, bp := c.uiRole(bob)
	if role != "auditor" {
		t.Fatalf("bob's role %q", role)
	}
	for _, path := range []string{wire.PathAdminAlertRules, wire.PathAdminAlertRulesVersions + "/1"} {
		resp, body := c.uiSend(bb, bp, "GET", path, nil)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, secret) {
			t.Errorf("an auditor GET %s: %d %s; want 403 without the secret", path, resp.StatusCode, body)
		}
	}
	if resp := c.uiGet(bb, "/ui/alerts/rules"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an auditor opened the alert rules page: %d, want 403", resp.StatusCode)
	}
	if resp := c.uiGet(bb, "/ui/alerts/rules?version=1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an auditor opened version 1 on the alert rules page: %d, want 403", resp.StatusCode)
	}
	resp, body := c.uiSend(bb, bp, "GET", wire.PathAdminAlertRulesVersions, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(body, secret) {
		t.Errorf("an auditor lists the versions: %d %s; want 200 without texts", resp.StatusCode, body)
	}

	cb, cp := c.uiLogin(carol)
	var cur wire.PolicyVersion
	if code := c.uiAPI(cb, cp, "GET", wire.PathAdminAlertRules, nil, &cur); code != http.StatusOK || !strings.Contains(cur.Text, secret) {
		t.Errorf("an owner reads the rules: %d %+v", code, cur)
	}
}
