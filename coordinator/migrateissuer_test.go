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

	// Dave, of an older issuer still, has logged in through the new one
	// already: his subject is taken there, and the whole move of his old
	// issuer's users is refused.
	const older = "https://idp.older.example.com"
	daveOld, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: older, Subject: "dave", Email: "dave@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.st.UpsertUser(ctx, store.Identity{Issuer: issuer, Subject: "dave", Email: "dave2@example.com"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		code, _, body := move(c.apiKey, wire.MigrateIssuerRequest{From: older, To: issuer, DryRun: dry})
		if code != http.StatusConflict || !strings.Contains(body, `subject \"dave\"`) {
			t.Errorf("move onto a taken subject (dry run %v): %d %s, want 409 naming dave", dry, code, body)
		}
	}
	if issuerOf(daveOld.ID) != older || issuerOf(bobOld.ID) != old || issuerOf(erinOld.ID) != old {
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

// TestMigrateIssuerOnlyToTheCoordinatorsIssuer: users may only move to the
// issuer the coordinator logs people in with. A move anywhere else (a typo
// in --to, or a move made before the coordinator was switched to the new
// URL) would leave every moved person unable to log in (their email is
// bound to the moved user) and, with refresh on, cut every key of theirs
// at the next round (the IdP answers for another issuer); it is refused,
// dry run or not, and moves no one.
func TestMigrateIssuerOnlyToTheCoordinatorsIssuer(t *testing.T) {
	c := startCoordListening(t, nil)
	issuer := c.srv.cfg.OIDC.Issuer
	// Bob logged in through the coordinator's issuer.
	u, err := c.srv.st.UpsertUser(t.Context(), store.Identity{Issuer: issuer, Subject: "bob", Email: "bob@example.com"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		code, b := c.call("POST", wire.PathAdminMigrateIssuer, c.apiKey,
			wire.MigrateIssuerRequest{From: issuer, To: "https://idp.typo.example.com", DryRun: dry})
		if code != http.StatusBadRequest || !strings.Contains(string(b), issuer) {
			t.Errorf("move to an issuer the coordinator does not use (dry run %v): %d %s, want 400 naming %s", dry, code, b, issuer)
		}
	}
	if got, err := c.srv.st.User(t.Context(), u.ID); err != nil || got.Issuer != issuer {
		t.Fatalf("bob after the refused moves: %+v %v, want him still under %s", got, err, issuer)
	}
}
