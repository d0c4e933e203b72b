package sso

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/devidp/devidptest"
)

func testUsers() []devidp.User {
	f := false
	return append(devidp.DefaultUsers(),
		devidp.User{Username: "dave", Password: "dave", Email: "Dave@Example.org", Groups: []string{"plc"}},
		devidp.User{Username: "erin", Password: "erin", Email: "erin@example.com", EmailVerified: &f},
	)
}

// TestLogin runs the whole flow: Begin, the IdP's HTML form in a browser
// with a cookie jar, the redirect to the coordinator's callback, and
// FinishRequest there.
func TestLogin(t *testing.T) {
	h := newHarness(t, devidp.Config{Users: testUsers()}, nil)
	tests := []struct {
		name  string
		creds devidptest.Credentials
		want  Identity
	}{
		{"mfa user", alice, Identity{Subject: "alice", Email: "alice@example.com", Name: "Alice Example", Groups: []string{"ops"}, AMR: []string{"pwd", "otp"}, MFA: true}},
		{"no groups", bob, Identity{Subject: "bob", Email: "bob@example.com", Name: "Bob Example", AMR: []string{"pwd"}}},
		{"two groups", carol, Identity{Subject: "carol", Email: "carol@example.com", Name: "Carol Example", Groups: []string{"admins", "ops"}, AMR: []string{"pwd"}}},
		{"email lower-cased", devidptest.Credentials{Username: "dave", Password: "dave"}, Identity{Subject: "dave", Email: "dave@example.org", Name: "dave", Groups: []string{"plc"}, AMR: []string{"pwd"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			o := h.login(t, "req-"+tt.name, tt.creds)
			if o.err != nil {
				t.Fatalf("FinishRequest: %v", o.err)
			}
			tt.want.Issuer = h.idp.Issuer()
			if diff := cmp.Diff(tt.want, o.res.Identity, cmpopts.IgnoreFields(Identity{}, "Expiry", "AuthTime")); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if at := o.res.Identity.AuthTime; at.Before(start.Truncate(time.Second)) || at.After(time.Now()) {
				t.Errorf("auth time %v is not the login's (started %v)", at, start)
			}
			if !o.res.Identity.Expiry.After(start) {
				t.Errorf("expiry %v is not in the future", o.res.Identity.Expiry)
			}
			if o.res.Payload != "req-"+tt.name {
				t.Errorf("payload = %q", o.res.Payload)
			}
		})
	}
}

// TestLoginRefusals covers the rules applied after a valid token: MFA,
// email domains, unverified email. Each refusal still returns the payload.
func TestLoginRefusals(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(*Config)
		creds   devidptest.Credentials
		want    error
		wantMsg string
	}{
		{"mfa required, password only", func(c *Config) { c.RequireMFA = true }, bob, ErrMFARequired, "multi-factor authentication (MFA) is required: this coordinator requires it"},
		{"mfa for group ops", func(c *Config) { c.MFAGroups = []string{"ops"} }, carol, ErrMFARequired, `group "ops" requires it`},
		{"mfa method not accepted", func(c *Config) { c.RequireMFA, c.MFAMethods = true, []string{"hwk"} }, alice, ErrMFARequired, `amr ["pwd" "otp"]`},
		{"acr too low", func(c *Config) { c.RequireMFA, c.MFAMethods, c.MinACR = true, []string{"hwk"}, "2" }, alice, ErrMFARequired, `acr ""`},
		{"domain not allowed", func(c *Config) { c.AllowedDomains = []string{"example.org"} }, bob, ErrDomainNotAllowed, `"example.com" is not in example.org`},
		{"email unverified", nil, devidptest.Credentials{Username: "erin", Password: "erin"}, ErrEmailUnverified, "erin@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, devidp.Config{Users: testUsers()}, tt.mod)
			o := h.login(t, "req-1", tt.creds)
			if !errors.Is(o.err, tt.want) || !strings.Contains(o.err.Error(), tt.wantMsg) {
				t.Fatalf("err = %v, want %v saying %q", o.err, tt.want, tt.wantMsg)
			}
			if o.res.Payload != "req-1" || o.res.Identity.Subject != "" {
				t.Errorf("result = %+v, want only the payload", o.res)
			}
		})
	}
}

func TestLoginAccepted(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		creds devidptest.Credentials
	}{
		{"mfa required, otp given", func(c *Config) { c.RequireMFA = true }, alice},
		{"mfa for ops, user not in ops", func(c *Config) { c.MFAGroups = []string{"ops"} }, bob},
		{"domain allowed, any case", func(c *Config) { c.AllowedDomains = []string{"EXAMPLE.com", "example.org"} }, bob},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, devidp.Config{}, tt.mod)
			if o := h.login(t, "", tt.creds); o.err != nil {
				t.Fatalf("refused: %v", o.err)
			}
		})
	}
}

