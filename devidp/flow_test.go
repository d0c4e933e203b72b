package devidp_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

const totpSecret = "JBSWY3DPEHPK3PXPJBSWY3DP"

func testUsers() []devidp.User {
	f := false
	return append(devidp.DefaultUsers(),
		devidp.User{Username: "dave", Password: "pw-dave", Email: "dave@example.org", Groups: []string{"plc"}, MFA: true, TOTPSecret: totpSecret},
		devidp.User{Username: "erin", Password: "pw-erin", Email: "erin@example.com", EmailVerified: &f},
	)
}

func totpNow(t *testing.T) string {
	key, err := devidp.TOTPKey(totpSecret)
	if err != nil {
		t.Fatal(err)
	}
	return devidp.TOTP(key, time.Now())
}

// TestCodeFlow runs the whole authorization code flow with PKCE through
// the HTML form, then checks the ID token and the userinfo answer.
func TestCodeFlow(t *testing.T) {
	e := newEnv(t, devidp.Config{Users: testUsers()})
	tru, fls := true, false
	tests := []struct {
		name  string
		creds devidptest.Credentials
		want  idClaims
	}{
		{"password only", devidptest.Credentials{Username: "bob", Password: "bob"},
			idClaims{Email: "bob@example.com", EmailVerified: &tru, Name: "Bob Example", Groups: []string{}, AMR: []string{"pwd"}}},
		{"fixed one-time code", devidptest.Credentials{Username: "alice", Password: "alice", OTP: "123456"},
			idClaims{Email: "alice@example.com", EmailVerified: &tru, Name: "Alice Example", Groups: []string{"ops"}, AMR: []string{"pwd", "otp"}}},
		{"two groups", devidptest.Credentials{Username: "carol", Password: "carol"},
			idClaims{Email: "carol@example.com", EmailVerified: &tru, Name: "Carol Example", Groups: []string{"admins", "ops"}, AMR: []string{"pwd"}}},
		{"totp", devidptest.Credentials{Username: "dave", Password: "pw-dave", OTP: totpNow(t)},
			idClaims{Email: "dave@example.org", EmailVerified: &tru, Name: "dave", Groups: []string{"plc"}, AMR: []string{"pwd", "otp"}}},
		{"unverified email", devidptest.Credentials{Username: "erin", Password: "pw-erin"},
			idClaims{Email: "erin@example.com", EmailVerified: &fls, Name: "erin", Groups: []string{}, AMR: []string{"pwd"}}},
	}
	verifier := e.provider.Verifier(&oidc.Config{ClientID: clientID})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := e.begin()
			tok, err := e.exchange(t.Context(), l, e.code(t, l, tt.creds))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			raw, _ := tok.Extra("id_token").(string)
			idt, err := verifier.Verify(t.Context(), raw)
			if err != nil {
				t.Fatalf("verify id token: %v", err)
			}
			if idt.Nonce != l.nonce || idt.Subject != tt.creds.Username || idt.Issuer != e.idp.Issuer() {
				t.Errorf("nonce/sub/iss = %q/%q/%q", idt.Nonce, idt.Subject, idt.Issuer)
			}
			var got idClaims
			if err := idt.Claims(&got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("id token claims (-want +got):\n%s", diff)
			}
			checkUserinfo(t, e, tok, tt.want)
		})
	}
}

func checkUserinfo(t *testing.T, e *env, tok *oauth2.Token, want idClaims) {
	t.Helper()
	info, err := e.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var got idClaims
	if err := info.Claims(&got); err != nil {
		t.Fatal(err)
	}
	want.AMR = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("userinfo (-want +got):\n%s", diff)
	}
}

