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
