// Package control is the node side of Ward's control protocol: it opens
// machine-key-signed sessions with the coordinator, registers the node,
// follows the map stream (reconnecting with backoff), rotates the WireGuard
// key and sends reports. It knows nothing of the data plane.
package control

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/wire"
)

const (
	// DefaultCallTimeout bounds one unary control call.
	DefaultCallTimeout = 30 * time.Second
	// tokenSlack renews a session token this long before it expires.
	tokenSlack = 30 * time.Second
	// maxResponseBytes bounds a unary response body.
	maxResponseBytes = 1 << 20
)

// Config configures a Client. New validates it; it is not retained.
type Config struct {
	// URL is the coordinator's base URL, "https://host[:port]" (a path
	// prefix is kept). Plain http is refused unless AllowInsecureHTTP is
	// set and the host is a loopback address or "localhost".
	URL string
	// AllowInsecureHTTP allows plain http to a loopback coordinator.
	AllowInsecureHTTP bool
	// MachineKey is the node's machine private key; it signs challenges
	// and never leaves the node.
	MachineKey wire.MachinePrivate
	// HTTPClient sends the requests; nil means a client with TLS 1.3 as
	// the minimum, RootCAs, and no overall timeout (calls are bounded by
	// contexts).
	HTTPClient *http.Client
	// RootCAs verifies the coordinator's certificate when HTTPClient is
	// nil; nil means the system's roots.
	RootCAs *x509.CertPool
	// Logger receives the client's logs; nil means slog.Default(). No key
	// or token is ever logged.
	Logger *slog.Logger
	// CallTimeout bounds one unary call; 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// MapIdleTimeout ends a map stream that sent nothing (not even a
	// keep-alive) for this long; 0 means DefaultMapIdleTimeout.
	MapIdleTimeout time.Duration
	// Backoff paces map stream reconnects; the zero value means
	// DefaultBackoff().
	Backoff Backoff
	// Clock reads the node's clock; nil means time.Now. Tests set it to
	// run a node whose clock is off.
	Clock func() time.Time
}

// Client talks to one coordinator on behalf of one machine. It is safe for
// concurrent use.
type Client struct {
	base        *url.URL
	key         wire.MachinePrivate
	http        *http.Client
	log         *slog.Logger
	callTimeout time.Duration
	mapIdle     time.Duration
	backoff     Backoff
	now         func() time.Time
	// skew converts the coordinator's times to the node's clock.
	skew *skew

	// mu guards the following.
	mu sync.Mutex
	// tok is the current session; zero when none.
	tok wire.SessionResponse
	// serverVersion is the coordinator's protocol version as of the last
	// session opened; 0 before the first.
	serverVersion int
}

// New validates cfg and returns a Client. It does not contact the
// coordinator.
func New(cfg Config) (*Client, error) {
	base, err := parseURL(cfg.URL, cfg.AllowInsecureHTTP)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, key: cfg.MachineKey, http: cfg.HTTPClient, log: cfg.Logger,
		callTimeout: cfg.CallTimeout, mapIdle: cfg.MapIdleTimeout, backoff: cfg.Backoff.withDefaults()}
	if c.http == nil {
		c.http = &http.Client{Transport: defaultTransport(cfg.RootCAs)}
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.callTimeout <= 0 {
		c.callTimeout = DefaultCallTimeout
	}
	if c.mapIdle <= 0 {
		c.mapIdle = DefaultMapIdleTimeout
	}
	c.now = cfg.Clock
	if c.now == nil {
		c.now = time.Now
	}
	c.skew = &skew{now: c.now, log: c.log}
	return c, nil
}

// defaultTransport is http.DefaultTransport with TLS 1.3 required and
// roots (nil: the system's) trusted.
func defaultTransport(roots *x509.CertPool) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: roots}
	return t
}

