package coordinator

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp/devidptest"
	"github.com/wardnet/ward/wire"
)

// coverPolicy gives group:owners, group:admins and group:it the people
// listed; --admin-role makes them owners, admins and it-admins.
func coverPolicy(owners string) string {
	return `{"groups": {"group:owners": [` + owners + `], "group:admins": ["alice@example.com"], "group:it": ["bob@example.com"]},
  "tagOwners": {"tag:camera": ["group:it"]}, "acls": []}`
}

// coverActor is a principal acting through the admin API: a UI session
// or an API key.
type coverActor struct {
	name, actor string
	role        admin.Role
	// subject is the person's subject at the dev IdP.
	subject string
	// call makes an admin API request as the principal and decodes a
	// success into out (when not nil); it returns the status.
	call func(method, path string, body, out any) int
}

// coverFleet is a coordinator whose owner is carol, with alice (admin)
// and bob (it-admin) acting through sessions and API keys, each made while
// they were owners, as a person demoted since would hold them.
type coverFleet struct {
	c      *testCoord
	actors []coverActor // alice's session and key, bob's session and key
}

// startCoverFleet starts a coverFleet: alice and bob log in as owners,
// make API keys, and are then demoted by the policy; carol logs in as the
// owner she stays.
func startCoverFleet(t *testing.T) *coverFleet {
	t.Helper()
	pf := filepath.Join(t.TempDir(), "policy.hujson")
	all := `"carol@example.com", "dave@example.com", "alice@example.com", "bob@example.com"`
	if err := os.WriteFile(pf, []byte(coverPolicy(all)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startCoordListening(t, func(cfg *Config) {
		cfg.PolicyFile = pf
		cfg.AdminRoles = map[string]admin.Role{"group:owners": admin.RoleOwner, "group:admins": admin.RoleAdmin, "group:it": admin.RoleITAdmin}
	})
	f := &coverFleet{c: c}
	c.uiLogin(carol)
	for _, p := range []struct {
		creds devidptest.Credentials
		role  admin.Role
	}{{alice, admin.RoleAdmin}, {bob, admin.RoleITAdmin}} {
		b, page := c.uiLogin(p.creds)
		var k wire.APIKey
		if code := c.uiAPI(b, page, "POST", wire.PathAdminAPIKeys, wire.CreateAPIKeyRequest{Description: p.creds.Username, Scopes: []string{"admin"}}, &k); code != http.StatusCreated {
			t.Fatalf("%s makes an API key as an owner: %d", p.creds.Username, code)
		}
		email := p.creds.Username + "@example.com"
		f.actors = append(f.actors,
			coverActor{name: p.creds.Username + "'s session", actor: "user:" + email, role: p.role, subject: p.creds.Username,
				call: func(method, path string, body, out any) int { return c.uiAPI(b, page, method, path, body, out) }},
			coverActor{name: p.creds.Username + "'s API key", actor: "apikey:" + k.Prefix, role: p.role, subject: p.creds.Username,
				call: func(method, path string, body, out any) int {
					code, rb := c.call(method, path, k.Key, body)
					if out != nil && code < 300 {
						jsonUnmarshal(t, rb, out)
					}
					return code
				}})
	}
	// The system's key demotes alice and bob; carol and dave stay owners.
	if code := c.admin("PUT", wire.PathAdminPolicy, wire.SetPolicyRequest{Text: coverPolicy(`"carol@example.com", "dave@example.com"`), ParentID: -1}, nil); code != http.StatusOK {
		t.Fatalf("demote alice and bob: %d", code)
	}
	for _, a := range f.actors {
		if code, r := a.whoami(); code != http.StatusOK || r != string(a.role) {
			t.Fatalf("%s after the demotion: %d %q, want %s", a.name, code, r, a.role)
		}
	}
	return f
}

// whoami returns the status of a's whoami and the role it names.
func (a coverActor) whoami() (int, string) {
	var who map[string]any
	code := a.call("GET", wire.PathAdminWhoami, nil, &who)
	r, _ := who["role"].(string)
	return code, r
}

// user returns the user of email, failing unless exactly one has it.
func (f *coverFleet) user(email string) wire.AdminUser {
	f.c.t.Helper()
	var u wire.AdminUser
	if code := f.c.admin("GET", wire.PathAdminUsers+"/"+email, nil, &u); code != http.StatusOK {
		f.c.t.Fatalf("user %s: %d", email, code)
	}
	return u
}

// TestAdminCannotDisableOwner: admins may do everything but manage owners,
// and it-admins may not manage admins either. Through the admin API, with
// sessions and with API keys (made while they were owners), neither may
// disable or enable an owner, nor an it-admin an admin: the coordinator
// refuses (403), changes nothing and audits the refusal. An admin may
// still disable and enable an it-admin.
func TestAdminCannotDisableOwner(t *testing.T) {
	f := startCoverFleet(t)
	c := f.c
	for _, a := range f.actors {
		for _, verb := range []string{"disable", "enable"} {
			if code := a.call("POST", wire.PathAdminUsers+"/carol@example.com/"+verb, nil, nil); code != http.StatusForbidden {
				t.Errorf("%s (%s) may %s the owner carol: %d, want 403", a.name, a.role, verb, code)
			}
		}
		if u := f.user("carol@example.com"); u.Disabled {
			t.Fatalf("%s disabled the owner carol", a.name)
		}
		c.wantAudit("user.disable_refused", a.actor)
	}
	for _, a := range f.actors[2:] { // bob's
		if code := a.call("POST", wire.PathAdminUsers+"/alice@example.com/disable", nil, nil); code != http.StatusForbidden {
			t.Errorf("%s (it-admin) disables the admin alice: %d, want 403", a.name, code)
		}
	}
	if f.user("alice@example.com").Disabled {
		t.Fatal("an it-admin disabled an admin")
	}

	// An owner disabled by an owner stays disabled: an admin may not
	// enable her.
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/disable", nil, nil); code != http.StatusOK {
		t.Fatalf("the system's key disables carol: %d", code)
	}
	if code := f.actors[1].call("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusForbidden || !f.user("carol@example.com").Disabled {
		t.Errorf("alice's key enables the disabled owner: %d, want 403", code)
	}
	c.wantAudit("user.enable_refused", f.actors[1].actor)
	if code := c.admin("POST", wire.PathAdminUsers+"/carol@example.com/enable", nil, nil); code != http.StatusOK {
		t.Fatalf("the system's key enables carol: %d", code)
	}

	for _, verb := range []string{"disable", "enable"} {
		if code := f.actors[1].call("POST", wire.PathAdminUsers+"/bob@example.com/"+verb, nil, nil); code != http.StatusOK {
			t.Errorf("alice's key (admin) may %s the it-admin bob: %d, want 200", verb, code)
		}
	}
}

// TestAdminCannotRebindOwnerEmail: a former owner, now an admin, holding
// an API key made while an owner, gives the owner carol's email to their
// own subject: had it gone through, carol would be disabled and the key,
// which takes its role from its person's email, would act as owner
// again. The coordinator refuses it (403) and changes nothing, as it
// refuses taking an owner's email away by binding another to her subject,
// and an it-admin's rebind of an admin's email; a rebind between people
// the admin's role covers goes through.
func TestAdminCannotRebindOwnerEmail(t *testing.T) {
	f := startCoverFleet(t)
	c := f.c
	if _, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: c.srv.cfg.OIDC.Issuer, Subject: "erin", Email: "erin@example.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	carolBefore := f.user("carol@example.com")
	for _, a := range f.actors {
		for name, req := range map[string]struct {
			email   string
			subject string
		}{
			"the owner's email to the actor's subject": {"carol@example.com", a.subject},
			"the owner's email to a new subject":       {"carol@example.com", "mallory"},
			"another email to the owner's subject":     {"erin@example.com", "carol"},
		} {
			if code := a.call("POST", wire.PathAdminUsers+"/"+req.email+"/rebind", wire.RebindUserRequest{Subject: req.subject}, nil); code != http.StatusForbidden {
				t.Errorf("%s rebinds %s: %d, want 403", a.name, name, code)
			}
		}
		c.wantAudit("user.rebind_refused", a.actor)
	}
	if carol := f.user("carol@example.com"); carol.ID != carolBefore.ID || carol.Disabled || carol.Subject != "carol" {
		t.Fatalf("carol after the refused rebinds: %+v", carol)
	}
	for _, a := range f.actors {
		if code, r := a.whoami(); code != http.StatusOK || r != string(a.role) {
			t.Errorf("%s after the refused rebinds: %d %q, want %s", a.name, code, r, a.role)
		}
	}
	for _, a := range f.actors[2:] { // bob's, an it-admin's
		if code := a.call("POST", wire.PathAdminUsers+"/alice@example.com/rebind", wire.RebindUserRequest{Subject: "bob"}, nil); code != http.StatusForbidden {
			t.Errorf("%s rebinds the admin alice's email: %d, want 403", a.name, code)
		}
	}
	if code := f.actors[1].call("POST", wire.PathAdminUsers+"/erin@example.com/rebind", wire.RebindUserRequest{Subject: "erin-2"}, nil); code != http.StatusOK {
		t.Errorf("alice's key rebinds erin's email (no role) to another subject: %d, want 200", code)
	}
}

// TestAdminCannotMigrateOwners: moving users to another issuer hands their
// accounts to whoever holds their subjects there; an admin or it-admin may
// not move a set that holds an owner (dave, of an old issuer), dry run or
// not: the coordinator refuses (403), moves no one and audits it. A set
// without roles above theirs moves.
func TestAdminCannotMigrateOwners(t *testing.T) {
	f := startCoverFleet(t)
	c := f.c
	const old, older = "https://idp.old.example.com", "https://idp.older.example.com"
	issuer := c.srv.cfg.OIDC.Issuer
	dave, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: old, Subject: "dave", Email: "dave@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: old, Subject: "erin", Email: "erin@example.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: older, Subject: "frank", Email: "frank@example.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.actors {
		for _, dry := range []bool{true, false} {
			if code := a.call("POST", wire.PathAdminMigrateIssuer, wire.MigrateIssuerRequest{From: old, To: issuer, DryRun: dry}, nil); code != http.StatusForbidden {
				t.Errorf("%s moves the owner dave's issuer (dry run %v): %d, want 403", a.name, dry, code)
			}
		}
		c.wantAudit("user.migrate_issuer_refused", a.actor)
	}
	if u, err := c.srv.st.User(t.Context(), dave.ID); err != nil || u.Issuer != old {
		t.Fatalf("dave after the refused moves: %+v %v", u, err)
	}
	if code := f.actors[1].call("POST", wire.PathAdminMigrateIssuer, wire.MigrateIssuerRequest{From: older, To: issuer}, nil); code != http.StatusOK {
		t.Errorf("alice's key moves an issuer without roles: %d, want 200", code)
	}
	if code := c.admin("POST", wire.PathAdminMigrateIssuer, wire.MigrateIssuerRequest{From: old, To: issuer}, nil); code != http.StatusOK {
		t.Errorf("the system's key (owner) moves dave's issuer: %d, want 200", code)
	}
}

