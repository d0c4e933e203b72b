// Package assembly puts a coordinator process together: the coordinator
// (package coordinator, a domain service that imports neither the UI nor
// the development IdP), the admin UI and JSON API (package web) mounted on
// its HTTP server, and in dev mode the development identity provider
// (package devidp) served beside them. `ward coordinator` and the
// end-to-end tests start coordinators through New.
package assembly

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator"
	"github.com/wardnet/ward/coordinator/sso"
	"github.com/wardnet/ward/devidp"
	"github.com/wardnet/ward/web"
	"github.com/wardnet/ward/wire"
)

// The coordinator's fleet operations and admin login are what the admin UI
// runs on.
var (
	_ web.Backend     = coordinator.Backend{}
	_ web.Login       = (*coordinator.AdminLogin)(nil)
	_ web.StepUpLogin = (*coordinator.AdminLogin)(nil)
	_ web.Mux         = (*coordinator.Server)(nil)
)

// Config configures New: the coordinator's configuration, and the
// development identity provider's.
type Config struct {
	coordinator.Config
	// DevUsersFile lists the development provider's demo users (devidp
	// format); empty means its built-in demo users.
	DevUsersFile string
	// DevRequireMFA and DevMFAGroups set the development provider's MFA
	// rule.
	DevRequireMFA bool
	DevMFAGroups  []string
	// NoDevIdP keeps Dev from starting the development provider.
	NoDevIdP bool
}

// devIdP reports whether cfg asks for the development provider: dev mode
// with no other identity provider.
func (cfg *Config) devIdP() bool {
	return cfg.Dev && cfg.OIDC == nil && cfg.Auth == nil && !cfg.NoDevIdP
}

// Coordinator is a running coordinator with its admin UI mounted and, in
// dev mode, its development identity provider.
type Coordinator struct {
	*coordinator.Server
	// UI serves the admin UI and JSON API.
	UI *web.Handler
	// DevIdP is the development OIDC provider; nil unless dev mode started
	// one. Tests use it to revoke a person at the IdP.
	DevIdP *devidp.Provider
}

// New opens the coordinator of cfg and mounts the admin UI on it and, in
// dev mode without another identity provider, the development provider
// (it refuses to run on a non-loopback address), whose groups "admins" and
// "auditors" are owners and auditors unless cfg.AdminRoles says otherwise.
// Close the result when done.
func New(ctx context.Context, cfg Config) (*Coordinator, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var idp *devidp.Provider
	if cfg.devIdP() {
		var err error
		if idp, err = startDevIdP(&cfg); err != nil {
			return nil, err
		}
	}
	srv, err := coordinator.New(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	c := &Coordinator{Server: srv, DevIdP: idp}
	if idp != nil {
		srv.Handle(idp.Prefix()+"/", idp)
	}
	if c.UI, err = MountUI(srv, cfg.Config); err != nil {
		srv.Close()
		return nil, err
	}
	return c, nil
}

// MountUI builds the admin UI and JSON API over srv's fleet operations and
// admin login, mounts it on srv and has srv end a person's admin sessions
// through it. cfg is srv's configuration.
func MountUI(srv *coordinator.Server, cfg coordinator.Config) (*web.Handler, error) {
	var login web.Login
	if l, ok := srv.AdminLogin(); ok {
		login = l
	}
	ui, err := web.New(web.Config{Roles: cfg.AdminRoles, SecureCookies: cfg.TLSCert != "",
		Logger: cfg.Logger.With("component", "web"), ClientAddr: coordinator.ClientAddr,
		Sessions: srv.AdminSessionStore(), StepUp: cfg.AdminStepUp}, srv.Backend(), login)
	if err != nil {
		return nil, fmt.Errorf("admin UI: %w", err)
	}
	srv.SetAdminSessions(ui)
	ui.Mount(srv.AdminRoutes())
	return ui, nil
}

// startDevIdP makes the development provider for the coordinator of cfg,
// to be served by it under devidp.DefaultPrefix, and points cfg's OIDC
// settings at it.
func startDevIdP(cfg *Config) (*devidp.Provider, error) {
	base := cfg.PublicURL
	if base == "" {
		base = "http://" + cfg.Listen
		cfg.PublicURL = base
	}
	var users []devidp.User
	if cfg.DevUsersFile != "" {
		var err error
		if users, err = devidp.LoadUsers(cfg.DevUsersFile); err != nil {
			return nil, fmt.Errorf("dev identity provider: %w", err)
		}
	}
	secret := rand.Text()
	issuer := base + devidp.DefaultPrefix
	redirects := []string{base + wire.PathOIDCCallback, base + coordinator.PathUICallback}
	if admin := cfg.AdminBaseURL(); admin != "" {
		redirects = append(redirects, admin+coordinator.PathUICallback)
	}
	idp, err := devidp.New(devidp.Config{Issuer: issuer, ListenAddr: cfg.Listen, Users: users,
		Clients: []devidp.Client{{ID: "ward", Secret: secret, RedirectURIs: redirects}},
		Logger:  cfg.Logger.With("component", "dev-idp")})
	if err != nil {
		return nil, fmt.Errorf("dev identity provider: %w", err)
	}
	cfg.OIDC = &sso.Config{Issuer: issuer, ClientID: "ward", ClientSecret: sso.Secret(secret),
		RedirectURL: base + wire.PathOIDCCallback, RequireMFA: cfg.DevRequireMFA, MFAGroups: cfg.DevMFAGroups, Refresh: true}
	if len(cfg.AdminRoles) == 0 {
		cfg.AdminRoles = map[string]admin.Role{admin.MemberIdP + "admins": admin.RoleOwner, admin.MemberIdP + "auditors": admin.RoleAuditor}
	}
	cfg.Logger.Info("dev mode: built-in OIDC provider with demo users", "issuer", idp.Issuer())
	return idp, nil
}
