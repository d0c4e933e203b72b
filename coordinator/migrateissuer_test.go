package coordinator

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// TestMigrateIssuer: after the IdP's issuer URL changed, an admin moves
// its users to the new issuer through the admin API: a dry run changes
// nothing; the move is audited and keeps each person's user (a login
// through the new issuer lands on it, not on a new user); a subject the
// new issuer already has refuses the whole move, changing nothing; a role
// without the fleet right may not move anyone.
func TestMigrateIssuer(t *testing.T) {
	c := startCoordListening(t, func(c *Config) {
		c.AdminRoles = map[string]admin.Role{"idp:admins": admin.RoleOwner, "alice@example.com": admin.RoleAuditor}
	})
	const old = "https://idp.old.example.com"
	issuer := c.srv.cfg.OIDC.Issuer
	ctx := t.Context()
	bobOld, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: old, Subject: "bob", Email: "bob@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	erinOld, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: old, Subject: "erin", Email: "erin@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	move := func(key string, req wire.MigrateIssuerRequest) (int, wire.MigrateIssuerResult, string) {
		code, b := c.call("POST", wire.PathAdminMigrateIssuer, key, req)
		var res wire.MigrateIssuerResult
		if code == http.StatusOK {
			jsonUnmarshal(t, b, &res)
		}
		return code, res, string(b)
	}
	issuerOf := func(id store.UserID) string {
		u, err := c.srv.st.User(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return u.Issuer
	}

	code, res, body := move(c.apiKey, wire.MigrateIssuerRequest{From: old, To: issuer, DryRun: true})
	if code != http.StatusOK || !res.DryRun || len(res.Users) != 2 || res.Users[0].Issuer != issuer {
		t.Fatalf("dry run: %d %s", code, body)
	}
	if issuerOf(bobOld.ID) != old {
		t.Fatal("the dry run moved bob")
	}

	// Erin has logged in through another issuer already: her subject is
	// taken there, and the whole move to it is refused.
	const other = "https://idp.other.example.com"
	if _, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: other, Subject: "erin", Email: "erin2@example.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		code, _, body := move(c.apiKey, wire.MigrateIssuerRequest{From: old, To: other, DryRun: dry})
		if code != http.StatusConflict || !strings.Contains(body, `subject \"erin\"`) {
			t.Errorf("move onto a taken subject (dry run %v): %d %s, want 409 naming erin", dry, code, body)
		}
	}
	if issuerOf(bobOld.ID) != old || issuerOf(erinOld.ID) != old {
		t.Fatal("a refused move moved someone")
	}

	// An auditor may not move anyone.
	_, b, p := c.uiRole(alice)
	if code := c.uiAPI(b, p, "POST", wire.PathAdminMigrateIssuer, wire.MigrateIssuerRequest{From: old, To: issuer}, nil); code != http.StatusForbidden {
		t.Errorf("an auditor's move: %d, want 403", code)
	}
	if issuerOf(bobOld.ID) != old {
		t.Fatal("the auditor moved bob")
	}

	if code, res, body := move(c.apiKey, wire.MigrateIssuerRequest{From: old, To: issuer}); code != http.StatusOK || res.DryRun || len(res.Users) != 2 {
		t.Fatalf("move: %d %s", code, body)
	}
	var evs []wire.AuditEvent
	c.admin("GET", wire.PathAdminAudit+"?action=user.migrate_issuer", nil, &evs)
	if len(evs) != 1 || !strings.HasPrefix(evs[0].Actor, "apikey:") {
		t.Errorf("audit: %+v, want one user.migrate_issuer event by the API key", evs)
	}

	// Bob's next login through the new issuer is his old user.
	c.uiLogin(bob)
	var users []wire.AdminUser
	c.admin("GET", wire.PathAdminUsers, nil, &users)
	for _, u := range users {
		if u.Email == "bob@example.com" && (u.ID != int64(bobOld.ID) || u.Issuer != issuer || u.LastLogin.IsZero()) {
			t.Errorf("bob after the move and a login: %+v, want user %d", u, bobOld.ID)
		}
	}
}
