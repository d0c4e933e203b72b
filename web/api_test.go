package web_test

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/acl"
	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/web/webtest"
	"github.com/wardnet/ward/wire"
)

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(readBody(t, resp)), &v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

// TestAPIKeys: API keys authenticate the JSON API without cookies or CSRF
// tokens; a bad key is 401, a revoked one 403.
func TestAPIKeys(t *testing.T) {
	e := newEnv(t)
	if resp := e.bearer(ownerKey, "GET", "/ward/v1/admin/whoami", ""); resp.StatusCode != http.StatusOK ||
		decode[admin.Principal](t, resp).Role != admin.RoleOwner {
		t.Fatalf("whoami with the owner key: %s", resp.Status)
	}
	resp := e.bearer(ownerKey, "POST", "/ward/v1/admin/apikeys", `{"description":"ci"}`)
	k := decode[wire.APIKey](t, resp)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(k.Key, "wak_") {
		t.Fatalf("create API key: %s %+v", resp.Status, k)
	}
	if resp := e.bearer(k.Key, "GET", "/ward/v1/admin/nodes", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("new key: %s", resp.Status)
	}
	if resp := e.bearer(ownerKey, "DELETE", "/ward/v1/admin/apikeys/"+itoa(int(k.ID)), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %s", resp.Status)
	}
	for _, c := range []struct {
		key  string
		want int
	}{{k.Key, http.StatusForbidden}, {"wak_nope", http.StatusUnauthorized}, {"", http.StatusUnauthorized}} {
		if resp := e.bearer(c.key, "GET", "/ward/v1/admin/nodes", ""); resp.StatusCode != c.want {
			t.Errorf("key %.8q: %s, want %d", c.key, resp.Status, c.want)
		}
	}
	if resp := e.anonymous().do("GET", "/ward/v1/admin/nodes", "", nil); resp.StatusCode != http.StatusUnauthorized ||
		resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %s", resp.Status)
	}
}

// TestAPIErrors: the statuses and bodies the CLI relies on.
func TestAPIErrors(t *testing.T) {
	e := newEnv(t)
	big := `{"tags":["` + strings.Repeat("x", 70<<10) + `"]}`
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/ward/v1/admin/nodes/ghost", "", http.StatusNotFound},
		{"GET", "/ward/v1/admin/users/ghost@example.com", "", http.StatusNotFound},
		{"GET", "/ward/v1/admin/policy/versions/99", "", http.StatusNotFound},
		{"DELETE", "/ward/v1/admin/authkeys/abc", "", http.StatusBadRequest},
		{"POST", "/ward/v1/admin/authkeys", `{"tags":["tag:camera"],"color":"red"}`, http.StatusBadRequest},
		{"POST", "/ward/v1/admin/authkeys", `{"expiry":"-1h"}`, http.StatusBadRequest},
		{"POST", "/ward/v1/admin/authkeys", big, http.StatusRequestEntityTooLarge},
		{"PUT", "/ward/v1/admin/policy", `{"text":"{}","parent_id":7}`, http.StatusConflict},
		{"GET", "/ward/v1/admin/audit?since=yesterday", "", http.StatusBadRequest},
		{"GET", "/ward/v1/admin/audit/export?format=xml", "", http.StatusBadRequest},
		{"GET", "/ward/v1/admin/nope", "", http.StatusNotFound},
	} {
		resp := e.bearer(ownerKey, c.method, c.path, c.body)
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %s, want %d", c.method, c.path, resp.Status, c.want)
		}
		if msg := decode[wire.Error](t, resp).Error; msg == "" {
			t.Errorf("%s %s: no error message", c.method, c.path)
		}
	}
}

// TestAPIRefusesInvalidPolicy: an invalid policy is never saved; the
// answer lists every problem at its line:col.
func TestAPIRefusesInvalidPolicy(t *testing.T) {
	e := newEnv(t)
	bad := strings.Replace(webtest.SeedPolicy, `"tag:camera:80,443,554"`, `"tag:kamera:80,443,554"`, 1)
	body, _ := json.Marshal(wire.SetPolicyRequest{Text: bad, Comment: "typo", ParentID: -1})
	resp := e.bearer(ownerKey, "PUT", "/ward/v1/admin/policy", string(body))
	pe := decode[wire.PolicyError](t, resp)
	if resp.StatusCode != http.StatusBadRequest || len(pe.Problems) != 1 || !strings.HasPrefix(pe.Problems[0], "policy:14:") {
		t.Fatalf("invalid policy: %s %+v", resp.Status, pe)
	}
	failing := strings.Replace(webtest.SeedPolicy, `"accept": ["tag:camera:443"]`, `"accept": ["tag:camera:22"]`, 1)
	body, _ = json.Marshal(wire.SetPolicyRequest{Text: failing, ParentID: -1})
	if resp := e.bearer(ownerKey, "PUT", "/ward/v1/admin/policy", string(body)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("policy with a failing test: %s", resp.Status)
	}
	if v := e.policy(); v.ID != 1 {
		t.Fatalf("an invalid policy was saved: version %d", v.ID)
	}
}

