// Package control is the node side of Ward's control protocol: it opens
// machine-key-signed sessions with the coordinator, registers the node,
// follows the map stream (reconnecting with backoff), rotates the WireGuard
// key and sends reports. It knows nothing of the data plane.
package control

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wardnet/ward/apicall"
	"github.com/wardnet/ward/cafile"
	"github.com/wardnet/ward/wire"
)

const (
	// DefaultCallTimeout bounds one unary control call.
	DefaultCallTimeout = 30 * time.Second
	// tokenSlack renews a session token this long before it expires.
	tokenSlack = 30 * time.Second
	// maxResponseBytes bounds a unary response body.
	maxResponseBytes = 1 << 20
	// serverName names the coordinator in errors.
	serverName = "coordinator"
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
	// nil; nil means CAFile's, or the system's roots.
	RootCAs *x509.CertPool
	// CAFile is a PEM file of CA certificates that verify the
	// coordinator's certificate when HTTPClient and RootCAs are nil; ""
	// means the system's roots.
	CAFile string
	// Logger receives the client's logs; nil means slog.Default(). No key
	// or token is ever logged.
	Logger *slog.Logger
	// CallTimeout bounds one unary call; 0 means DefaultCallTimeout.
	CallTimeout time.Duration
	// MapIdleTimeout ends a map stream that sent nothing (not even a
	// keep-alive) for this long; 0 means DefaultMapIdleTimeout.
	MapIdleTimeout time.Duration
	// Beat, when positive, makes the node a beating one (a subnet
	// router): while a map stream is open it posts wire.PathBeat at this
	// interval and says so on the stream (wire.MapBeatParam), so that the
	// coordinator ends the stream, and moves the node's routes to another
	// router, within wire.MissedBeats intervals of the node stopping,
	// even when its connection stays open. Only to a coordinator of
	// wire.FeatureRouterBeat or later. 0: no beats.
	Beat time.Duration
	// MapReadBuffer is the size of the map stream's read buffer, held for
	// as long as the stream is open; 0 means DefaultMapReadBuffer. A
	// message longer than it is read in pieces (up to MaxMapMessage), so
	// a smaller buffer only costs more reads of a large map. A device has
	// one stream and keeps the default; the fleet simulator, with 50,000
	// streams in one process, asks for 4 KiB.
	MapReadBuffer int
	// MapGate, when not nil, bounds how many map streams sharing it read
	// and handle a message at once (its capacity): a stream takes a slot
	// (a send) once its next message's first byte has arrived, and gives
	// it back (a receive) when the message is decoded and handled. A
	// stream waiting for a slot is not idle (MapIdleTimeout) and holds
	// none while it waits for bytes. A device has one stream and leaves it
	// nil; the fleet simulator runs 50,000 streams on a few cores, where
	// a policy change reaching them all at once had every stream decode
	// its message at the same time, each holding its line and its half
	// decoded peers (the simulator's memory grew to three times the bytes
	// sent).
	MapGate chan struct{}
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
	beat        time.Duration
	// mapReadBuffer is the map stream's read buffer size.
	mapReadBuffer int
	// mapGate is Config.MapGate.
	mapGate chan struct{}
	backoff Backoff
	now     func() time.Time
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
		callTimeout: cfg.CallTimeout, mapIdle: cfg.MapIdleTimeout, beat: cfg.Beat, backoff: cfg.Backoff.withDefaults(),
		mapReadBuffer: cfg.MapReadBuffer, mapGate: cfg.MapGate}
	if c.http == nil {
		roots := cfg.RootCAs
		if roots == nil {
			if roots, err = cafile.Load(cfg.CAFile); err != nil {
				return nil, err
			}
		}
		// The control API never redirects; a node follows none, so its
		// session token goes nowhere but the coordinator it names.
		c.http = &http.Client{Transport: defaultTransport(roots),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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
	if c.mapGate != nil && cap(c.mapGate) == 0 {
		return nil, errors.New("map gate: want a buffered channel (its capacity is the streams reading at once)")
	}
	switch {
	case c.mapReadBuffer == 0:
		c.mapReadBuffer = DefaultMapReadBuffer
	case c.mapReadBuffer < minMapReadBuffer:
		return nil, fmt.Errorf("map read buffer %d bytes: want at least %d", cfg.MapReadBuffer, minMapReadBuffer)
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

// OnLoopback reports whether the coordinator is on this machine's loopback
// (a development setup): then peers on this machine reach each other on
// 127.0.0.1.
func (c *Client) OnLoopback() bool { return isLoopbackHost(c.base.Hostname()) }

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
	if err := c.send(ctx, request{path: wire.PathChallenge, body: wire.ChallengeRequest{MachineKey: pub}, replayable: true}, "", &ch); err != nil {
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
	if err := c.send(ctx, request{path: wire.PathSession, body: req, replayable: true}, "", &s); err != nil {
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

// request is one unary call to the coordinator.
type request struct {
	// method is the HTTP method; "" means POST.
	method string
	path   string
	// query may be nil; body nil sends none.
	query url.Values
	body  any
	// timeout bounds the call; 0 means the client's call timeout.
	timeout time.Duration
	// replayable: sending it twice does no harm (apicall.Request).
	replayable bool
}

// call sends r with the session token and decodes the answer into out
// (may be nil). On 401 it opens a new session and retries once: the
// coordinator forgot the token (it restarted) or ended the session.
func (c *Client) call(ctx context.Context, r request, out any) error {
	for attempt := 0; ; attempt++ {
		s, err := c.Session(ctx)
		if err != nil {
			return err
		}
		err = c.send(ctx, r, s.Token, out)
		if attempt == 0 && errors.Is(err, ErrUnauthorized) {
			c.DropSession(s.Token)
			continue
		}
		return err
	}
}

// send sends r once with token (may be empty) and decodes the JSON answer
// into out (may be nil), bounded by r's timeout.
func (c *Client) send(ctx context.Context, r request, token string, out any) error {
	timeout := r.timeout
	if timeout <= 0 {
		timeout = c.callTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return apicall.Do(ctx, c.http, apicall.Request{Method: r.method, URL: c.endpoint(r.path, r.query), Token: token,
		Body: r.body, MaxAnswer: maxResponseBytes, Server: serverName, Replayable: r.replayable}, out)
}
