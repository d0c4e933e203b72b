// Package devidp is a development OpenID Connect provider: a real,
// standards-compliant OP (built on github.com/zitadel/oidc/v3's op package)
// with an HTML login form, demo users and groups, and a demo second factor.
// It backs `ward coordinator --dev` and the tests that need a real IdP.
//
// It serves discovery, JWKS, the authorization endpoint (code flow, PKCE
// with S256 required), the token endpoint (with the refresh_token grant
// for logins that ask for offline_access), userinfo and the login form, all
// under the issuer URL's path, so a coordinator can mount it on its own
// listener. It refuses any issuer or listen address that is not loopback.
// State lives in memory and its keys are made at start: a restart logs
// everyone out.
package devidp

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// Errors returned by New, LoadUsers and ParseUsers.
var (
	// ErrNotLoopback means the issuer or listen address is not on a
	// loopback address: the development provider serves nothing else.
	ErrNotLoopback = errors.New("development identity provider refused: address is not loopback (use 127.0.0.1, [::1] or localhost)")
	// ErrInvalidConfig means Config is incomplete or inconsistent.
	ErrInvalidConfig = errors.New("invalid development identity provider config")
	// ErrInvalidUsers means a users file or list is malformed.
	ErrInvalidUsers = errors.New("invalid users")
)

// Provider is a running development OpenID provider. It is an http.Handler
// that serves every endpoint under its issuer's path. It starts no
// goroutine and holds no resource besides memory, so it needs no Close.
type Provider struct {
	cfg     *settings
	store   *storage
	handler http.Handler
}

// New validates cfg, makes a signing key, and returns the provider. It
// fails with ErrNotLoopback when the issuer or cfg.ListenAddr is not on a
// loopback address, and with ErrInvalidConfig or ErrInvalidUsers on bad
// configuration.
func New(cfg Config) (*Provider, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	st, err := newStorage(s)
	if err != nil {
		return nil, err
	}
	oidcp, err := newOP(s, st)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	l := &login{cfg: s, store: st, callback: op.AuthCallbackURL(oidcp)}
	mux.HandleFunc("GET "+loginPath, l.show)
	mux.HandleFunc("POST "+loginPath, l.password)
	mux.HandleFunc("POST "+otpPath, l.otp)
	mux.Handle("/", oidcp)
	p := &Provider{cfg: s, store: st, handler: mux}
	if s.prefix != "" {
		p.handler = http.StripPrefix(s.prefix, mux)
	}
	return p, nil
}

// newOP builds the zitadel OpenID provider over st.
func newOP(s *settings, st *storage) (*op.Provider, error) {
	conf := &op.Config{
		CryptoKeyId:           "devidp",
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedUILocales:    []language.Tag{language.English},
		SupportedScopes:       []string{"openid", "profile", "email", "offline_access", scopeGroups},
		SupportedClaims:       append(append([]string(nil), op.DefaultSupportedClaims...), s.groupsClaim),
	}
	if _, err := rand.Read(conf.CryptoKey[:]); err != nil {
		return nil, fmt.Errorf("make token key: %w", err)
	}
	p, err := op.NewProvider(conf, st, op.StaticIssuer(s.issuer), op.WithAllowInsecure())
	if err != nil {
		return nil, fmt.Errorf("create openid provider: %w", err)
	}
	return p, nil
}

// ServeHTTP serves the provider's endpoints, all under the issuer's path:
// /.well-known/openid-configuration, /keys, /authorize, /oauth/token,
// /userinfo, /login and the rest of the op package's routes. A request
// outside that path gets 404.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.handler.ServeHTTP(w, r)
}

// Issuer returns the issuer URL, without a trailing slash.
func (p *Provider) Issuer() string { return p.cfg.issuer }

// Prefix returns the path under which the provider serves ("" or, for
// example, "/dev-idp"). Mount the provider on a mux at Prefix()+"/".
func (p *Provider) Prefix() string { return p.cfg.prefix }

// Users returns the accounts that may log in, with defaults filled.
func (p *Provider) Users() []User {
	out := make([]User, 0, len(p.cfg.users))
	for _, u := range p.cfg.users {
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return out
}
