package sso

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

// TestVerifyRefusesForeignTokens feeds the RP real ID tokens from real
// logins that are not meant for it: issued to another client, by another
// provider (its own keys), altered, or for another login's nonce.
func TestVerifyRefusesForeignTokens(t *testing.T) {
	h := newHarness(t, devidp.Config{Clients: []devidp.Client{{ID: "other", Secret: "other-secret"}}}, nil)
	mine, err := h.rp.discover(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	other, err := New(Config{Issuer: h.idp.Issuer(), ClientID: "other", ClientSecret: "other-secret", RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}
	idp2 := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: testClient, Secret: testSecret, RedirectURIs: []string{h.redirect}}}})
	rp2, err := New(Config{Issuer: idp2.Issuer(), ClientID: testClient, ClientSecret: testSecret, RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}
	// A second RP for the harness's own IdP and client, so its tokens are
	// good for h.rp.
	same, err := New(Config{Issuer: h.idp.Issuer(), ClientID: testClient, ClientSecret: testSecret, RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		token   func() (raw, nonce string)
		wantMsg string
	}{
		{"another audience", func() (string, string) { return rawIDToken(t, h, other, bob) }, "audience"},
		{"another issuer", func() (string, string) { return rawIDToken(t, h, rp2, bob) }, "signature"}, // its keys are not in our JWKS
		{"altered claims", func() (string, string) {
			raw, nonce := rawIDToken(t, h, same, bob)
			return alterPayload(t, raw, `"sub":"bob"`, `"sub":"carol"`), nonce
		}, "signature"},
		{"another login's nonce", func() (string, string) {
			raw, _ := rawIDToken(t, h, same, bob)
			return raw, "some-other-nonce"
		}, "nonce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, nonce := tt.token()
			_, err := h.rp.verify(t.Context(), mine, raw, nonce)
			if !errors.Is(err, ErrTokenInvalid) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("verify: %v, want ErrTokenInvalid mentioning %q", err, tt.wantMsg)
			}
		})
	}

	t.Run("good token passes", func(t *testing.T) {
		raw, nonce := rawIDToken(t, h, same, bob)
		if _, err := h.rp.verify(t.Context(), mine, raw, nonce); err != nil {
			t.Fatalf("verify: %v", err)
		}
	})
	t.Run("expired token", func(t *testing.T) {
		raw, nonce := rawIDToken(t, h, same, bob)
		h.clock.advance(2 * time.Hour)
		defer h.clock.advance(-2 * time.Hour)
		if _, err := h.rp.verify(t.Context(), mine, raw, nonce); !errors.Is(err, ErrTokenInvalid) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("verify: %v, want ErrTokenInvalid (expired)", err)
		}
	})
}

// TestCodeFromAnotherIssuer feeds the RP a code minted by another IdP.
func TestCodeFromAnotherIssuer(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	idp2 := devidptest.Start(t, devidp.Config{Clients: []devidp.Client{{ID: testClient, Secret: testSecret, RedirectURIs: []string{h.redirect}}}})
	rp2, err := New(Config{Issuer: idp2.Issuer(), ClientID: testClient, ClientSecret: testSecret, RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := rp2.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	o := h.browse(t, lg.URL, bob)
	mine, err := h.rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.rp.Finish(t.Context(), mine.Cookie.Value, mine.State, o.query.Get("code")); !errors.Is(err, ErrCodeRejected) {
		t.Fatalf("Finish with another issuer's code: %v, want ErrCodeRejected", err)
	}
}

// alterPayload replaces old with new in the JWT's payload, keeping the
// original signature.
func alterPayload(t *testing.T, raw, old, new string) string {
	t.Helper()
	parts := strings.Split(raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), old) {
		t.Fatalf("payload %s lacks %s", payload, old)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), old, new, 1)))
	return strings.Join(parts, ".")
}
