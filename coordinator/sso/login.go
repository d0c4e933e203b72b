package sso

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// maxProviderText bounds how much of an IdP's error text is quoted.
const maxProviderText = 200

// Login is a started login.
type Login struct {
	// URL is the IdP page to send the person's browser to.
	URL string
	// State identifies the login; the IdP sends it back to the callback.
	State string
	// Expires is when the login stops being accepted.
	Expires time.Time
}

// Result is a finished login.
type Result struct {
	// Identity is who logged in; zero when Finish fails.
	Identity Identity
	// Payload is the value given to Begin. Finish sets it whenever the state
	// was recognized, even on failure, so the caller can fail the request
	// that waits on this login.
	Payload string
	// RefreshToken lets the caller ask the IdP again about Identity later
	// (see RP.Refresh); empty unless Config.Refresh is set and the IdP
	// issued one. It never prints.
	RefreshToken Secret
}

// Begin starts a login carrying payload: it stores a pending login
// (state, nonce, PKCE verifier) and returns the IdP URL to send the browser
// to. It fails with ErrProvider when the IdP's discovery document cannot be
// fetched and with ErrTooManyPending when the store is full.
func (rp *RP) Begin(ctx context.Context, payload string) (Login, error) {
	d, err := rp.discover(ctx)
	if err != nil {
		return Login{}, err
	}
	p := Pending{
		State:    rand.Text(),
		Verifier: oauth2.GenerateVerifier(),
		Nonce:    rand.Text(),
		Payload:  payload,
		Expires:  rp.now().Add(rp.cfg.PendingTTL),
	}
	if err := rp.cfg.Store.Put(ctx, p, rp.now()); err != nil {
		return Login{}, fmt.Errorf("begin login: %w", err)
	}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	if rp.cfg.MinACR != "" {
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", rp.cfg.MinACR))
	}
	return Login{URL: d.oauth.AuthCodeURL(p.State, opts...), State: p.State, Expires: p.Expires}, nil
}

// Finish completes the login identified by state with the code the IdP
// sent to the callback. The state is used up by the first call, whatever
// its outcome, so a replayed state fails with ErrBadState; a replayed or
// foreign code fails with ErrCodeRejected. On success it returns the
// verified Identity; otherwise an error wrapping one of the package's
// sentinels, and the payload if the state was recognized.
func (rp *RP) Finish(ctx context.Context, state, code string) (Result, error) {
	p, err := rp.take(ctx, state)
	if err != nil {
		return Result{}, err
	}
	res := Result{Payload: p.Payload}
	if code == "" {
		return res, fmt.Errorf("%w: the callback carries no code", ErrCodeRejected)
	}
	id, refresh, err := rp.redeem(ctx, p, code)
	if err != nil {
		return res, err
	}
	res.Identity, res.RefreshToken = id, refresh
	return res, nil
}

// FinishRequest finishes the login that the IdP's redirect r (a request to
// the callback URL) answers: it reads state and code, or the IdP's error
// and error_description, from r's query. Errors are those of Finish, plus
// ErrProvider when the IdP reports an error (the state is used up then
// too).
func (rp *RP) FinishRequest(r *http.Request) (Result, error) {
	q := r.URL.Query()
	e := q.Get("error")
	if e == "" {
		return rp.Finish(r.Context(), q.Get("state"), q.Get("code"))
	}
	p, err := rp.take(r.Context(), q.Get("state"))
	if err != nil {
		return Result{}, err
	}
	return Result{Payload: p.Payload}, fmt.Errorf("%w: %q: %q", ErrProvider, clip(e), clip(q.Get("error_description")))
}

// take removes the pending login for state and checks it has not expired.
func (rp *RP) take(ctx context.Context, state string) (Pending, error) {
	if state == "" {
		return Pending{}, fmt.Errorf("%w: the callback carries no state", ErrBadState)
	}
	p, err := rp.cfg.Store.Take(ctx, state)
	if err != nil {
		return Pending{}, fmt.Errorf("take login state: %w", err)
	}
	if rp.now().After(p.Expires) {
		return Pending{}, fmt.Errorf("%w: login expired at %s", ErrBadState, p.Expires.Format(time.RFC3339))
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > maxProviderText {
		return s[:maxProviderText] + "…"
	}
	return s
}
