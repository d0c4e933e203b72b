package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUpsertUser(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	id := Identity{Issuer: "https://idp", Subject: "42", Email: "a@x", DisplayName: "A",
		Groups: []string{"ops", "dev", "ops"}}
	first, err := s.UpsertUser(ctx, id, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := User{ID: first.ID, Issuer: "https://idp", Subject: "42", Email: "a@x",
		DisplayName: "A", Groups: []string{"dev", "ops"}, CreatedAt: t0, LastLogin: t0}
	if d := diff(want, first); d != "" {
		t.Errorf("created user (-want +got):\n%s", d)
	}
	if err := s.SetUserDisabled(ctx, first.ID, true); err != nil {
		t.Fatal(err)
	}
	id.Email, id.Groups = "b@x", nil
	later := t0.Add(time.Hour)
	second, err := s.UpsertUser(ctx, id, later)
	if err != nil {
		t.Fatal(err)
	}
	want.Email, want.Groups, want.LastLogin, want.Disabled = "b@x", nil, later, true
	if d := diff(want, second); d != "" {
		t.Errorf("updated user (-want +got):\n%s", d)
	}
	other, err := s.UpsertUser(ctx, Identity{Issuer: "https://other", Subject: "42"}, t0)
	if err != nil || other.ID == first.ID {
		t.Errorf("same subject, other issuer: %v, id %d (first %d)", err, other.ID, first.ID)
	}
}

func TestUserLookups(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	a := mustUser(t, s, "a@x")
	b := mustUser(t, s, "b@x")
	tests := []struct {
		name    string
		get     func() (User, error)
		want    User
		wantErr error
	}{
		{"by id", func() (User, error) { return s.User(ctx, b.ID) }, b, nil},
		{"by subject", func() (User, error) { return s.UserBySubject(ctx, a.Issuer, a.Subject) }, a, nil},
		{"missing id", func() (User, error) { return s.User(ctx, 99) }, User{}, ErrNotFound},
		{"missing subject", func() (User, error) { return s.UserBySubject(ctx, a.Issuer, "nope") }, User{}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.get()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if d := diff(tt.want, got); d != "" {
				t.Errorf("user (-want +got):\n%s", d)
			}
		})
	}
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := diff([]User{a, b}, users); d != "" {
		t.Errorf("ListUsers (-want +got):\n%s", d)
	}
	if err := s.SetUserDisabled(ctx, 99, true); !errors.Is(err, ErrNotFound) {
		t.Errorf("disable missing user: %v, want ErrNotFound", err)
	}
	if _, err := s.UpsertUser(ctx, Identity{Issuer: "x"}, t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("upsert without subject: %v, want ErrInvalid", err)
	}
}

