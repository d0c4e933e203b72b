package coordinator

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// ssoAuth adapts the OIDC relying party to Authenticator and Refresher.
type ssoAuth struct {
	rp *sso.RP
	// tokens are the latest refresh tokens, never nil.
	tokens *refreshTokens
}

var _ Refresher = ssoAuth{}

func newSSOAuth(rp *sso.RP) ssoAuth { return ssoAuth{rp: rp, tokens: newRefreshTokens()} }

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
		a.tokens.put(id, res.RefreshToken)
	}
	return id, time.Time{}, res.Payload, err
}

// Refresh redeems the refresh token kept for id.
func (a ssoAuth) Refresh(ctx context.Context, id store.Identity) (store.Identity, error) {
	tok, ok := a.tokens.get(id)
	if !ok {
		return store.Identity{}, errNoRefreshToken
	}
	got, next, err := a.rp.Refresh(ctx, tok)
	switch {
	case errors.Is(err, sso.ErrRefreshRefused):
		a.tokens.swap(id, tok, "")
	case next != "":
		a.tokens.swap(id, tok, next)
	}
	if err != nil {
		return store.Identity{}, err
	}
	return storeIdentity(got), nil
}

func storeIdentity(id sso.Identity) store.Identity {
	return store.Identity{Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, DisplayName: id.Name, Groups: id.Groups}
}

// webLogin adapts an OIDC relying party whose redirect is the admin UI's
// callback to web.Login. Its logins pass the coordinator's user rules
// (admitUser), like a node's.
type webLogin struct {
	rp *sso.RP
	s  *Server
}

// AuthURL starts an admin's OIDC login: its state goes to the browser in a
// cookie.
func (l webLogin) AuthURL(w http.ResponseWriter, r *http.Request, payload string) (string, error) {
	return beginLogin(l.rp, w, r, payload)
}

// Complete finishes an admin's OIDC login and records the user, refusing
// a disabled one and a subject whose email is bound to another.
func (l webLogin) Complete(w http.ResponseWriter, r *http.Request) (web.Identity, string, error) {
	res, err := l.rp.FinishRequest(w, r)
	if err != nil {
		return web.Identity{}, res.Payload, err
	}
	u, err := l.s.admitUser(r.Context(), storeIdentity(res.Identity), remoteIP(r))
	if err != nil {
		return web.Identity{}, res.Payload, err
	}
	if err := l.s.refreshUsers(r.Context()); err != nil { // the policy follows the groups just recorded
		return web.Identity{}, res.Payload, err
	}
	return web.Identity{User: strconv.FormatInt(int64(u.ID), 10), Email: u.Email, Groups: u.Groups, Until: res.Identity.Expiry},
		res.Payload, nil
}

// uiCallback is the admin UI's OIDC redirect path.
const uiCallback = "/ui/callback"

// setupSSO builds the Authenticator: from cfg.OIDC, or, in dev mode without
// one, a development OIDC provider served by the coordinator itself under
// devidp.DefaultPrefix (it refuses to run on a non-loopback address).
func (s *Server) setupSSO() error {
	if s.cfg.Auth != nil {
		return nil
	}
	if s.cfg.OIDC != nil {
		rp, err := sso.New(*s.cfg.OIDC)
		if err != nil {
			return err
		}
		ui := *s.cfg.OIDC
		ui.Refresh = false
		ui.RedirectURL = strings.TrimSuffix(ui.RedirectURL, wire.PathOIDCCallback) + uiCallback
		uiRP, err := sso.New(ui)
		if err != nil {
			return err
		}
		s.cfg.Auth, s.webLogin = newSSOAuth(rp), webLogin{uiRP, s}
		return nil
	}
	if !s.cfg.Dev || s.cfg.NoDevIdP {
		return nil
	}
	return s.setupDevIdP()
}

func (s *Server) setupDevIdP() error {
	base := s.cfg.PublicURL
	if base == "" {
		base = "http://" + s.cfg.Listen
		s.cfg.PublicURL = base
	}
	var users []devidp.User
	if s.cfg.DevUsersFile != "" {
		var err error
		if users, err = devidp.LoadUsers(s.cfg.DevUsersFile); err != nil {
			return fmt.Errorf("dev identity provider: %w", err)
		}
	}
	secret := rand.Text()
	idp, err := devidp.New(devidp.Config{Issuer: base + devidp.DefaultPrefix, ListenAddr: s.cfg.Listen, Users: users,
		Clients: []devidp.Client{{ID: "ward", Secret: secret, RedirectURIs: []string{base + wire.PathOIDCCallback, base + uiCallback}}},
		Logger:  s.log.With("component", "dev-idp")})
	if err != nil {
		return fmt.Errorf("dev identity provider: %w", err)
	}
	rpCfg := sso.Config{Issuer: base + devidp.DefaultPrefix, ClientID: "ward", ClientSecret: sso.Secret(secret),
		RedirectURL: base + wire.PathOIDCCallback, RequireMFA: s.cfg.DevRequireMFA, MFAGroups: s.cfg.DevMFAGroups, Refresh: true}
	rp, err := sso.New(rpCfg)
	if err != nil {
		return err
	}
	rpCfg.RedirectURL, rpCfg.Refresh = base+uiCallback, false
	uiRP, err := sso.New(rpCfg)
	if err != nil {
		return err
	}
	s.devIdP, s.cfg.Auth, s.webLogin = idp, newSSOAuth(rp), webLogin{uiRP, s}
	if len(s.cfg.AdminRoles) == 0 {
		s.cfg.AdminRoles = map[string]web.Role{"admins": web.RoleOwner, "auditors": web.RoleAuditor}
	}
	s.log.Info("dev mode: built-in OIDC provider with demo users", "issuer", idp.Issuer())
	return nil
}