// TestAPIPolicyCheckAndImpact: check reports problems and tests; impact
// names the grants a change removes and adds.
func TestAPIPolicyCheckAndImpact(t *testing.T) {
	e := newEnv(t)
	req := func(text string) string { b, _ := json.Marshal(wire.PolicyTextRequest{Text: text}); return string(b) }
	pc := decode[acl.CheckResult](t, e.bearer(ownerKey, "POST", "/ward/v1/admin/policy/check", req(webtest.SeedPolicy)))
	if !pc.OK || len(pc.Problems) != 0 || len(pc.Tests) != 3 {
		t.Errorf("check of the running policy: %+v", pc)
	}
	pc = decode[acl.CheckResult](t, e.bearer(ownerKey, "POST", "/ward/v1/admin/policy/check", req(`{"acls": [}`)))
	if pc.OK || len(pc.Problems) == 0 || pc.Problems[0].Pos.Line != 1 {
		t.Errorf("check of broken JSON: %+v", pc)
	}
	next := strings.Replace(webtest.SeedPolicy, `"tag:camera:80,443,554"`, `"tag:camera:80,443", "tag:gateway:9000"`, 1)
	im := decode[acl.Impact](t, e.bearer(ownerKey, "POST", "/ward/v1/admin/policy/impact", req(next)))
	wantRemoved := []acl.Access{
		{Src: "alice@example.com", Dst: "cam-1", Proto: "tcp", Ports: "554"}, {Src: "alice@example.com", Dst: "cam-1", Proto: "udp", Ports: "554"},
		{Src: "alice@example.com", Dst: "cam-2", Proto: "tcp", Ports: "554"}, {Src: "alice@example.com", Dst: "cam-2", Proto: "udp", Ports: "554"},
	}
	if diff := cmp.Diff(wantRemoved, im.Removed); diff != "" {
		t.Errorf("removed grants (-want +got):\n%s", diff)
	}
	if len(im.Added) == 0 || im.Added[len(im.Added)-1].Dst != "gw-1" {
		t.Errorf("added grants: %+v", im.Added)
	}
	if resp := e.bearer(ownerKey, "POST", "/ward/v1/admin/policy/impact", req("{")); resp.StatusCode != http.StatusBadRequest ||
		len(decode[wire.PolicyError](t, resp).Problems) == 0 {
		t.Errorf("impact of a broken policy: %s", resp.Status)
	}
	access := decode[[]acl.Access](t, e.bearer(ownerKey, "GET", "/ward/v1/admin/nodes/cam-1/access", ""))
	if !containsGrant(access, acl.Access{Src: "alice@example.com", Dst: "cam-1", Proto: "tcp", Ports: "554"}) ||
		!containsGrant(access, acl.Access{Src: "bob@example.com", Dst: "cam-1", Proto: "tcp", Ports: "22"}) {
		t.Errorf("access to cam-1: %+v", access)
	}
}

func containsGrant(gs []acl.Access, g acl.Access) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

// TestAPIPolicyVersions: save, list, one version with text, stale parent.
func TestAPIPolicyVersions(t *testing.T) {
	e := newEnv(t)
	resp := e.bearer(ownerKey, "PUT", "/ward/v1/admin/policy", policyEdit())
	v := decode[wire.PolicyVersion](t, resp)
	if resp.StatusCode != http.StatusOK || v.ID != 2 || v.ParentID != 1 || v.Text != "" {
		t.Fatalf("save: %s %+v", resp.Status, v)
	}
	if resp := e.bearer(ownerKey, "PUT", "/ward/v1/admin/policy", policyEdit()); resp.StatusCode != http.StatusConflict {
		t.Fatalf("save from a stale parent: %s, want 409", resp.Status)
	}
	vs := decode[[]wire.PolicyVersion](t, e.bearer(ownerKey, "GET", "/ward/v1/admin/policy/versions", ""))
	if len(vs) != 2 || vs[0].Text != "" {
		t.Errorf("versions: %+v", vs)
	}
	one := decode[wire.PolicyVersion](t, e.bearer(ownerKey, "GET", "/ward/v1/admin/policy/versions/1", ""))
	if one.Text != webtest.SeedPolicy {
		t.Errorf("version 1 text differs")
	}
}

