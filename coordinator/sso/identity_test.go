package sso

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
)

// signedIDToken signs claims as an ID token of https://idp.example for the
// client "ward" and verifies it as the RP would, so identity reads a real
// token whose claims the test chose (the dev IdP always sends auth_time).
func signedIDToken(t *testing.T, claims map[string]any) *oidc.IDToken {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	v := oidc.NewVerifier("https://idp.example", &oidc.StaticKeySet{PublicKeys: []crypto.PublicKey{&key.PublicKey}},
		&oidc.Config{ClientID: "ward", SupportedSigningAlgs: []string{oidc.ES256}})
	idt, err := v.Verify(t.Context(), raw)
	if err != nil {
		t.Fatal(err)
	}
	return idt
}

// TestLoginWithoutAuthTimeIsNeverRecent: an IdP that sends no auth_time
// says nothing about when the person last authenticated (its session can
// mint fresh tokens for days), so the token's issue time must not stand in
// for it: step-up (admin actions, mfaWithin devices) would otherwise pass
// on any freshly issued token. With auth_time, it is read as sent.
func TestLoginWithoutAuthTimeIsNeverRecent(t *testing.T) {
	rp := newOfflineRP(t, "http://127.0.0.1/cb")
	now := time.Now().Truncate(time.Second)
	base := func() map[string]any {
		return map[string]any{"iss": "https://idp.example", "sub": "alice", "aud": "ward",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"email": "alice@example.com", "email_verified": true, "amr": []string{"pwd", "otp"}}
	}

	id, err := rp.identity(signedIDToken(t, base()), true)
	if err != nil {
		t.Fatal(err)
	}
	if !id.AuthTime.IsZero() {
		t.Errorf("no auth_time: AuthTime = %v, want zero (unknown), not the issue time", id.AuthTime)
	}

	withAuth := base()
	authAt := now.Add(-3 * 24 * time.Hour)
	withAuth["auth_time"] = authAt.Unix()
	if id, err = rp.identity(signedIDToken(t, withAuth), true); err != nil {
		t.Fatal(err)
	}
	if !id.AuthTime.Equal(authAt) {
		t.Errorf("auth_time %v read as %v", authAt, id.AuthTime)
	}
}
