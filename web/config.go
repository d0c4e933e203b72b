package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/wardnet/ward/admin"
)

// DefaultSessionTTL is how long an admin session lasts when Config.SessionTTL
// is zero. A session never outlives the IdP session it came from.
const DefaultSessionTTL = 12 * time.Hour

// DefaultBodyTimeout is Config.BodyTimeout's default.
const DefaultBodyTimeout = 10 * time.Second

// maxSessionTTL bounds Config.SessionTTL.
const maxSessionTTL = 7 * 24 * time.Hour

// Config configures New. It is validated once, by New. MFA is not set
// here: the Login enforces it (the coordinator's sso.Config.RequireMFA and
// MFAGroups), and refuses a login without the required second factor.
type Config struct {
	// Roles maps who (an IdP group "idp:NAME", a policy group
	// "group:NAME" or an email; see admin.MemberIdP) to the admin role they get;
	// the highest role wins (see admin.RoleOf). A person matching no key sees
	// the "no access" page. May be empty (then only API keys can do
	// anything).
	Roles map[string]admin.Role
	// SessionTTL is how long an admin session lasts, at most until the IdP
	// session ends. Zero means DefaultSessionTTL; at most 7 days.
	SessionTTL time.Duration
	// SecureCookies marks cookies Secure; set it whenever the UI is served
	// over TLS.
	SecureCookies bool
	// Logger receives request failures and security events (never secrets,
	// cookies or tokens). Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Tests set it to move time.
	Now func() time.Time
	// BodyTimeout is how long a client may take to send a request body
	// once the request is authorized; zero means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// ClientAddr returns the address a request comes from, for the audit
	// log and logs (the coordinator's, through its trusted reverse
	// proxies). Nil means the TCP peer; X-Forwarded-For is never read here.
	ClientAddr func(*http.Request) netip.Addr
	// Sessions keeps the admin sessions (the coordinator's database, so
	// that every coordinator on it knows them); nil keeps them in memory.
	Sessions admin.SessionStore
	// StepUp is how recent a UI session's login must be, with a second
	// factor, for an action that changes the fleet (policy, devices and
	// keys, API keys; see checkStepUp). Zero turns the check off; API
	// keys are governed by their scopes instead.
	StepUp time.Duration
}

// settings is a validated Config.
type settings struct {
	roles       map[string]admin.Role
	ttl         time.Duration
	secure      bool
	log         *slog.Logger
	now         func() time.Time
	bodyTimeout time.Duration
	clientAddr  func(*http.Request) netip.Addr
	sessions    admin.SessionStore // nil: in memory
	stepUp      time.Duration      // 0: off
}

func (c Config) validate() (*settings, error) {
	roles, err := admin.CheckRoles(c.Roles)
	if err != nil {
		return nil, fmt.Errorf("validate config: %w", err)
	}
	s := &settings{roles: roles, ttl: c.SessionTTL, secure: c.SecureCookies, log: c.Logger, now: c.Now, sessions: c.Sessions,
		bodyTimeout: c.BodyTimeout, clientAddr: c.ClientAddr, stepUp: c.StepUp}
	if s.stepUp < 0 {
		return nil, fmt.Errorf("validate config: step-up window %v is negative", s.stepUp)
	}
	switch {
	case s.ttl == 0:
		s.ttl = DefaultSessionTTL
	case s.ttl < time.Minute || s.ttl > maxSessionTTL:
		return nil, fmt.Errorf("validate config: session TTL %v is outside 1m..%v", s.ttl, maxSessionTTL)
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.bodyTimeout <= 0 {
		s.bodyTimeout = DefaultBodyTimeout
	}
	return s, nil
}

// ipExtractor returns how echo finds a request's address (c.RealIP):
// clientAddr when set, else the TCP peer; never a header by itself.
func (s *settings) ipExtractor() echo.IPExtractor {
	if s.clientAddr == nil {
		return echo.ExtractIPDirect()
	}
	return func(r *http.Request) string {
		if a := s.clientAddr(r); a.IsValid() {
			return a.String()
		}
		return echo.ExtractIPDirect()(r)
	}
}