func TestBadState(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	lg, err := h.rp.Begin(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.rp.Begin(t.Context(), "q")
	if err != nil {
		t.Fatal(err)
	}
	o := h.browse(t, lg.URL, bob) // a code for lg's state, not redeemed
	code := o.query.Get("code")
	restarted, err := New(Config{Issuer: h.idp.Issuer(), ClientID: testClient, ClientSecret: testSecret, RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(lg.Cookie.Value)
	tampered[len(tampered)/2] ^= 'A' ^ 'B'
	tests := []struct{ name, sealed, state string }{
		{"no state", lg.Cookie.Value, ""},
		{"unknown state", lg.Cookie.Value, "not-a-state"},
		{"no cookie", "", lg.State},
		{"another login's cookie", other.Cookie.Value, lg.State},
		{"cookie tampered with", string(tampered), lg.State},
		{"cookie of a restarted coordinator", restarted.sealer.seal(Pending{State: lg.State, Expires: lg.Expires}), lg.State},
		{"cookie not base64", "!!", lg.State},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if res, err := h.rp.Finish(t.Context(), tt.sealed, tt.state, code); !errors.Is(err, ErrBadState) || res.Payload != "" {
				t.Errorf("Finish: %+v, %v; want ErrBadState and nothing else", res, err)
			}
		})
	}
	if _, err := h.rp.Finish(t.Context(), lg.Cookie.Value, lg.State, code); err != nil {
		t.Fatalf("the login itself after those attempts: %v", err)
	}
}

// TestReplayedStateAndCode replays a finished login's callback: from the
// same browser (its cookie is gone), with a copy of the cookie (the state
// is used), and the code under a new state (the IdP refuses it).
func TestReplayedStateAndCode(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	lg, err := h.rp.Begin(t.Context(), "first")
	if err != nil {
		t.Fatal(err)
	}
	b := h.browserWith(t, lg)
	o := h.browseLogin(t, b, lg.URL, bob)
	if o.err != nil {
		t.Fatal(o.err)
	}
	state, code := o.query.Get("state"), o.query.Get("code")

	if _, err := b.Open(t.Context(), h.redirect+"?"+o.query.Encode()); err != nil {
		t.Fatal(err)
	}
	if again := <-h.outcomes; !errors.Is(again.err, ErrBadState) || again.sealed != "" || again.res.Payload != "" {
		t.Errorf("callback replayed in the browser: cookie %q, %+v, %v; want no cookie and ErrBadState", again.sealed, again.res, again.err)
	}

	res, err := h.rp.Finish(t.Context(), o.sealed, state, code)
	if !errors.Is(err, ErrBadState) || res.Payload != "" {
		t.Errorf("replayed state with its cookie: %+v, %v; want ErrBadState and nothing else", res, err)
	}

	lg, err = h.rp.Begin(t.Context(), "second")
	if err != nil {
		t.Fatal(err)
	}
	res, err = h.rp.Finish(t.Context(), lg.Cookie.Value, lg.State, code)
	if !errors.Is(err, ErrCodeRejected) || !strings.Contains(err.Error(), "invalid_grant") || res.Payload != "second" {
		t.Errorf("replayed code: %+v, %v; want ErrCodeRejected (invalid_grant) with the payload", res, err)
	}
}

// TestCodeOfAnotherClient feeds the RP a code the IdP issued to another
// client (an attacker's own registration at the same IdP).
func TestCodeOfAnotherClient(t *testing.T) {
	h := newHarness(t, devidp.Config{Clients: []devidp.Client{{ID: "other", Secret: "other-secret"}}}, nil)
	other, err := New(Config{Issuer: h.idp.Issuer(), ClientID: "other", ClientSecret: "other-secret", RedirectURL: h.redirect})
	if err != nil {
		t.Fatal(err)
	}
	lg, err := other.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	o := h.browseLogin(t, h.browserWith(t, lg), lg.URL, bob) // the browser holds other's cookie
	if !errors.Is(o.err, ErrBadState) || o.sealed == "" {
		t.Fatalf("ward's callback with other's state and cookie: %v, want ErrBadState", o.err)
	}
	mine, err := h.rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.rp.Finish(t.Context(), mine.Cookie.Value, mine.State, o.query.Get("code")); !errors.Is(err, ErrCodeRejected) {
		t.Fatalf("Finish with other's code: %v, want ErrCodeRejected", err)
	}
}

func TestProviderError(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	lg, err := h.rp.Begin(t.Context(), "req-9")
	if err != nil {
		t.Fatal(err)
	}
	page, err := h.browserWith(t, lg).Open(t.Context(), h.redirect+"?state="+lg.State+"&error=access_denied&error_description=user+cancelled")
	if err != nil {
		t.Fatal(err)
	}
	var o outcome
	select {
	case o = <-h.outcomes:
	default:
		t.Fatal("the callback was not called")
	}
	if !errors.Is(o.err, ErrProvider) || !strings.Contains(o.err.Error(), `"access_denied": "user cancelled"`) || o.res.Payload != "req-9" {
		t.Fatalf("outcome %+v (page %d), want ErrProvider with access_denied and the payload", o, page.Status)
	}
	if _, err := h.rp.Finish(t.Context(), lg.Cookie.Value, lg.State, "x"); !errors.Is(err, ErrBadState) {
		t.Errorf("state after IdP error: %v, want ErrBadState (used up)", err)
	}
}

func TestExpiredState(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	lg, err := h.rp.Begin(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.advance(DefaultPendingTTL + time.Second)
	if _, err := h.rp.Finish(t.Context(), lg.Cookie.Value, lg.State, "code"); !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("Finish after the TTL: %v, want ErrBadState (expired)", err)
	}
}

// TestLoginsInProgressHoldNothing starts many more logins than the old
// server-side store held (10,000): Begin stores nothing, so none is
// refused and the first still finishes.
func TestLoginsInProgressHoldNothing(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	first, err := h.rp.Begin(t.Context(), "first")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20000 {
		if _, err := h.rp.Begin(t.Context(), ""); err != nil {
			t.Fatalf("Begin %d: %v", i, err)
		}
	}
	if o := h.browseLogin(t, h.browserWith(t, first), first.URL, bob); o.err != nil || o.res.Payload != "first" {
		t.Fatalf("the first login: %+v, %v", o.res, o.err)
	}
}

func TestPayloadTooLong(t *testing.T) {
	h := newHarness(t, devidp.Config{}, nil)
	if _, err := h.rp.Begin(t.Context(), strings.Repeat("x", MaxPayload+1)); !errors.Is(err, ErrPayloadTooLong) {
		t.Fatalf("Begin: %v, want ErrPayloadTooLong", err)
	}
	lg, err := h.rp.Begin(t.Context(), strings.Repeat("x", MaxPayload))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := h.rp.sealer.open(lg.Cookie.Value); err != nil || len(p.Payload) != MaxPayload {
		t.Fatalf("a payload of MaxPayload bytes: %v", err)
	}
}

func TestBeginSendsPKCEAndNonce(t *testing.T) {
	h := newHarness(t, devidp.Config{}, func(c *Config) { c.MinACR = "2" })
	lg, err := h.rp.Begin(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"code_challenge_method=S256", "code_challenge=", "nonce=", "state=" + lg.State, "acr_values=2", "client_id=ward", "scope=openid+email+profile+groups"} {
		if !strings.Contains(lg.URL, want) {
			t.Errorf("auth URL %s lacks %s", lg.URL, want)
		}
	}
	if strings.Contains(lg.URL, testSecret) {
		t.Error("auth URL carries the client secret")
	}
	c := lg.Cookie
	if c.Name != "ward_login_"+lg.State || c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure ||
		c.MaxAge != int(DefaultPendingTTL.Seconds()) {
		t.Errorf("login cookie %+v: want ward_login_STATE, path /, HttpOnly, SameSite=Lax, not Secure on http, 600 s", c)
	}
	p, err := h.rp.sealer.open(c.Value)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.Value, p.Verifier) || strings.Contains(c.Value, p.Nonce) || strings.Contains(lg.URL, p.Verifier) {
		t.Error("the PKCE verifier or nonce shows in the clear")
	}
}