// carolsClaims logs carol in and returns the claims of her ID token.
func (e *env) carolsClaims(t *testing.T) idClaims {
	t.Helper()
	l := e.begin()
	tok, err := e.exchange(t.Context(), l, e.code(t, l, devidptest.Credentials{Username: "carol", Password: "carol"}))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := e.provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(t.Context(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatal(err)
	}
	var got idClaims
	if err := idt.Claims(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestGroupsClaimIsConfigurable(t *testing.T) {
	got := newEnv(t, devidp.Config{GroupsClaim: "roles"}).carolsClaims(t)
	if got.Groups != nil || !cmp.Equal(got.Roles, []string{"admins", "ops"}) {
		t.Errorf("groups = %v, roles = %v; want only roles [admins ops]", got.Groups, got.Roles)
	}
}

// TestGroupsOnlyWithGroupsScope: like Dex, the provider sends groups only
// to a client that asks for the groups scope, so a relying party that
// forgets it is caught here rather than by the first real IdP.
func TestGroupsOnlyWithGroupsScope(t *testing.T) {
	for _, tt := range []struct {
		scopes []string
		want   []string
	}{
		{[]string{oidc.ScopeOpenID, "email"}, nil},
		{[]string{oidc.ScopeOpenID, "email", "groups"}, []string{"admins", "ops"}},
	} {
		e := newEnv(t, devidp.Config{})
		e.oauth.Scopes = tt.scopes
		if got := e.carolsClaims(t); !cmp.Equal(got.Groups, tt.want) {
			t.Errorf("scopes %v: groups = %v, want %v", tt.scopes, got.Groups, tt.want)
		}
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	l := e.begin()
	code := e.code(t, l, devidptest.Credentials{Username: "bob", Password: "bob"})
	if _, err := e.exchange(t.Context(), l, code); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := e.exchange(t.Context(), l, code)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replayed code: err = %v, want invalid_grant", err)
	}
}

func TestExchangeRefusals(t *testing.T) {
	e := newEnv(t, devidp.Config{Clients: []devidp.Client{{ID: "other", Secret: "other-secret", RedirectURIs: []string{"http://127.0.0.1:1/cb"}}}})
	tests := []struct {
		name   string
		mutate func(c *oauth2.Config, l *login)
	}{
		{"wrong PKCE verifier", func(_ *oauth2.Config, l *login) { l.verifier = oauth2.GenerateVerifier() }},
		{"wrong client secret", func(c *oauth2.Config, _ *login) { c.ClientSecret = "nope" }},
		{"code of another client", func(c *oauth2.Config, _ *login) { c.ClientID, c.ClientSecret = "other", "other-secret" }},
		{"other redirect URI", func(c *oauth2.Config, _ *login) { c.RedirectURL += "x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := e.begin()
			code := e.code(t, l, devidptest.Credentials{Username: "bob", Password: "bob"})
			conf, bad := e.oauth, l
			tt.mutate(&conf, &bad)
			if _, err := conf.Exchange(t.Context(), code, oauth2.VerifierOption(bad.verifier)); err == nil {
				t.Fatal("exchange succeeded, want refusal")
			}
			// The legitimate exchange still works: a refused attempt
			// burns nothing but itself.
			if _, err := e.exchange(t.Context(), l, code); err != nil {
				t.Errorf("legitimate exchange after refusal: %v", err)
			}
		})
	}
}

func TestPKCERequired(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	tests := []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"no challenge", nil},
		{"plain method", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := e.oauth.AuthCodeURL("st", tt.opts...)
			page, err := devidptest.NewBrowser().Open(t.Context(), u)
			if err != nil {
				t.Fatal(err)
			}
			q, _ := url.ParseQuery(page.Body)
			if page.URL.Path != "/cb" || q.Get("error") != "invalid_request" {
				t.Fatalf("ended on %s with %q; want the callback with error=invalid_request", page.URL, page.Body)
			}
		})
	}
}

func TestDiscoveryAndKeys(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	var disc struct {
		Issuer     string   `json:"issuer"`
		Auth       string   `json:"authorization_endpoint"`
		Token      string   `json:"token_endpoint"`
		Userinfo   string   `json:"userinfo_endpoint"`
		JWKS       string   `json:"jwks_uri"`
		PKCE       []string `json:"code_challenge_methods_supported"`
		Algs       []string `json:"id_token_signing_alg_values_supported"`
		ClaimsSupp []string `json:"claims_supported"`
	}
	getJSON(t, e.idp.Issuer()+"/.well-known/openid-configuration", &disc)
	iss := e.idp.URL + devidp.DefaultPrefix
	if disc.Issuer != iss || disc.Auth != iss+"/authorize" || disc.Token != iss+"/oauth/token" ||
		disc.Userinfo != iss+"/userinfo" || disc.JWKS != iss+"/keys" {
		t.Errorf("discovery endpoints = %+v, want them under %s", disc, iss)
	}
	if !cmp.Equal(disc.PKCE, []string{"S256"}) || !cmp.Equal(disc.Algs, []string{"ES256"}) {
		t.Errorf("pkce methods %v, algs %v; want [S256], [ES256]", disc.PKCE, disc.Algs)
	}
	var jwks struct {
		Keys []struct{ Kty, Alg, Use, Kid, Crv string } `json:"keys"`
	}
	getJSON(t, disc.JWKS, &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kty != "EC" || jwks.Keys[0].Crv != "P-256" || jwks.Keys[0].Kid == "" {
		t.Errorf("jwks = %+v, want one P-256 key with a kid", jwks)
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", u, err)
	}
}

// TestPublicClient runs the flow for a client without a secret, which PKCE
// alone authenticates.
func TestPublicClient(t *testing.T) {
	e := newEnv(t, devidp.Config{})
	pub := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: "cli", RedirectURIs: []string{e.redirect}}}})
	e.oauth.ClientID, e.oauth.ClientSecret = "cli", ""
	e.oauth.Endpoint.AuthURL = pub.Issuer() + "/authorize"
	e.oauth.Endpoint.TokenURL = pub.Issuer() + "/oauth/token"
	l := e.begin()
	if _, err := e.exchange(t.Context(), l, e.code(t, l, devidptest.Credentials{Username: "bob", Password: "bob"})); err != nil {
		t.Fatalf("exchange: %v", err)
	}
}
