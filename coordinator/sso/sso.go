// Package sso is the coordinator's OpenID Connect relying party: it sends a
// person to the company's identity provider and turns the answer into a
// verified Identity.
//
// A login is the authorization code flow with PKCE (S256). Begin makes the
// state, nonce and code verifier, seals them with the caller's payload (for
// example the id of a node's login request) into a short-lived, encrypted
// and authenticated cookie for the browser, and returns the IdP URL: the
// coordinator keeps nothing per login, so no number of started logins can
// crowd out another. Finish reads the cookie back at the callback (once
// only: it clears it, and remembers the last states used), redeems the
// code with the verifier, verifies the ID token (issuer, audience, expiry,
// signature through the IdP's JWKS, nonce), then applies the coordinator's
// rules: allowed email domains, verified email, and a second factor where
// MFA is required. Every refusal wraps one of the sentinel errors below.
//
// With Config.Refresh, a login also yields a refresh token, and Refresh
// redeems it later to learn whether the IdP still vouches for the person
// (and their current groups); ErrRefreshRefused means it does not.
package sso

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/wardnet/ward/coordinator/replay"
)

// Errors, each wrapped with the detail of the refusal.
var (
	// ErrInvalidConfig means the Config is incomplete or inconsistent.
	ErrInvalidConfig = errors.New("invalid SSO config")
	// ErrBadState means the callback's state is unknown, already used or
	// expired, or its login cookie is missing (the login was started in
	// another browser): the login must start again.
	ErrBadState = errors.New("unknown, used or expired login state")
	// ErrPayloadTooLong means Begin was given more than MaxPayload bytes.
	ErrPayloadTooLong = errors.New("login payload too long")
	// ErrProvider means the IdP could not be reached, or answered the
	// callback with an error (for example access_denied).
	ErrProvider = errors.New("identity provider error")
	// ErrCodeRejected means the IdP refused to redeem the code: it was
	// used before, issued to another client, or its PKCE verifier does not
	// match.
	ErrCodeRejected = errors.New("authorization code rejected by the identity provider")
	// ErrClientRejected means the IdP's token endpoint refused the
	// coordinator itself (invalid_client, or 401): its client id or secret
	// is wrong, or the client is not registered there. No person is at
	// fault and no refresh counts as refused for it.
	ErrClientRejected = errors.New("the identity provider refused the client credentials: check --oidc-client-id and the secret in --oidc-client-secret-file or --oidc-client-secret-env")
	// ErrTokenInvalid means the ID token failed verification: signature,
	// issuer, audience, expiry, nonce or a malformed claim.
	ErrTokenInvalid = errors.New("invalid ID token")
	// ErrDomainNotAllowed means the email's domain is not allowed.
	ErrDomainNotAllowed = errors.New("email domain not allowed")
	// ErrEmailUnverified means the IdP says the email is not verified.
	ErrEmailUnverified = errors.New("email address not verified by the identity provider")
	// ErrMFARequired means a second factor is required and the login did
	// not show one.
	ErrMFARequired = errors.New("multi-factor authentication (MFA) is required")
	// ErrRefreshRefused means the IdP refused a refresh token (see refused):
	// the person's session there ended, was revoked, or their account was
	// locked. Their access should end.
	ErrRefreshRefused = errors.New("refresh refused by the identity provider")
)

// RP is a relying party for one IdP and client. Its methods are safe for
// concurrent use. It starts no goroutine.
type RP struct {
	cfg *settings
	now func() time.Time
	// sealer seals pending logins into their cookies.
	sealer *sealer
	// secure says the callback is https, so cookies are Secure.
	secure bool
	// used holds the states of the last logins finished, so a replayed
	// callback is refused even with a copy of its cookie.
	used *replay.Window[string]

	mu sync.Mutex
	// mu guards the following.
	disc *discovered // nil until the IdP's discovery document is fetched
}

// discovered is what the IdP's discovery document yields.
type discovered struct {
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New validates cfg and reads the client secret. It does not contact the
// IdP: discovery happens at the first Begin or Finish, so the IdP may be
// served by the same process and start later.
func New(cfg Config) (*RP, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	sl, err := newSealer(cfg.CookieKey, s.ClientID, s.RedirectURL)
	if err != nil {
		return nil, err
	}
	return &RP{cfg: s, now: time.Now, sealer: sl, secure: strings.HasPrefix(s.RedirectURL, "https:"),
		used: replay.New[string](maxUsedStates)}, nil
}

// maxUsedStates bounds the used states remembered. A login cookie lives
// PendingTTL (10 min), so a replay is refused unless this many logins
// finished in between; past that the IdP still refuses the used code.
const maxUsedStates = 1 << 14

// ctx returns ctx carrying the RP's HTTP client for oidc and oauth2.
func (rp *RP) ctx(ctx context.Context) context.Context {
	return oidc.ClientContext(ctx, rp.cfg.HTTPClient)
}

// scopes returns the scopes logins ask for; the configured ones before
// discovery.
func (rp *RP) scopes() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.disc == nil {
		return rp.cfg.Scopes
	}
	return rp.disc.oauth.Scopes
}

// discover fetches the IdP's discovery document once; a failure is not
// cached, so the next call tries again.
func (rp *RP) discover(ctx context.Context) (*discovered, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.disc != nil {
		return rp.disc, nil
	}
	p, err := oidc.NewProvider(rp.ctx(ctx), rp.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discover %s: %w%s", ErrProvider, rp.cfg.Issuer, err, tlsHint(err))
	}
	rp.disc = &discovered{
		provider: p,
		oauth: oauth2.Config{
			ClientID:     rp.cfg.ClientID,
			ClientSecret: string(*rp.cfg.secret),
			Endpoint:     p.Endpoint(),
			RedirectURL:  rp.cfg.RedirectURL,
			Scopes:       rp.cfg.scopesFor(p),
		},
		verifier: p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: func() time.Time { return rp.now() }}),
	}
	return rp.disc, nil
}
