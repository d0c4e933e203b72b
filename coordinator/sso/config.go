package sso

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/wardnet/ward/cafile"
)

// Defaults for Config fields left zero.
const (
	DefaultGroupsClaim = "groups"
	DefaultPendingTTL  = 10 * time.Minute
	defaultHTTPTimeout = 30 * time.Second
)

// DefaultScopes returns the scopes requested when Config.Scopes is empty,
// with ScopeGroups unless the IdP's discovery document lists the scopes it
// supports without it. The slice is the caller's.
func DefaultScopes() []string { return []string{"openid", "email", "profile"} }

// ScopeGroups is the scope that makes IdPs such as Dex put the person's
// groups in the ID token; an IdP that does not know it may refuse the
// whole login (invalid_scope).
const ScopeGroups = "groups"

// DefaultMFAMethods returns the amr values (RFC 8176) taken to show a
// second factor when Config.MFAMethods is empty. The slice is the caller's.
func DefaultMFAMethods() []string {
	return []string{"mfa", "mca", "otp", "hwk", "swk", "sms", "tel", "fpt", "face", "iris", "retina", "vbm", "sc"}
}

// Secret is a string that never prints: fmt, slog and encoding/json show
// "[redacted]".
type Secret string

// String hides the secret.
func (Secret) String() string { return "[redacted]" }

// GoString hides the secret.
func (Secret) GoString() string { return "[redacted]" }

// MarshalText hides the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// Config configures an RP. It is validated once, by New.
type Config struct {
	// Issuer is the IdP's issuer URL, exactly as its discovery document
	// says. https, or http on a loopback host. Required.
	Issuer string
	// ClientID is the client_id registered at the IdP. Required.
	ClientID string
	// ClientSecretFile is a file holding the client secret (surrounding
	// white space is trimmed). Exactly one of ClientSecretFile,
	// ClientSecretEnv and ClientSecret is required.
	ClientSecretFile string
	// ClientSecretEnv names an environment variable holding the secret.
	ClientSecretEnv string
	// ClientSecret is the secret itself, for in-process wiring such as
	// `ward coordinator --dev`. Never fill it from a command-line flag: ps
	// shows flags to every user of the machine.
	ClientSecret Secret
	// RedirectURL is the coordinator's callback URL registered at the IdP.
	// https, or http on a loopback host. Required.
	RedirectURL string
	// Scopes are requested from the IdP; "openid" is added if missing.
	// Empty means DefaultScopes() and, when the IdP may know it,
	// ScopeGroups.
	Scopes []string
	// Refresh asks the IdP for a refresh token at login (by adding the
	// offline_access scope), so that RP.Refresh can ask it again later
	// whether the person may still get in.
	Refresh bool
	// AllowedDomains, if not empty, are the only email domains (exact,
	// case-insensitive) that may log in.
	AllowedDomains []string
	// TrustUnverifiedEmail accepts an ID token without an email_verified
	// claim, for IdPs that never send it. Without it a login (or refresh)
	// is refused unless email_verified is true. An explicit false is
	// refused either way.
	TrustUnverifiedEmail bool
	// GroupsClaim is the ID token claim holding the user's groups (a list
	// of strings, or one string). Empty means DefaultGroupsClaim.
	GroupsClaim string
	// RequireMFA makes every login show a second factor.
	RequireMFA bool
	// MFAGroups makes a login show a second factor when the user is in any
	// of these IdP groups.
	MFAGroups []string
	// MFAMethods are the amr values that show a second factor. Empty means
	// DefaultMFAMethods().
	MFAMethods []string
	// MinACR, if set, is an acr value that also counts as a second factor:
	// a login whose acr is at least MinACR (compared as integers when both
	// are, else for equality) passes MFA even without an amr value from
	// MFAMethods. It is sent to the IdP as acr_values.
	MinACR string
	// PendingTTL is how long a started login may take: the lifetime of its
	// cookie. Zero means DefaultPendingTTL.
	PendingTTL time.Duration
	// CookieKey is the 32-byte AES-256 key login cookies are sealed with.
	// Nil means a random key made by New: a login must then finish on the
	// process that started it. Processes given the same key (coordinators
	// on one database) finish each other's logins.
	CookieKey []byte
	// HTTPClient talks to the IdP. Nil means a client with a 30 s timeout
	// that trusts the CAs of CAFile.
	HTTPClient *http.Client
	// CAFile is a PEM bundle of the CAs that verify the IdP's TLS
	// certificate, for discovery, the token endpoint and the JWKS alike,
	// in place of the system's roots (an IdP behind a private CA). Empty
	// means the system's roots. It may not be set together with
	// HTTPClient.
	CAFile string
}

// settings is a validated Config with the secret read.
type settings struct {
	Config
	// secret is behind a pointer so that printing settings shows an
	// address, never the value.
	secret *Secret
	// groupsIfOffered adds ScopeGroups to the scopes unless discovery
	// says the IdP does not support it (Scopes was left empty).
	groupsIfOffered bool
	domains         map[string]bool
	mfaGroups       map[string]bool
	mfaMethods      map[string]bool
}

