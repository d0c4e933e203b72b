package coordinator

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// ssoAuth adapts the OIDC relying party to Authenticator and Refresher.
type ssoAuth struct {
	rp *sso.RP
	// tokens are the latest refresh tokens, never nil.
	tokens *refreshTokens
}

var _ Refresher = ssoAuth{}

func newSSOAuth(rp *sso.RP, tokens *refreshTokens) ssoAuth { return ssoAuth{rp: rp, tokens: tokens} }

// AuthURL starts an OIDC login: its state goes to the browser in a cookie.
func (a ssoAuth) AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error) {
	return beginLogin(a.rp, w, r, payload)
}

// beginLogin starts a login on rp and sets its cookie on w.
func beginLogin(rp *sso.RP, w http.ResponseWriter, r *http.Request, payload string) (string, error) {
	l, err := rp.Begin(r.Context(), payload)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, l.Cookie)
	return l.URL, nil
}

// Complete finishes an OIDC login and keeps its refresh token, if any. The
// key's lifetime is the coordinator's session length, not the ID token's
// (often an hour), so no end is given.
func (a ssoAuth) Complete(w http.ResponseWriter, r *http.Request) (store.Identity, time.Time, string, error) {
	res, err := a.rp.FinishRequest(w, r)
	id := storeIdentity(res.Identity)
	if err == nil && res.RefreshToken != "" {
		err = a.tokens.put(r.Context(), id, res.RefreshToken)
	}
	return id, time.Time{}, res.Payload, err
}

// Refresh redeems the refresh token kept for id.
func (a ssoAuth) Refresh(ctx context.Context, id store.Identity) (store.Identity, error) {
	tok, sealed, err := a.tokens.get(ctx, id)
	if err != nil {
		return store.Identity{}, err
	}
	got, next, err := a.rp.Refresh(ctx, tok)
	var swapErr error
	switch {
	case errors.Is(err, sso.ErrRefreshRefused):
		swapErr = a.tokens.swap(ctx, id, sealed, "")
	case next != "":
		swapErr = a.tokens.swap(ctx, id, sealed, next)
	}
	if err = errors.Join(err, swapErr); err != nil {
		return store.Identity{}, err
	}
	return storeIdentity(got), nil
}

func storeIdentity(id sso.Identity) store.Identity {
	return store.Identity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, DisplayName: id.Name, Groups: id.Groups,
		AuthTime: id.AuthTime, MFA: id.MFA}
}

// AdminLogin is the admins' SSO login to the UI: an OIDC relying party
// whose redirect is the UI's callback (PathUICallback). Its logins pass the
// coordinator's user rules (admitUser), like a node's. Package web's Login
// interface is what it implements.
type AdminLogin struct {
	rp *sso.RP
	s  *logins
}

// AdminLogin returns the admins' SSO login, and false when the
// coordinator has no identity provider (then only API keys work).
func (s *Server) AdminLogin() (*AdminLogin, bool) {
	return s.logins.adminLogin, s.logins.adminLogin != nil
}

// AuthURL starts an admin's OIDC login: its state goes to the browser in a
// cookie.
func (l *AdminLogin) AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error) {
	return beginLogin(l.rp, w, r, payload)
}

// StepUpURL starts an admin's step-up login: the IdP must have
// authenticated them within maxAge, with a second factor (RFC 9470).
func (l *AdminLogin) StepUpURL(w http.ResponseWriter, r *http.Request, payload string, maxAge time.Duration) (string, error) {
	lg, err := l.rp.BeginStepUp(r.Context(), payload, maxAge)
	if err != nil {
		return "", err
	}
	http.SetCookie(w, lg.Cookie)
	return lg.URL, nil
}

// Complete finishes an admin's OIDC login and records the user, refusing
// a disabled one and a subject whose email is bound to another.
func (l *AdminLogin) Complete(w http.ResponseWriter, r *http.Request) (admin.Identity, string, error) {
	res, err := l.rp.FinishRequest(w, r)
	if err != nil {
		return admin.Identity{}, res.Payload, err
	}
	u, err := l.s.admitUser(r.Context(), storeIdentity(res.Identity), remoteIP(r))
	if err != nil {
		return admin.Identity{}, res.Payload, err
	}
	if err := l.s.refreshUsers(r.Context()); err != nil { // the policy follows the groups just recorded
		return admin.Identity{}, res.Payload, err
	}
	return admin.Identity{User: strconv.FormatInt(int64(u.ID), 10), Email: u.Email, Groups: u.Groups,
		PolicyGroups: l.s.nm.policyGroupsOf(u.Email), Until: res.Identity.Expiry,
		Auth: admin.Auth{Time: res.Identity.AuthTime, MFA: res.Identity.MFA}}, res.Payload, nil
}

// PathUICallback is the admin UI's OIDC redirect path: an admin's login
// (AdminLogin) comes back from the IdP there, to the UI mounted with
// Handle, which completes it. An IdP must accept it as a redirect URI.
const PathUICallback = "/ui/callback"

// setupSSO builds the Authenticator and the admins' login from cfg.OIDC,
// unless cfg.Auth is given (then admins log in with API keys only).
func (s *logins) setupSSO() error {
	if s.cfg.Auth != nil || s.cfg.OIDC == nil {
		return nil
	}
	key, err := tokenKey(s.cfg)
	if err != nil {
		return err
	}
	oidc := *s.cfg.OIDC
	if s.cfg.DB != "" && oidc.CookieKey == nil {
		// Coordinators on one database finish each other's logins: the
		// browser's callback may reach another than the one it began on.
		if oidc.CookieKey, err = derivedKey(key, loginCookieInfo, 32); err != nil {
			return err
		}
	}
	rp, err := sso.New(oidc)
	if err != nil {
		return err
	}
	ui := oidc
	ui.Refresh = false
	ui.RedirectURL = strings.TrimSuffix(ui.RedirectURL, wire.PathOIDCCallback) + PathUICallback
	if base := s.cfg.AdminBaseURL(); base != "" {
		// The UI is served on the admin listener: its login comes back there.
		ui.RedirectURL = base + PathUICallback
	}
	uiRP, err := sso.New(ui)
	if err != nil {
		return err
	}
	tokens, err := newRefreshTokens(s.st, key)
	if err != nil {
		return err
	}
	s.cfg.Auth, s.adminLogin = newSSOAuth(rp, tokens), &AdminLogin{uiRP, s}
	return nil
}
