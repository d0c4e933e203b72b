package devidp

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// DefaultPrefix is the path under which a coordinator mounts the provider,
// so that its issuer is "http://127.0.0.1:PORT/dev-idp".
const DefaultPrefix = "/dev-idp"

// DefaultGroupsClaim is the ID token claim that carries a user's groups when
// Config.GroupsClaim is empty.
const DefaultGroupsClaim = "groups"

const defaultTokenLifetime = time.Hour

// Config configures a Provider. It is validated once, by New.
type Config struct {
	// Issuer is the provider's issuer URL, for example
	// "http://127.0.0.1:8080/dev-idp". Its host must be a loopback address
	// or "localhost"; its path, which may be empty, is the prefix under which
	// the provider serves every endpoint. Required.
	Issuer string
	// ListenAddr is the host:port the serving listener is bound to, when the
	// caller knows it (a coordinator passes its own). If set, it must be a
	// loopback address too: an empty host or 0.0.0.0 is refused.
	ListenAddr string
	// Users are the accounts that may log in. Empty means DefaultUsers().
	Users []User
	// Clients are the registered relying parties. At least one is required.
	Clients []Client
	// GroupsClaim names the claim that carries groups in ID tokens and
	// userinfo. Empty means DefaultGroupsClaim.
	GroupsClaim string
	// TokenLifetime is how long ID and access tokens are valid. Zero means
	// one hour.
	TokenLifetime time.Duration
	// Logger receives login failures (never passwords or codes). Nil
	// discards.
	Logger *slog.Logger
}

// Client is a relying party registered with the provider.
type Client struct {
	// ID is the client_id. Required and unique.
	ID string
	// Secret is the client_secret, accepted by HTTP Basic or form post. Empty
	// makes a public client, which authenticates by PKCE alone.
	Secret string
	// RedirectURIs are the exact redirect_uri values the client may use. At
	// least one, each an absolute http or https URL.
	RedirectURIs []string
}

// settings is a validated Config.
type settings struct {
	issuer        string
	prefix        string
	secure        bool
	users         map[string]User // by username
	subjects      map[string]User // by subject
	clients       map[string]*client
	groupsClaim   string
	tokenLifetime time.Duration
	log           *slog.Logger
	hint          string // shown under the login form; empty unless the demo users are in use
}

func (c Config) validate() (*settings, error) {
	u, err := checkIssuer(c.Issuer)
	if err != nil {
		return nil, err
	}
	if c.ListenAddr != "" {
		if err := checkListenAddr(c.ListenAddr); err != nil {
			return nil, err
		}
	}
	s := &settings{
		issuer:        strings.TrimSuffix(c.Issuer, "/"),
		prefix:        strings.TrimSuffix(u.Path, "/"),
		secure:        u.Scheme == "https",
		groupsClaim:   c.GroupsClaim,
		tokenLifetime: c.TokenLifetime,
		log:           c.Logger,
	}
	if s.groupsClaim == "" {
		s.groupsClaim = DefaultGroupsClaim
	}
	if s.tokenLifetime == 0 {
		s.tokenLifetime = defaultTokenLifetime
	}
	if s.tokenLifetime < 0 {
		return nil, fmt.Errorf("%w: negative token lifetime", ErrInvalidConfig)
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.setUsers(c.Users); err != nil {
		return nil, err
	}
	if err := s.setClients(c.Clients); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) setUsers(users []User) error {
	if len(users) == 0 {
		users = DefaultUsers()
		s.hint = defaultUsersHint
	}
	users, err := normalizeUsers(users)
	if err != nil {
		return err
	}
	s.users = make(map[string]User, len(users))
	s.subjects = make(map[string]User, len(users))
	for _, u := range users {
		s.users[u.Username] = u
		s.subjects[u.Subject] = u
	}
	return nil
}

func (s *settings) setClients(clients []Client) error {
	if len(clients) == 0 {
		return fmt.Errorf("%w: no clients registered", ErrInvalidConfig)
	}
	s.clients = make(map[string]*client, len(clients))
	for _, c := range clients {
		if err := c.validate(); err != nil {
			return err
		}
		if _, dup := s.clients[c.ID]; dup {
			return fmt.Errorf("%w: client %q registered twice", ErrInvalidConfig, c.ID)
		}
		s.clients[c.ID] = newClient(c, s)
	}
	return nil
}

func (c Client) validate() error {
	if c.ID == "" {
		return fmt.Errorf("%w: client with empty id", ErrInvalidConfig)
	}
	if len(c.RedirectURIs) == 0 {
		return fmt.Errorf("%w: client %q has no redirect URI", ErrInvalidConfig, c.ID)
	}
	for _, r := range c.RedirectURIs {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			return fmt.Errorf("%w: client %q: redirect URI %q is not an absolute http(s) URL", ErrInvalidConfig, c.ID, r)
		}
	}
	return nil
}

// checkIssuer parses issuer and refuses anything but an http(s) URL on a
// loopback host, without query or fragment.
func checkIssuer(issuer string) (*url.URL, error) {
	if issuer == "" {
		return nil, fmt.Errorf("%w: issuer is required", ErrInvalidConfig)
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: parse issuer: %w", ErrInvalidConfig, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: issuer %q: scheme must be http or https", ErrInvalidConfig, issuer)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%w: issuer %q: no query, fragment or user info allowed", ErrInvalidConfig, issuer)
	}
	if !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%w: issuer host %q", ErrNotLoopback, u.Hostname())
	}
	return u, nil
}

// checkListenAddr refuses a listen address whose host is not loopback. An
// empty host means every interface and is refused.
func checkListenAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %w", ErrInvalidConfig, addr, err)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("%w: listen address %q", ErrNotLoopback, addr)
	}
	return nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP
// literal. Other names are refused rather than resolved.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	return a.Unmap().IsLoopback()
}