// TestUnverifiedEmailRefused: the email names the person in the policy, so
// a login whose ID token does not say email_verified: true is refused; an
// IdP that never sends the claim needs the explicit TrustUnverifiedEmail,
// and an explicit false is refused even then.
func TestUnverifiedEmailRefused(t *testing.T) {
	users := append(testUsers(), devidp.User{Username: "frank", Password: "frank", Email: "frank@example.com", OmitEmailVerified: true})
	frank := devidptest.Credentials{Username: "frank", Password: "frank"}
	erin := devidptest.Credentials{Username: "erin", Password: "erin"}
	trust := func(c *Config) { c.TrustUnverifiedEmail = true }
	tests := []struct {
		name    string
		mod     func(*Config)
		creds   devidptest.Credentials
		refused bool
	}{
		{"claim absent", nil, frank, true},
		{"claim false", nil, erin, true},
		{"claim true", nil, bob, false},
		{"claim absent, trusted", trust, frank, false},
		{"claim false, trusted", trust, erin, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, devidp.Config{Users: users}, tt.mod)
			o := h.login(t, "req", tt.creds)
			switch {
			case tt.refused && !errors.Is(o.err, ErrEmailUnverified):
				t.Fatalf("login: %v, want ErrEmailUnverified", o.err)
			case tt.refused && o.res.Identity.Subject != "":
				t.Fatalf("a refused login returned an identity: %+v", o.res.Identity)
			case !tt.refused && o.err != nil:
				t.Fatalf("login refused: %v", o.err)
			}
		})
	}
}