// TestAuditExport: JSON lines and CSV carry the filtered events.
func TestAuditExport(t *testing.T) {
	e := newEnv(t)
	e.bearer(ownerKey, "POST", "/ward/v1/admin/nodes/cam-1/expire", "")
	resp := e.bearer(ownerKey, "GET", "/ward/v1/admin/audit/export?format=jsonl&target=node:cam-1", "")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "application/x-ndjson" {
		t.Fatalf("jsonl: %s %s", resp.Status, ct)
	}
	var actions []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var ev wire.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		actions = append(actions, ev.Action)
	}
	if diff := cmp.Diff([]string{"node.online", "flow.denied", "node.expire"}, actions); diff != "" {
		t.Errorf("jsonl actions (-want +got):\n%s", diff)
	}
	resp = e.bearer(ownerKey, "GET", "/ward/v1/admin/audit/export?format=csv&action=node.&actor=apikey:wak_owne", "")
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || len(rows) != 2 || rows[0][3] != "action" || rows[1][3] != "node.expire" || !strings.Contains(rows[1][6], "before") {
		t.Fatalf("csv: %v %q", err, rows)
	}
	if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Errorf("csv Content-Disposition %q", cd)
	}
	evs := decode[[]wire.AuditEvent](t, e.bearer(ownerKey, "GET", "/ward/v1/admin/audit?action=node.&order=newest&limit=1", ""))
	if len(evs) != 1 || evs[0].Action != "node.expire" {
		t.Errorf("newest node event: %+v", evs)
	}
}

// TestLoginIsAudited: admin logins and logouts reach the audit log.
func TestLoginIsAudited(t *testing.T) {
	e := newEnv(t)
	a := e.login(admin.RoleAuditor)
	a.form("/ui/logout", nil, true)
	evs := decode[[]wire.AuditEvent](t, e.bearer(ownerKey, "GET", "/ward/v1/admin/audit?action=admin.", ""))
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Action+" "+ev.Actor)
	}
	want := []string{"admin.login user:auditor@example.com", "admin.logout user:auditor@example.com"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
}

// TestAPIAlertRulesCheck: a draft of alert rules is checked without being
// saved, each problem at its line and column in the policy check's
// shape; an auditor (read only) may not check, since checking is part of
// editing rules that hold credentials.
func TestAPIAlertRulesCheck(t *testing.T) {
	e := newEnv(t)
	req := func(text string) string { b, _ := json.Marshal(wire.PolicyTextRequest{Text: text}); return string(b) }
	writes := e.b.Writes()
	pc := decode[acl.CheckResult](t, e.bearer(ownerKey, "POST", wire.PathAdminAlertRulesCheck, req(`{"rules": []}`)))
	if !pc.OK || len(pc.Problems) != 0 {
		t.Errorf("check of empty rules: %+v", pc)
	}
	pc = decode[acl.CheckResult](t, e.bearer(ownerKey, "POST", wire.PathAdminAlertRulesCheck,
		req("{\n  \"rules\": [\n    {\"name\": \"x\", \"kind\": \"nope\"},\n  ],\n}")))
	if pc.OK || len(pc.Problems) == 0 || pc.Problems[0].Pos.Line != 3 {
		t.Errorf("check of a bad kind: %+v", pc)
	}
	pc = decode[acl.CheckResult](t, e.bearer(ownerKey, "POST", wire.PathAdminAlertRulesCheck, req(`{"rules": [}`)))
	if pc.OK || len(pc.Problems) == 0 || pc.Problems[0].Pos.Line != 1 {
		t.Errorf("check of broken JSON: %+v", pc)
	}
	if r := e.bearer(auditorKey, "POST", wire.PathAdminAlertRulesCheck, req(`{"rules": []}`)); r.StatusCode != http.StatusForbidden {
		t.Errorf("auditor's check: HTTP %d, want 403", r.StatusCode)
	}
	if r := e.bearer(ownerKey, "POST", wire.PathAdminAlertRulesCheck, `{"text": 5}`); r.StatusCode != http.StatusBadRequest {
		t.Errorf("a body that is not a text request: HTTP %d, want 400", r.StatusCode)
	}
	if e.b.Writes() != writes {
		t.Error("a check wrote to the backend")
	}
}
