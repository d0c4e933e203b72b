package devidp_test

import (
	"errors"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

// offlineLogin logs c in asking for offline_access and returns the tokens.
func offlineLogin(t *testing.T, e *env, c devidptest.Credentials) *oauth2.Token {
	t.Helper()
	e.oauth.Scopes = []string{oidc.ScopeOpenID, "email", "profile", "groups", oidc.ScopeOfflineAccess}
	l := e.begin()
	tok, err := e.exchange(t.Context(), l, e.code(t, l, c))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token for a login with offline_access")
	}
	return tok
}

// refresh redeems the refresh token rt.
func refresh(t *testing.T, e *env, rt string) (*oauth2.Token, error) {
	t.Helper()
	return e.oauth.TokenSource(t.Context(), &oauth2.Token{RefreshToken: rt}).Token()
}

func isInvalidGrant(err error) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == "invalid_grant"
}

func TestNoRefreshTokenWithoutOfflineAccess(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	l := e.begin()
	tok, err := e.exchange(t.Context(), l, e.code(t, l, devidptest.Credentials{Username: "bob", Password: "bob"}))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken != "" {
		t.Error("a refresh token was issued without offline_access")
	}
}

// TestRefresh redeems a refresh token for a new ID token with the user's
// claims, and checks the old refresh token is used up (rotation).
func TestRefresh(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	first := offlineLogin(t, e, devidptest.Credentials{Username: "carol", Password: "carol"})
	tok, err := refresh(t, e, first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok.RefreshToken == "" || tok.RefreshToken == first.RefreshToken {
		t.Error("refresh did not rotate the refresh token")
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("verify refreshed id token: %v", err)
	}
	var got idClaims
	if err := idt.Claims(&got); err != nil {
		t.Fatal(err)
	}
	want := idClaims{Email: "carol@example.com", EmailVerified: new(true), Name: "Carol Example", Groups: []string{"admins", "ops"}, AMR: []string{"pwd"}}
	if idt.Subject != "carol" || !cmp.Equal(want, got) {
		t.Errorf("refreshed id token sub %q claims (-want +got):\n%s", idt.Subject, cmp.Diff(want, got))
	}
	if _, err := refresh(t, e, first.RefreshToken); !isInvalidGrant(err) {
		t.Errorf("reused refresh token: err = %v, want invalid_grant", err)
	}
	if _, err := refresh(t, e, tok.RefreshToken); err != nil {
		t.Errorf("second refresh: %v", err)
	}
}

// TestRevokeUserRefusesRefresh checks that RevokeUser makes the user's
// refresh fail with invalid_grant and leaves other users alone.
func TestRevokeUserRefusesRefresh(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	bob := offlineLogin(t, e, devidptest.Credentials{Username: "bob", Password: "bob"})
	carol := offlineLogin(t, e, devidptest.Credentials{Username: "carol", Password: "carol"})
	if err := e.idp.RevokeUser("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := refresh(t, e, bob.RefreshToken); !isInvalidGrant(err) {
		t.Errorf("revoked user's refresh: err = %v, want invalid_grant", err)
	}
	if _, err := refresh(t, e, carol.RefreshToken); err != nil {
		t.Errorf("other user's refresh: %v", err)
	}
	again := offlineLogin(t, e, devidptest.Credentials{Username: "bob", Password: "bob"})
	if _, err := refresh(t, e, again.RefreshToken); err != nil {
		t.Errorf("refresh after logging in again: %v", err)
	}
	if err := e.idp.RevokeUser("nobody"); !errors.Is(err, devidp.ErrInvalidUsers) {
		t.Errorf("RevokeUser(unknown) = %v, want ErrInvalidUsers", err)
	}
}
