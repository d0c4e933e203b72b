package sso

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

// TestGroupsScopeRequestedByDefault: with no scopes configured, the RP asks
// for groups, so an IdP that sends them only on request (Dex, and devidp
// like it) still does.
func TestGroupsScopeRequestedByDefault(t *testing.T) {
	h := newHarness(t, devidp.Config{}, func(c *Config) { c.Scopes = nil })
	lg, err := h.rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(lg.URL)
	if got := strings.Fields(u.Query().Get("scope")); !slices.Contains(got, ScopeGroups) {
		t.Errorf("scopes %v lack %q", got, ScopeGroups)
	}
	o := h.login(t, "", carol)
	if o.err != nil {
		t.Fatal(o.err)
	}
	if !cmp.Equal(o.res.Identity.Groups, []string{"admins", "ops"}) {
		t.Errorf("groups %v, want [admins ops]", o.res.Identity.Groups)
	}
}

// discoveryServer serves only a discovery document listing scopes, as an
// IdP such as Google or Entra ID does; it never completes a login.
func discoveryServer(t *testing.T, scopes []string) string {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc := map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/auth", "token_endpoint": srv.URL + "/token",
			"jwks_uri": srv.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}}
		if scopes != nil {
			doc["scopes_supported"] = scopes
		}
		json.NewEncoder(w).Encode(doc)
	})
	return srv.URL
}

// TestGroupsScopeOnlyWhereItMayBeKnown: the default leaves groups out for
// an IdP whose discovery document lists its scopes without it (such IdPs
// refuse a login asking for an unknown scope), and asks for it when the
// document lists it or lists nothing. Scopes given explicitly are sent as
// given.
func TestGroupsScopeOnlyWhereItMayBeKnown(t *testing.T) {
	tests := []struct {
		name       string
		supported  []string
		configured []string
		want       string
	}{
		{"not offered", []string{"openid", "email", "profile"}, nil, "openid email profile"},
		{"offered", []string{"openid", "email", "groups"}, nil, "openid email profile groups"},
		{"not listed", nil, nil, "openid email profile groups"},
		{"explicit", []string{"openid", "groups"}, []string{"openid", "email"}, "openid email"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := discoveryServer(t, tt.supported)
			rp, err := New(Config{Issuer: base, ClientID: "c", ClientSecret: "s", RedirectURL: base + "/cb", Scopes: tt.configured})
			if err != nil {
				t.Fatal(err)
			}
			lg, err := rp.Begin(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(lg.URL)
			if got := u.Query().Get("scope"); got != tt.want {
				t.Errorf("scope = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestInvalidScopeNamesTheScopes: an IdP that refuses a scope answers the
// callback with invalid_scope; the error names the scopes asked for and
// the flag that changes them.
func TestInvalidScopeNamesTheScopes(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	lg, err := h.rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.browserWith(t, lg).Open(t.Context(), h.redirect+"?state="+lg.State+"&error=invalid_scope&error_description=unknown+scope"); err != nil {
		t.Fatal(err)
	}
	o := <-h.outcomes
	if !errors.Is(o.err, ErrProvider) || !strings.Contains(o.err.Error(), "openid,email,profile,groups") || !strings.Contains(o.err.Error(), "--oidc-scopes") {
		t.Errorf("error %v, want the scopes asked for and --oidc-scopes", o.err)
	}
}

// TestWrongClientSecretIsReportedAsSuch: the IdP refuses the coordinator's
// client credentials at the token endpoint; the error says so and names
// the secret's flags, rather than blaming the person's code.
func TestWrongClientSecretIsReportedAsSuch(t *testing.T) {
	h := newHarness(t, devidp.Config{}, func(c *Config) { c.ClientSecretFile = secretFile(t, "not-the-secret") })
	o := h.login(t, "", carol)
	if !errors.Is(o.err, ErrClientRejected) || errors.Is(o.err, ErrCodeRejected) {
		t.Fatalf("error %v, want ErrClientRejected only", o.err)
	}
	if msg := o.err.Error(); !strings.Contains(msg, "client credentials") || !strings.Contains(msg, "--oidc-client-secret-file") {
		t.Errorf("error %q does not say the client credentials were refused", msg)
	}
}

// TestRPTrustsPrivateCA: an IdP served over TLS with a certificate from a
// private CA is refused with the system's roots (the error points at
// --ca-file) and works end to end (discovery, token endpoint, JWKS) once
// CAFile names that CA.
func TestRPTrustsPrivateCA(t *testing.T) {
	h := newHarnessOn(t, devidptest.StartTLS, devidp.Config{}, nil)
	if !strings.HasPrefix(h.idp.Issuer(), "https://127.0.0.1:") {
		t.Fatalf("issuer %s is not https on loopback", h.idp.Issuer())
	}
	if _, err := h.rp.Begin(t.Context(), ""); !errors.Is(err, ErrProvider) || !strings.Contains(err.Error(), "--ca-file") {
		t.Fatalf("Begin without the CA: %v, want ErrProvider pointing at --ca-file", err)
	}
	h = newHarnessOn(t, devidptest.StartTLS, devidp.Config{}, func(c *Config) { c.CAFile = h.idp.CAFile })
	if o := h.login(t, "p", carol); o.err != nil || o.res.Identity.Email != "carol@example.com" {
		t.Fatalf("login through a private-CA IdP: %+v %v", o.res, o.err)
	}
	bad := Config{Issuer: h.idp.Issuer(), ClientID: "c", ClientSecret: "s", RedirectURL: h.redirect, CAFile: h.idp.CAFile, HTTPClient: http.DefaultClient}
	if _, err := New(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("CAFile with HTTPClient: %v, want ErrInvalidConfig", err)
	}
}
