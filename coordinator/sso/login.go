package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
	// Cookie carries the login, sealed, to the callback: set it on the
	// response that sends the browser to URL. It holds secrets; never log
	// its value.
	Cookie *http.Cookie
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

// Begin starts a login carrying payload (at most MaxPayload bytes): it
// makes the state, nonce and PKCE verifier, seals them into Login.Cookie,
// and returns the IdP URL to send the browser to. It stores nothing. It
// fails with ErrProvider when the IdP's discovery document cannot be
// fetched.
func (rp *RP) Begin(ctx context.Context, payload string) (Login, error) {
	return rp.begin(ctx, payload, 0)
}

// StepUpACR is the acr_values a step-up login asks for when the Config
// sets no MinACR: the OpenID PAPE policy for multi-factor authentication.
const StepUpACR = "http://schemas.openid.net/pape/policies/2007/06/multi-factor"

// BeginStepUp is Begin for a step-up (RFC 9470): it asks the IdP to
// authenticate the person again unless they did within maxAge (max_age),
// with a second factor (acr_values: Config.MinACR, else StepUpACR). The
// caller still checks the result's Identity.AuthTime and MFA: an IdP may
// ignore both.
func (rp *RP) BeginStepUp(ctx context.Context, payload string, maxAge time.Duration) (Login, error) {
	return rp.begin(ctx, payload, maxAge)
}

func (rp *RP) begin(ctx context.Context, payload string, maxAge time.Duration) (Login, error) {
	if len(payload) > MaxPayload {
		return Login{}, fmt.Errorf("begin login: %w: %d bytes, at most %d", ErrPayloadTooLong, len(payload), MaxPayload)
	}
	d, err := rp.discover(ctx)
	if err != nil {
		return Login{}, err
	}
	now := rp.now()
	p := Pending{State: rand.Text(), Verifier: oauth2.GenerateVerifier(), Nonce: rand.Text(), Payload: payload,
		Expires: now.Add(rp.cfg.PendingTTL).UTC().Round(0)}
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	switch {
	case rp.cfg.MinACR != "":
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", rp.cfg.MinACR))
	case maxAge > 0:
		opts = append(opts, oauth2.SetAuthURLParam("acr_values", StepUpACR))
	}
	if maxAge > 0 {
		opts = append(opts, oauth2.SetAuthURLParam("max_age", strconv.Itoa(int(maxAge/time.Second))))
	}
	return Login{URL: d.oauth.AuthCodeURL(p.State, opts...), State: p.State, Expires: p.Expires, Cookie: rp.cookie(p, now)}, nil
}

// Finish completes the login whose cookie value is sealed and whose state
// the IdP sent to the callback, with the code it sent along. The state is
// used up by the first call, whatever its outcome, so a replayed state
// fails with ErrBadState; a replayed or foreign code fails with
// ErrCodeRejected. On success it returns the verified Identity; otherwise
// an error wrapping one of the package's sentinels, and the payload if the
// cookie was recognized.
func (rp *RP) Finish(ctx context.Context, sealed, state, code string) (Result, error) {
	p, err := rp.take(sealed, state)
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
// and error_description, from r's query, and the login's cookie from r; it
// deletes that cookie through w (so call it before writing the response).
// Errors are those of Finish, plus ErrProvider when the IdP reports an
// error (the state is used up then too).
func (rp *RP) FinishRequest(w http.ResponseWriter, r *http.Request) (Result, error) {
	q := r.URL.Query()
	state, sealed := q.Get("state"), ""
	if validState(state) {
		name := rp.cookieName(state)
		if c, err := r.Cookie(name); err == nil {
			sealed = c.Value
		}
		http.SetCookie(w, rp.clearCookie(name))
	}
	e := q.Get("error")
	if e == "" {
		return rp.Finish(r.Context(), sealed, state, q.Get("code"))
	}
	p, err := rp.take(sealed, state)
	if err != nil {
		return Result{}, err
	}
	if e == "invalid_scope" {
		return Result{Payload: p.Payload}, fmt.Errorf("%w: it refused the scopes %s: %q; give the ones it supports with --oidc-scopes",
			ErrProvider, strings.Join(rp.scopes(), ","), clip(q.Get("error_description")))
	}
	return Result{Payload: p.Payload}, fmt.Errorf("%w: %q: %q", ErrProvider, clip(e), clip(q.Get("error_description")))
}

// take opens the login cookie sealed for state, checks that it has not
// expired and uses the state up.
func (rp *RP) take(sealed, state string) (Pending, error) {
	if state == "" {
		return Pending{}, fmt.Errorf("%w: the callback carries no state", ErrBadState)
	}
	if sealed == "" {
		return Pending{}, fmt.Errorf("%w: no login in progress in this browser: it was not opened in this browser, or it was used or expired", ErrBadState)
	}
	p, err := rp.sealer.open(sealed)
	if err != nil {
		return Pending{}, err
	}
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) != 1 {
		return Pending{}, fmt.Errorf("%w: the login cookie is for another state", ErrBadState)
	}
	if rp.now().After(p.Expires) {
		return Pending{}, fmt.Errorf("%w: login expired at %s", ErrBadState, p.Expires.Format(time.RFC3339))
	}
	if !rp.used.Add(p.State) {
		return Pending{}, fmt.Errorf("%w: already used", ErrBadState)
	}
	return p, nil
}

func clip(s string) string {
	if len(s) > maxProviderText {
		return s[:maxProviderText] + "…"
	}
	return s
}
