package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/wardnet/ward/node/splice"
)

// Errors a Backend wraps to pick the HTTP status of its failures.
var (
	// ErrNoPeer means the peer is unknown or no longer active (404).
	ErrNoPeer = errors.New("no such peer")
	// ErrNotReady means the node has no data plane yet (503).
	ErrNotReady = errors.New("node not ready: no map from the coordinator yet")
	// ErrUnknownLogin means /login/wait named no login the daemon knows
	// (404).
	ErrUnknownLogin = errors.New("unknown login")
	// errNotDesktop answers the login routes of a device's agent (404).
	errNotDesktop = errors.New("this daemon is a device's node agent: it has no login (`ward up` runs the desktop client, with its own --state-dir)")
	// ErrNotGranted means the policy grants this node no flow to that
	// port of the peer, as its map says (403): nothing was sent.
	ErrNotGranted = errors.New("not granted by the policy")
	// ErrRefused means the peer answered the connection with a reset:
	// nothing listens on that port there (502).
	ErrRefused = errors.New("connection refused by the peer")
)

const (
	// DefaultPingTimeout bounds a ping without a timeout parameter.
	DefaultPingTimeout = 5 * time.Second
	// maxPingTimeout bounds the timeout parameter.
	maxPingTimeout = time.Minute
	// dialTimeout bounds connecting to a peer for /dial.
	dialTimeout = 10 * time.Second
	// upgradeProto is the Upgrade token of /dial.
	upgradeProto = "ward-dial"
)

// Backend is what the local API serves; the node agent implements it. Its
// methods are called from request goroutines, concurrently.
type Backend interface {
	// Status describes the node now.
	Status() Status
	// Ping probes peer through the overlay until it answers or ctx ends.
	Ping(ctx context.Context, peer string) (PingResult, error)
	// DialPeer opens a TCP connection to port on peer through the overlay.
	DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error)
}

// Logins is the desktop client's part of the local API: interactive
// login, logout and quit. A Backend that implements it gets the login
// routes (see the package comment); a device's agent does not. Its
// methods are called from request goroutines, concurrently.
type Logins interface {
	// StartLogin starts an interactive login and returns the page the
	// person opens; the daemon waits for the outcome by itself.
	StartLogin(ctx context.Context, req LoginRequest) (LoginStart, error)
	// WaitLogin waits until login id is done or ctx ends; an unknown id
	// is ErrUnknownLogin.
	WaitLogin(ctx context.Context, id string) (LoginResult, error)
	// Logout ends the session and tells the coordinator.
	Logout(ctx context.Context) LogoutResult
	// Quit makes the daemon stop; it does not wait for it.
	Quit()
}

// Listen creates the API's unix socket at path, replacing a stale socket
// left by an earlier run. The socket never has a wider mode than 0600
// where another user can reach it: Listen first makes path's directory
// (the state directory) this process's own with mode 0700, refusing one
// another user owns (ErrUntrusted), then binds, then sets the socket's
// mode to 0600. On Windows (AF_UNIX, Windows 10 1803 and later) the
// directory gets an access list for the user and SYSTEM alone, which the
// socket inherits (private_windows.go). (Binding under a temporary name and renaming would still
// show the umask's mode at the temporary name; setting the umask around
// the bind would change it for every goroutine of the process.)
func Listen(path string) (net.Listener, error) {
	if err := privateDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen on %s: another agent is running", path)
		}
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := restrictSocket(path); err != nil {
		l.Close()
		return nil, fmt.Errorf("restrict %s: %w", path, err)
	}
	return l, nil
}

// Serve serves the API on l, a listener from Listen (log may be nil:
// slog.Default()), until ctx is done, then shuts the server down, closes
// relayed /dial connections and returns once every request goroutine
// has. It refuses, before reading a request, connections of users other
// than its own and root where the OS tells who connects (Linux); it
// serves the login routes when b implements Logins. It returns nil when
// ctx ended it.
func Serve(ctx context.Context, l net.Listener, b Backend, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		return fmt.Errorf("serve local api on %s: not a unix socket", l.Addr())
	}
	s := &server{b: b, log: log, ctx: ctx}
	s.logins, _ = b.(Logins)
	err := ServeHTTP(ctx, newPeerListener(ul, log), s.routes())
	s.closeRelays()
	if err != nil {
		return fmt.Errorf("serve local api: %w", err)
	}
	return nil
}

// ServeHTTP serves h on l until ctx is done, then shuts the server down
// (waiting a little for requests under way) and returns nil; or the error
// that stopped it serving. The desktop client's status page is served
// with it too.
func ServeHTTP(ctx context.Context, l net.Listener, h http.Handler) error {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(l) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	hs.Close()
	if err == nil {
		err = <-errc
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// server holds the handlers.
type server struct {
	b Backend
	// logins serves the login routes; nil on a device's agent.
	logins Logins
	log    *slog.Logger
	ctx    context.Context
	// relays tracks hijacked /dial connections.
	relays sync.WaitGroup

	// mu guards the following.
	mu sync.Mutex
	// closed refuses new relays once Serve is shutting down.
	closed bool
}

// startRelay registers a relay; it reports false once Serve is shutting
// down.
func (s *server) startRelay() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.relays.Add(1)
	return true
}

// closeRelays refuses new relays and waits for running ones.
func (s *server) closeRelays() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.relays.Wait()
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("POST /ping", s.ping)
	mux.HandleFunc("POST /dial", s.dial)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("GET /login/wait", s.waitLogin)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("POST /quit", s.quit)
	return mux
}

func (s *server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Status())
}

func (s *server) ping(w http.ResponseWriter, r *http.Request) {
	timeout := DefaultPingTimeout
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > maxPingTimeout {
			writeError(w, http.StatusBadRequest, fmt.Errorf("bad timeout %q", v))
			return
		}
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	res, err := s.b.Ping(ctx, r.URL.Query().Get("peer"))
	if err != nil {
		writeError(w, StatusOf(err), err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// dial connects to the peer, then turns the request's connection into a
// byte stream to it (101 Switching Protocols).
func (s *server) dial(w http.ResponseWriter, r *http.Request) {
	peer := r.URL.Query().Get("peer")
	port, err := strconv.ParseUint(r.URL.Query().Get("port"), 10, 16)
	if err != nil || port == 0 || peer == "" {
		writeError(w, http.StatusBadRequest, errors.New("want peer=NAME|IP and port=1-65535"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	target, err := s.b.DialPeer(ctx, peer, uint16(port))
	cancel()
	if err != nil {
		s.log.Debug("local api dial", "peer", peer, "port", port, "err", err)
		writeError(w, StatusOf(err), err)
		return
	}
	defer target.Close()
	if !s.startRelay() {
		writeError(w, http.StatusServiceUnavailable, errors.New("shutting down"))
		return
	}
	defer s.relays.Done()
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close(); target.Close() })
	defer stop()
	c.SetDeadline(time.Time{})
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", upgradeProto)
	if err := brw.Flush(); err != nil {
		return
	}
	if err := splice.Join(s.ctx, &splice.BufferedConn{Conn: c, R: brw.Reader}, target, splice.Limits{}); err != nil {
		s.log.Debug("dial relay cut", "reason", err)
	}
}

// StatusOf maps a Backend error (a dial's, a ping's) to an HTTP status;
// the HTTP CONNECT proxy answers with it too.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrNoPeer), errors.Is(err, ErrUnknownLogin), errors.Is(err, errNotDesktop):
		return http.StatusNotFound
	case errors.Is(err, ErrNotReady):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrNotGranted):
		return http.StatusForbidden
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, apiError{Error: err.Error()})
}