// TestEmailBoundToOneUser: a second subject cannot take an email another
// user holds (whatever its case), until RebindEmail moves it.
func TestEmailBoundToOneUser(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	first, err := s.UpsertUser(ctx, Identity{Issuer: "https://idp", Subject: "1", Email: "a@x"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []Identity{
		{Issuer: "https://idp", Subject: "2", Email: "a@x"},
		{Issuer: "https://idp", Subject: "2", Email: "A@X"},
		{Issuer: "https://other", Subject: "1", Email: "a@x"},
	} {
		if _, err := s.UpsertUser(ctx, id, t0); !errors.Is(err, ErrEmailBound) {
			t.Errorf("UpsertUser(%+v): %v, want ErrEmailBound", id, err)
		}
	}
	if _, err := s.UserBySubject(ctx, "https://idp", "2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused subject was recorded: %v", err)
	}
	if _, err := s.UpsertUser(ctx, Identity{Issuer: "https://idp", Subject: "1", Email: "a@x", DisplayName: "A"}, t0); err != nil {
		t.Errorf("the holder's own login: %v", err)
	}
	for _, sub := range []string{"3", "4"} { // no email: nothing to bind
		if _, err := s.UpsertUser(ctx, Identity{Issuer: "https://idp", Subject: sub}, t0); err != nil {
			t.Errorf("subject %s without email: %v", sub, err)
		}
	}

	unbound, to, err := s.RebindEmail(ctx, "a@x", "https://idp", "2", t0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(unbound) != 1 || unbound[0].ID != first.ID || unbound[0].Email != "" || !unbound[0].Disabled {
		t.Errorf("unbound = %+v, want user %d with no email, disabled", unbound, first.ID)
	}
	if to.Subject != "2" || to.Email != "a@x" || to.Disabled || !to.LastLogin.IsZero() {
		t.Errorf("rebound to %+v, want subject 2 holding a@x, never logged in", to)
	}
	if _, err := s.UpsertUser(ctx, Identity{Issuer: "https://idp", Subject: "2", Email: "a@x"}, t0); err != nil {
		t.Errorf("the new holder's login: %v", err)
	}
	if _, err := s.UpsertUser(ctx, Identity{Issuer: "https://idp", Subject: "1", Email: "a@x"}, t0); !errors.Is(err, ErrEmailBound) {
		t.Errorf("the old holder's login: %v, want ErrEmailBound", err)
	}
	users, err := s.UsersByEmail(ctx, "A@x")
	if err != nil || len(users) != 1 || users[0].ID != to.ID {
		t.Errorf("UsersByEmail = %+v, %v; want only user %d", users, err, to.ID)
	}
	if _, _, err := s.RebindEmail(ctx, "", "https://idp", "2", t0, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("rebind an empty email: %v, want ErrInvalid", err)
	}
}

// TestMigrateIssuer: the users of an old issuer move to a new one keeping
// their ids; a dry run and a refused migration change nothing; a subject
// the new issuer already has is a conflict naming the user.
func TestMigrateIssuer(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	up := func(iss, sub, email string) User {
		u, err := s.UpsertUser(ctx, Identity{Issuer: iss, Subject: sub, Email: email}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	a, b := up("https://old", "a", "a@x"), up("https://old", "b", "b@x")
	other := up("https://other", "a", "")
	before, _ := s.ListUsers(ctx)

	dry, err := s.MigrateIssuer(ctx, "https://old", "https://new", true, nil)
	if err != nil || len(dry) != 2 || dry[0].ID != a.ID || dry[1].Issuer != "https://new" {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if after, _ := s.ListUsers(ctx); diff(before, after) != "" {
		t.Fatalf("a dry run changed the users:\n%s", diff(before, after))
	}

	clash := up("https://new", "b", "")
	if _, err := s.MigrateIssuer(ctx, "https://old", "https://new", false, nil); !errors.Is(err, ErrConflict) ||
		!strings.Contains(err.Error(), fmt.Sprintf("user %d", clash.ID)) {
		t.Fatalf("migration onto an existing subject: %v, want ErrConflict naming user %d", err, clash.ID)
	}
	if _, err := s.MigrateIssuer(ctx, "https://old", "https://new", true, nil); !errors.Is(err, ErrConflict) {
		t.Errorf("dry run onto an existing subject: %v, want ErrConflict", err)
	}
	if got, _ := s.User(ctx, b.ID); got.Issuer != "https://old" {
		t.Fatalf("a refused migration moved %+v", got)
	}

	moved, err := s.MigrateIssuer(ctx, "https://old", "https://newer", false, nil)
	if err != nil || len(moved) != 2 {
		t.Fatalf("migrate: %+v %v", moved, err)
	}
	for _, u := range []User{a, b} {
		got, err := s.UserBySubject(ctx, "https://newer", u.Subject)
		if err != nil || got.ID != u.ID || got.Email != u.Email {
			t.Errorf("user %d after the move: %+v %v", u.ID, got, err)
		}
	}
	if got, _ := s.User(ctx, other.ID); got.Issuer != "https://other" {
		t.Errorf("a user of another issuer moved: %+v", got)
	}
	for _, bad := range [][2]string{{"", "x"}, {"x", ""}, {"x", "x"}} {
		if _, err := s.MigrateIssuer(ctx, bad[0], bad[1], false, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("MigrateIssuer(%q, %q): %v, want ErrInvalid", bad[0], bad[1], err)
		}
	}
}

// TestUserCheckSeesTheWrite: a rebind's and an issuer migration's check is
// given, inside the write, the users it changes (a rebind's as they are
// and its new holder as it will be); its refusal changes nothing, and a
// dry run is checked too.
func TestUserCheckSeesTheWrite(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	up := func(iss, sub, email string) User {
		u, err := s.UpsertUser(ctx, Identity{Issuer: iss, Subject: sub, Email: email, Groups: []string{"g-" + sub}}, t0)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	holder, dest := up("https://idp", "1", "a@x"), up("https://idp", "2", "b@x")
	before, _ := s.ListUsers(ctx)
	no := errors.New("no")
	var seen []User
	refuse := func(us []User) error { seen = us; return no }

	if _, _, err := s.RebindEmail(ctx, "a@x", "https://idp", "2", t0, refuse); !errors.Is(err, no) {
		t.Fatalf("refused rebind: %v", err)
	}
	after := dest
	after.Email = "a@x"
	if d := diff([]User{holder, dest, after}, seen); d != "" {
		t.Errorf("rebind onto an existing user checked (-want +got):\n%s", d)
	}
	if _, _, err := s.RebindEmail(ctx, "a@x", "https://idp", "new", t0, refuse); !errors.Is(err, no) {
		t.Fatalf("refused rebind: %v", err)
	}
	if d := diff([]User{holder, {Issuer: "https://idp", Subject: "new", Email: "a@x"}}, seen); d != "" {
		t.Errorf("rebind onto a new user checked (-want +got):\n%s", d)
	}
	for _, dry := range []bool{true, false} {
		seen = nil
		if _, err := s.MigrateIssuer(ctx, "https://idp", "https://new", dry, refuse); !errors.Is(err, no) {
			t.Fatalf("refused migration (dry run %v): %v", dry, err)
		}
		if d := diff([]User{holder, dest}, seen); d != "" {
			t.Errorf("migration (dry run %v) checked (-want +got):\n%s", dry, d)
		}
	}
	if got, _ := s.ListUsers(ctx); diff(before, got) != "" {
		t.Errorf("refused writes changed the users:\n%s", diff(before, got))
	}
}

// TestUpsertUserRecordsLastSecondFactor: a login records its auth_time,
// and its time as the last second factor when it showed one; a later
// login without one moves the auth time only, and one with no auth time
// (a refresh) keeps both.
func TestUpsertUserRecordsLastSecondFactor(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	id := Identity{Issuer: "https://idp", Subject: "7", Email: "m@x", AuthTime: t0, MFA: true}
	u, err := s.UpsertUser(ctx, id, t0)
	if err != nil || !u.AuthTime.Equal(t0) || !u.MFATime.Equal(t0) {
		t.Fatalf("login with a second factor: %+v %v", u, err)
	}
	id.AuthTime, id.MFA = t0.Add(time.Hour), false
	if u, err = s.UpsertUser(ctx, id, t0.Add(time.Hour)); err != nil || !u.AuthTime.Equal(t0.Add(time.Hour)) || !u.MFATime.Equal(t0) {
		t.Errorf("login without one: auth %v mfa %v (%v); want %v and %v", u.AuthTime, u.MFATime, err, t0.Add(time.Hour), t0)
	}
	id.AuthTime = time.Time{}
	if u, err = s.UpsertUser(ctx, id, t0.Add(2*time.Hour)); err != nil || !u.AuthTime.Equal(t0.Add(time.Hour)) || !u.MFATime.Equal(t0) {
		t.Errorf("a refresh moved the times: auth %v mfa %v (%v)", u.AuthTime, u.MFATime, err)
	}
}
