package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wardnet/ward/assembly"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// twoAlices are two accounts of the dev provider, two subjects, claiming
// one (verified) email: the IdP recreated an account, or an attacker got
// an account with someone else's address.
const twoAlices = `{"users": [
  {"username": "alice", "password": "alice", "subject": "alice-1", "email": "alice@example.com", "groups": ["ops", "admins"]},
  {"username": "alice2", "password": "alice2", "subject": "alice-2", "email": "alice@example.com", "groups": ["ops", "admins"]},
]}`

// TestSecondSubjectWithBoundEmailRefused: an email names one person, the
// first subject that logged in with it. A second subject claiming it gets
// neither a key with the first one's grants nor the admin UI: its logins
// are refused, saying why, and audited with its subject, until an admin
// rebinds the email to it; then the first subject loses the email, is
// disabled and its keys are cut.
func TestSecondSubjectWithBoundEmailRefused(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.hujson")
	if err := os.WriteFile(users, []byte(twoAlices), 0o600); err != nil {
		t.Fatal(err)
	}
	ssh := echoServer(t)
	f := newFleet(t, peoplePolicy(ssh), func(c *assembly.Config) { c.DevUsersFile = users })
	first, second := f.startLaptop(t, "alice-laptop"), f.startLaptop(t, "other-laptop")
	alice1 := devidptest.Credentials{Username: "alice", Password: "alice"}
	alice2 := devidptest.Credentials{Username: "alice2", Password: "alice2"}

	if res, _ := first.login(t, alice1); res.Error != "" {
		t.Fatalf("first subject's login: %s", res.Error)
	}
	res, _ := second.login(t, alice2)
	if !strings.Contains(res.Error, "already bound") || !strings.Contains(res.Error, "alice-2") {
		t.Fatalf("second subject's login: %+v, want a refusal naming the bound email and its subject", res)
	}
	var evs []wire.AuditEvent
	f.Admin("GET", wire.PathAdminAudit+"?action=user.login_refused", nil, &evs)
	if !refusalAudited(evs, "alice-2") {
		t.Errorf("no user.login_refused event for subject alice-2: %+v", evs)
	}
	var u wire.AdminUser
	if code, body := f.Admin("GET", wire.PathAdminUsers+"/alice@example.com", nil, &u); code != http.StatusOK || u.Subject != "alice-1" {
		t.Fatalf("alice@example.com: %d %s, want the first subject only", code, body)
	}
	p, err := devidptest.NewBrowser().Login(t.Context(), f.url()+"/ui/login", alice2)
	if err != nil || p.Status != http.StatusForbidden || !strings.Contains(p.Body, "already bound") {
		t.Fatalf("second subject's admin UI login: %v, page %d at %s", err, pageStatus(p), pageURL(p))
	}

	var rebound wire.AdminUser
	if code, body := f.Admin("POST", wire.PathAdminUsers+"/alice@example.com/rebind", wire.RebindUserRequest{Subject: "alice-2"}, &rebound); code != http.StatusOK || rebound.Subject != "alice-2" {
		t.Fatalf("rebind: %d %s", code, body)
	}
	if res, _ := second.login(t, alice2); res.Error != "" {
		t.Fatalf("second subject's login after the rebind: %s", res.Error)
	}
	var old wire.AdminUser
	f.Admin("GET", wire.PathAdminUsers+"/"+jsonNumber(u.ID), nil, &old)
	if !old.Disabled || old.Email != "" {
		t.Errorf("the first subject after the rebind: %+v, want disabled without the email", old)
	}
	var n wire.AdminNode
	f.Admin("GET", wire.PathAdminNodes+"/alice-laptop", nil, &n)
	if !n.Expired {
		t.Errorf("the first subject's laptop keeps its key after the rebind: %+v", n)
	}
	if res, _ := first.login(t, alice1); !strings.Contains(res.Error, "already bound") {
		t.Errorf("first subject's login after the rebind: %+v, want refused", res)
	}
}

func refusalAudited(evs []wire.AuditEvent, subject string) bool {
	for _, e := range evs {
		var d struct{ Reason, Subject string }
		raw, _ := json.Marshal(e.Detail)
		if json.Unmarshal(raw, &d) == nil && d.Subject == subject && strings.Contains(d.Reason, "bound") {
			return true
		}
	}
	return false
}

func jsonNumber(id int64) string { return strconv.FormatInt(id, 10) }

func pageStatus(p *devidptest.Page) int {
	if p == nil {
		return 0
	}
	return p.Status
}

func pageURL(p *devidptest.Page) string {
	if p == nil {
		return ""
	}
	return p.URL.String()
}

// TestMigrateIssuerCommand: `ward admin users migrate-issuer` moves the
// people of the old issuer URL to the coordinator's: --dry-run only prints
// them; the move keeps each user (id), and a login through the
// coordinator's issuer lands on it.
func TestMigrateIssuerCommand(t *testing.T) {
	f := newFleet(t, fleetPolicy(1), nil)
	const old = "https://idp.old.example.com"
	next := f.Server.DevIdP.Issuer()
	// Bob logged in when the IdP answered at the old URL (the dev IdP's
	// subject for him is "bob").
	var bob wire.AdminUser
	if code, body := f.Admin("POST", wire.PathAdminUsers+"/bob@example.com/rebind",
		wire.RebindUserRequest{Issuer: old, Subject: "bob"}, &bob); code != http.StatusOK {
		t.Fatalf("make bob a user of %s: %d %s", old, code, body)
	}
	keyFile := filepath.Join(f.Config.DataDir, coordinator.BootstrapKeyFile)
	ward := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(binary(t), append([]string{"admin", "--coordinator", f.url(), "--api-key-file", keyFile,
			"users", "migrate-issuer", "--from", old, "--to", next}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("migrate-issuer %v: %v %s", args, err, out)
		}
		return string(out)
	}
	users := func() []wire.AdminUser {
		var us []wire.AdminUser
		f.Admin("GET", wire.PathAdminUsers, nil, &us)
		return us
	}
	if out := ward("--dry-run"); !strings.Contains(out, "would move 1 users") || !strings.Contains(out, "bob@example.com") {
		t.Errorf("dry run printed:\n%s", out)
	}
	if us := users(); us[0].Issuer != old {
		t.Fatalf("the dry run moved bob: %+v", us[0])
	}
	if out := ward(); !strings.Contains(out, "moved 1 users") {
		t.Errorf("move printed:\n%s", out)
	}
	if res, err := loginMachine(t, f, devidptest.Credentials{Username: "bob", Password: "bob"}); err != nil || res.Node == nil {
		t.Fatalf("bob's login after the move: %+v %v", res, err)
	}
	after := users()
	if len(after) != 1 || after[0].ID != bob.ID || after[0].Issuer != next || len(after[0].Nodes) != 1 {
		t.Errorf("bob after the move and a login: %+v, want user %d with his node under %s", after, bob.ID, next)
	}
}
