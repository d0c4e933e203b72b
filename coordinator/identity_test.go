package coordinator

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// TestDisableByEmailRefusesAmbiguity: in a database from before emails
// were bound to one user, two subjects share an email. `ward admin users
// disable EMAIL` used to disable the first only; it is now refused as
// ambiguous, naming both ids, and changes nothing; by id it works.
func TestDisableByEmailRefusesAmbiguity(t *testing.T) {
	d := newCoordDir(t, testPolicy)
	d.start("").stop()
	db, err := sql.Open("sqlite", filepath.Join(d.data, store.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"sub-1", "sub-2"} {
		if _, err := db.Exec(`INSERT INTO users (issuer, subject, email, created_at) VALUES (?, ?, ?, ?)`,
			"https://idp.example", sub, "dup@example.com", time.Now().UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	c := d.start("")
	code, body := c.call("POST", wire.PathAdminUsers+"/dup@example.com/disable", c.apiKey, nil)
	if code != http.StatusConflict || !strings.Contains(string(body), "1, 2") {
		t.Fatalf("disable an ambiguous email: %d %s, want 409 naming users 1, 2", code, body)
	}
	var users []wire.AdminUser
	c.admin("GET", wire.PathAdminUsers, nil, &users)
	for _, u := range users {
		if u.Disabled {
			t.Errorf("a refused disable changed user %d", u.ID)
		}
	}
	for _, id := range []string{"1", "2"} {
		var u wire.AdminUser
		if code := c.admin("POST", wire.PathAdminUsers+"/"+id+"/disable", nil, &u); code != http.StatusOK || !u.Disabled {
			t.Errorf("disable user %s by id: %d %+v", id, code, u)
		}
	}
}

// boundRefresher is an IdP that, asked again about a user, now gives them
// the email another user holds.
type boundRefresher struct{ got store.Identity }

func (r boundRefresher) Refresh(context.Context, store.Identity) (store.Identity, error) {
	return r.got, nil
}

// TestRefreshToBoundEmailCutsKeys: when a refresh says a user's email is
// now one bound to another user, the user does not take it (nor keep
// going under the old one): their keys are cut, as for a refused refresh.
func TestRefreshToBoundEmailCutsKeys(t *testing.T) {
	c := startCoord(t, userPolicy)
	ctx, now := t.Context(), time.Now().UTC()
	st := c.srv.st
	if _, err := st.UpsertUser(ctx, store.Identity{Issuer: "https://idp.invalid", Subject: "a", Email: "a@example.com"}, now); err != nil {
		t.Fatal(err)
	}
	b, err := st.UpsertUser(ctx, store.Identity{Issuer: "https://idp.invalid", Subject: "b", Email: "b@example.com"}, now)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.RegisterWithUser(ctx, b.ID, now, store.NewNode{Name: "b-laptop", Hostname: "b-laptop", OS: "linux",
		MachineKey: store.MachinePublic{1}, WGKey: store.WGPublic{2}, KeyExpiry: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.srv.reloadNode(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	c.srv.logins.refreshUser(ctx, boundRefresher{store.Identity{Issuer: "https://idp.invalid", Subject: "b", Email: "a@example.com"}}, b)
	got, err := st.Node(ctx, n.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.KeyExpiry.After(time.Now()) {
		t.Errorf("b's key lives on until %v after a refresh claimed a bound email", got.KeyExpiry)
	}
	if u, _ := st.User(ctx, b.ID); u.Email != "b@example.com" {
		t.Errorf("b's email became %q", u.Email)
	}
}