func (c Config) validate() (*settings, error) {
	s := &settings{Config: c}
	s.ClientSecret, s.CookieKey = "", nil // kept by the sealer only
	if err := checkURL("issuer", c.Issuer); err != nil {
		return nil, err
	}
	if err := checkURL("redirect URL", c.RedirectURL); err != nil {
		return nil, err
	}
	if c.ClientID == "" {
		return nil, fmt.Errorf("%w: client id is required", ErrInvalidConfig)
	}
	secret, err := c.readSecret()
	if err != nil {
		return nil, err
	}
	s.secret = &secret
	if err := s.fillDefaults(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) fillDefaults() error {
	if len(s.Scopes) == 0 {
		s.Scopes, s.groupsIfOffered = DefaultScopes(), true
	}
	s.Scopes = slices.Clone(s.Scopes)
	if !slices.Contains(s.Scopes, "openid") {
		s.Scopes = append([]string{"openid"}, s.Scopes...)
	}
	if s.Refresh && !slices.Contains(s.Scopes, scopeOfflineAccess) {
		s.Scopes = append(s.Scopes, scopeOfflineAccess)
	}
	if s.GroupsClaim == "" {
		s.GroupsClaim = DefaultGroupsClaim
	}
	if s.PendingTTL == 0 {
		s.PendingTTL = DefaultPendingTTL
	}
	if s.PendingTTL < 0 {
		return fmt.Errorf("%w: negative pending TTL", ErrInvalidConfig)
	}
	if err := s.httpClient(); err != nil {
		return err
	}
	methods := s.MFAMethods
	if len(methods) == 0 {
		methods = DefaultMFAMethods()
	}
	var err error
	if s.domains, err = lowerSet("allowed domain", s.AllowedDomains); err != nil {
		return err
	}
	if s.mfaGroups, err = set("MFA group", s.MFAGroups); err != nil {
		return err
	}
	s.mfaMethods, err = set("MFA method", methods)
	return err
}

// scopesFor returns the scopes to request from the IdP whose discovery
// document p is: Scopes, plus ScopeGroups by default unless the IdP lists
// the scopes it supports without it (Google and Entra ID, which refuse
// unknown scopes, do; Dex and Okta list it).
func (s *settings) scopesFor(p *oidc.Provider) []string {
	var d struct {
		Supported []string `json:"scopes_supported"`
	}
	if !s.groupsIfOffered || slices.Contains(s.Scopes, ScopeGroups) {
		return s.Scopes
	}
	if err := p.Claims(&d); err == nil && len(d.Supported) > 0 && !slices.Contains(d.Supported, ScopeGroups) {
		return s.Scopes
	}
	return append(slices.Clone(s.Scopes), ScopeGroups)
}

// httpClient sets HTTPClient, from CAFile when it is not given.
func (s *settings) httpClient() error {
	switch {
	case s.HTTPClient != nil && s.CAFile != "":
		return fmt.Errorf("%w: give a CA file or an HTTP client, not both", ErrInvalidConfig)
	case s.HTTPClient != nil:
		return nil
	}
	hc, err := cafile.HTTPClient(s.CAFile, defaultHTTPTimeout)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	s.HTTPClient = hc
	return nil
}

// tlsHint suggests --ca-file when err is a certificate that no trusted CA
// signed.
func tlsHint(err error) string {
	if cafile.Untrusted(err) {
		return " (an IdP behind a private CA: trust it with --ca-file)"
	}
	return ""
}

// readSecret reads the client secret from the one source configured.
func (c Config) readSecret() (Secret, error) {
	n := 0
	for _, set := range []bool{c.ClientSecretFile != "", c.ClientSecretEnv != "", c.ClientSecret != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return "", fmt.Errorf("%w: give exactly one of client secret file, client secret env and client secret", ErrInvalidConfig)
	}
	var v string
	switch {
	case c.ClientSecretFile != "":
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return "", fmt.Errorf("%w: read client secret file: %w", ErrInvalidConfig, err)
		}
		v = string(b)
	case c.ClientSecretEnv != "":
		v = os.Getenv(c.ClientSecretEnv)
	default:
		v = string(c.ClientSecret)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w: client secret is empty", ErrInvalidConfig)
	}
	return Secret(v), nil
}

// checkURL requires an absolute https URL, or http on a loopback host.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("%w: %s %q is not an absolute URL", ErrInvalidConfig, what, raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%w: %s %q: http is allowed only on loopback; use https", ErrInvalidConfig, what, raw)
	default:
		return fmt.Errorf("%w: %s %q: scheme must be https", ErrInvalidConfig, what, raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func set(what string, vals []string) (map[string]bool, error) {
	m := make(map[string]bool, len(vals))
	for _, v := range vals {
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("%w: empty %s", ErrInvalidConfig, what)
		}
		m[v] = true
	}
	return m, nil
}

func lowerSet(what string, vals []string) (map[string]bool, error) {
	m, err := set(what, vals)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(m))
	for v := range m {
		v = strings.ToLower(strings.TrimPrefix(v, "@"))
		if strings.ContainsAny(v, "@ ") {
			return nil, fmt.Errorf("%w: %s %q is not a domain", ErrInvalidConfig, what, v)
		}
		out[v] = true
	}
	return out, nil
}