// parseURL checks the coordinator URL against the transport rules.
func parseURL(raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse coordinator url: %w", err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("parse coordinator url %q: want scheme://host[:port][/path]", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !allowHTTP || !isLoopbackHost(u.Hostname()) {
			return nil, ErrInsecureURL
		}
	default:
		return nil, fmt.Errorf("parse coordinator url %q: unsupported scheme", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// isLoopbackHost reports whether host is "localhost" or a loopback IP.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// URL returns the coordinator's base URL.
func (c *Client) URL() string { return c.base.String() }

// Now reads the node's clock (Config.Clock). Every time the Client
// returns is on this clock.
func (c *Client) Now() time.Time { return c.now() }

// ClockOffset returns the coordinator's clock minus the node's, as
// estimated from the coordinator's answers so far (0 until one showed an
// offset past the network's noise).
func (c *Client) ClockOffset() time.Duration { return c.skew.offset() }

// LocalTime converts t, a time on the coordinator's clock, to the node's
// (zero stays zero).
func (c *Client) LocalTime(t time.Time) time.Time { return c.skew.local(t) }

// endpoint returns the absolute URL of path with query q (may be nil).
func (c *Client) endpoint(path string, q url.Values) string {
	u := *c.base
	u.Path += path
	u.RawQuery = q.Encode()
	return u.String()
}

// Session returns a valid session, opening a new one when there is none or
// the current one is about to expire. Registered in the result tells
// whether the machine is a node.
func (c *Client) Session(ctx context.Context) (wire.SessionResponse, error) {
	c.mu.Lock()
	tok := c.tok
	c.mu.Unlock()
	if tok.Token != "" && c.skew.local(tok.Expires).Sub(c.now()) > tokenSlack {
		return tok, nil
	}
	return c.newSession(ctx)
}

// newSession runs the challenge/response exchange and stores the token.
func (c *Client) newSession(ctx context.Context) (wire.SessionResponse, error) {
	pub := c.key.Public()
	var ch wire.ChallengeResponse
	if err := c.post(ctx, wire.PathChallenge, "", wire.ChallengeRequest{MachineKey: pub}, &ch); err != nil {
		return wire.SessionResponse{}, fmt.Errorf("get challenge: %w", err)
	}
	req := wire.SessionRequest{
		MachineKey:      pub,
		Challenge:       ch.Challenge,
		Signature:       c.key.Sign(wire.SessionMessage(ch.Challenge, pub)),
		ProtocolVersion: wire.ProtocolVersion,
	}
	var s wire.SessionResponse
	sent := c.now()
	if err := c.post(ctx, wire.PathSession, "", req, &s); err != nil {
		return wire.SessionResponse{}, fmt.Errorf("open session: %w", err)
	}
	c.skew.observe(s.ServerTime, sent, c.now())
	if s.Token == "" {
		return wire.SessionResponse{}, fmt.Errorf("open session: %w: empty token", ErrProtocol)
	}
	c.mu.Lock()
	c.tok = s
	c.serverVersion = s.CoordinatorVersion()
	c.mu.Unlock()
	return s, nil
}

// ServerVersion returns the coordinator's control protocol version, as of
// the last session opened (0 before the first). A node sends a field of a
// newer version only when wire.Supports(ServerVersion(), its Feature).
func (c *Client) ServerVersion() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.serverVersion
}

// DropSession forgets the session token tok if it is still the current
// one, so that the next Session opens a new session. A caller whose call
// with tok was answered 401 (the coordinator restarted, or ended the
// session) calls it before retrying.
func (c *Client) DropSession(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.Token == tok {
		c.tok = wire.SessionResponse{}
	}
}

// call POSTs in to path with the session token and decodes the answer
// into out (may be nil). On 401 it opens a new session and retries once.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	for attempt := 0; ; attempt++ {
		s, err := c.Session(ctx)
		if err != nil {
			return err
		}
		err = c.post(ctx, path, s.Token, in, out)
		if attempt == 0 && errors.Is(err, ErrUnauthorized) {
			c.DropSession(s.Token)
			continue
		}
		return err
	}
}

// post sends one JSON request and decodes the JSON answer into out (may be
// nil), bounded by the call timeout. token may be empty.
func (c *Client) post(ctx context.Context, path, token string, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.callTimeout)
	defer cancel()
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint(path, nil), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	setToken(req, token)
	resp, err := c.http.Do(req)
	if err != nil {
		return unreachable(ctx, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	return decodeBody(resp.Body, out)
}

// unreachable marks err, the failure of a request that got no answer, as
// ErrUnreachable, unless ctx was cancelled (the caller gave up).
func unreachable(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), context.Canceled) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnreachable, err)
}

// setToken adds the bearer token, if any.
func setToken(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// checkStatus turns a non-2xx response into an *APIError.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	var e wire.Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if json.Unmarshal(b, &e) != nil {
		e.Error = strings.TrimSpace(string(b[:min(len(b), 200)]))
	}
	return &APIError{Status: resp.StatusCode, Message: e.Error,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), resp.Header.Get("Date"))}
}

// decodeBody decodes a bounded JSON body into out, or discards it when out
// is nil.
func decodeBody(r io.Reader, out any) error {
	lr := io.LimitReader(r, maxResponseBytes+1)
	if out == nil {
		_, _ = io.Copy(io.Discard, lr)
		return nil
	}
	b, err := io.ReadAll(lr)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("read response: %w: body over %d bytes", ErrProtocol, maxResponseBytes)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response: %w: %w", ErrProtocol, err)
	}
	return nil
}