// personNode logs creds in on a new machine through the dev IdP, as
// `ward up` would, and returns the node's name.
func (c *testCoord) personNode(creds devidptest.Credentials, host string) string {
	c.t.Helper()
	_, name := c.personMachine(creds, host)
	return name
}

// personMachine logs creds in on a new machine named host through the dev
// IdP and returns the machine (with its session) and its node's name.
func (c *testCoord) personMachine(creds devidptest.Credentials, host string) (*machine, string) {
	c.t.Helper()
	m := newMachine(c.t)
	lr := c.startLogin(m, host, "linux")
	ctx := context.Background()
	b := devidptest.NewBrowser()
	p, err := b.Login(ctx, lr.URL, creds)
	if err != nil || p.Status != http.StatusOK {
		c.t.Fatalf("%s's sign-in: %v %+v", creds.Username, err, p)
	}
	waiting := c.waitLogin(m, lr.ID)
	if _, err := b.SubmitForm(ctx, p, wire.PathLoginConfirm, url.Values{"decision": {"connect"}}); err != nil {
		c.t.Fatal(err)
	}
	res := <-waiting
	if res.Node == nil {
		c.t.Fatalf("%s's login: %+v", creds.Username, res)
	}
	return m, res.Node.Name
}

// TestAdminCannotActOnOwnersNodes: an owner's own devices (her laptop)
// are hers to manage: an admin may not expire, retag or remove them; an
// owner may.
func TestAdminCannotActOnOwnersNodes(t *testing.T) {
	f := startCoverFleet(t)
	c := f.c
	laptop := c.personNode(carol, "carol-laptop")
	path := wire.PathAdminNodes + "/" + laptop
	for _, a := range f.actors {
		for _, call := range []struct {
			method, path string
			body         any
		}{
			{"POST", path + "/expire", nil}, {"PUT", path + "/tags", wire.SetTagsRequest{Tags: []string{"tag:camera"}}}, {"DELETE", path, nil},
		} {
			if code := a.call(call.method, call.path, call.body, nil); code != http.StatusForbidden {
				t.Errorf("%s: %s %s on the owner's laptop: %d, want 403", a.name, call.method, call.path, code)
			}
		}
	}
	var n wire.AdminNode
	if code := c.admin("GET", path, nil, &n); code != http.StatusOK || n.Expired || len(n.Tags) > 0 {
		t.Fatalf("carol's laptop after the refusals: %d %+v", code, n)
	}
	c.wantAudit("node.expire_refused", f.actors[1].actor)
	if code := c.admin("POST", path+"/expire", nil, nil); code != http.StatusOK {
		t.Errorf("the system's key expires carol's laptop: %d, want 200", code)
	}
}
