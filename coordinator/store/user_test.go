package store

import (
	"context"
	"errors"
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

	unbound, to, err := s.RebindEmail(ctx, "a@x", "https://idp", "2", t0)
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
	if _, _, err := s.RebindEmail(ctx, "", "https://idp", "2", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("rebind an empty email: %v, want ErrInvalid", err)
	}
}
