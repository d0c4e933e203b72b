// Package relayd runs a standalone relay (`ward relay`): a relay.Server
// that is closed by default. It verifies node tokens with the key its
// coordinator gives it, admits a key only when the coordinator says it is
// its node's live key, and forwards a frame only between keys the
// coordinator says are peers under the current policy. It learns all of
// this over an authorization feed it holds to the coordinator with the
// relay credential an admin registered it with; the coordinator pushes
// generation bumps and cuts over the same feed, so a revoked node leaves
// the relay when it leaves the maps. Without a fresh feed it refuses.
package relayd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/wardnet/ward/relay"
	"github.com/wardnet/ward/wire"
)

// Defaults of Config.
const (
	// DefaultGrace is how long the relay answers from its cache after the
	// feed last spoke (the coordinator speaks at least every
	// wire.RelayFeedKeepAlive).
	DefaultGrace = 3 * wire.RelayFeedKeepAlive
	// DefaultAskTimeout bounds waiting for one answer of the coordinator.
	DefaultAskTimeout = 3 * time.Second
	// maxBackoff bounds the wait between two attempts to open the feed.
	maxBackoff = 10 * time.Second
	// feedReadLimit bounds one message of the coordinator.
	feedReadLimit = 1 << 20
)

// ErrConfig refuses an invalid Config.
var ErrConfig = errors.New("relayd: invalid configuration")

// Config configures a Relay.
type Config struct {
	// Coordinator is the coordinator's base URL (https://host[:port]).
	// Required.
	Coordinator string
	// Credential is the relay's credential (`ward admin relays add`).
	// Required; never logged.
	Credential string
	// Name, when set, is the name the relay must be registered under: a
	// credential of another relay is refused.
	Name string
	// HTTPClient opens the feed (its TLS configuration included); nil
	// means http.DefaultClient.
	HTTPClient *http.Client
	// Grace is DefaultGrace when 0.
	Grace time.Duration
	// AskTimeout is DefaultAskTimeout when 0.
	AskTimeout time.Duration
	// Logger receives the relay's events; nil discards them.
	Logger *slog.Logger
}

// Relay is a standalone relay.
type Relay struct {
	cfg     Config
	feedURL string
	log     *slog.Logger
	srv     *relay.Server
	auth    *authority
}

// New returns a relay for cfg; it refuses until Run holds its feed.
func New(cfg Config) (*Relay, error) {
	u, err := url.Parse(cfg.Coordinator)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: coordinator URL %q: want http(s)://host[:port]", ErrConfig, cfg.Coordinator)
	}
	if cfg.Credential == "" {
		return nil, fmt.Errorf("%w: no relay credential", ErrConfig)
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.AskTimeout <= 0 {
		cfg.AskTimeout = DefaultAskTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := newAuthority(cfg.Grace, cfg.AskTimeout)
	a.srv = relay.NewServer(relay.Config{Verifier: a.ver, Authorizer: a, Logger: log})
	feedURL := strings.TrimSuffix(cfg.Coordinator, "/") + wire.PathRelayFeed
	return &Relay{cfg: cfg, feedURL: feedURL, log: log, srv: a.srv, auth: a}, nil
}

// Handler serves the relay at wire.PathRelay and GET /healthz, which
// answers 503 while the relay holds no fresh feed.
func (r *Relay) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET "+wire.PathRelay, r.srv)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Ready() {
			http.Error(w, "no authorization feed", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Ready reports whether the relay holds a fresh feed, and so admits.
func (r *Relay) Ready() bool {
	r.auth.mu.RLock()
	defer r.auth.mu.RUnlock()
	return r.auth.readyLocked(time.Now())
}

// Connected reports whether key holds a connection to the relay.
func (r *Relay) Connected(key wire.WGPublic) bool { return r.srv.Connected(key) }

// Stats returns the relay's counters.
func (r *Relay) Stats() relay.Stats { return r.srv.Stats() }

// Run holds the feed, opening it again after each loss, until ctx ends;
// then it closes every connection.
func (r *Relay) Run(ctx context.Context) error {
	defer r.srv.Close()
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := r.feed(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > maxBackoff {
			backoff = 100 * time.Millisecond
		}
		r.log.Warn("relay feed lost; refusing until it is back", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// feed opens the feed and serves it until it ends.
func (r *Relay) feed(ctx context.Context) error {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+r.cfg.Credential)
	ws, resp, err := websocket.Dial(ctx, r.feedURL, &websocket.DialOptions{HTTPClient: r.cfg.HTTPClient, HTTPHeader: h,
		CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		if resp != nil {
			return fmt.Errorf("open feed %s: %s: %w", r.feedURL, resp.Status, err)
		}
		return fmt.Errorf("open feed %s: %w", r.feedURL, err)
	}
	defer ws.CloseNow()
	ws.SetReadLimit(feedReadLimit)
	var hello wire.RelayFeedHello
	if err := r.readSoon(ctx, ws, &hello); err != nil {
		return fmt.Errorf("feed hello: %w", err)
	}
	if r.cfg.Name != "" && hello.Name != r.cfg.Name {
		return fmt.Errorf("%w: the credential is relay %q's, not %q's", ErrConfig, hello.Name, r.cfg.Name)
	}
	r.auth.up(ws, hello)
	defer r.auth.down()
	r.log.Info("relay feed open", "relay", hello.Name, "coordinator", r.cfg.Coordinator)
	go r.auth.readmit()
	for {
		var m wire.RelayFeedMessage
		if err := r.readSoon(ctx, ws, &m); err != nil {
			return err
		}
		r.auth.heed(m)
	}
}

// readSoon reads the feed's next message, dropping a feed silent for the
// grace.
func (r *Relay) readSoon(ctx context.Context, ws *websocket.Conn, v any) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Grace)
	defer cancel()
	return readJSON(ctx, ws, v)
}

// readJSON reads one JSON text message into v.
func readJSON(ctx context.Context, ws *websocket.Conn, v any) error {
	typ, b, err := ws.Read(ctx)
	if err != nil {
		return err
	}
	if typ != websocket.MessageText {
		return fmt.Errorf("feed: binary message")
	}
	return json.Unmarshal(b, v)
}
