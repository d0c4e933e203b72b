package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/wardnet/ward/client/tunnel"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/localapi"
)

// SocketName is the client API's socket in the state directory; the node
// local API is served beside it on localapi.SocketName.
const SocketName = "client.sock"

// ErrNotLoggedIn means no session runs: log in with `ward up`.
var ErrNotLoggedIn = fmt.Errorf("not logged in (run `ward up`): %w", localapi.ErrNotReady)

// Daemon is the desktop client daemon. Create it with New and run it with
// Run (once).
type Daemon struct {
	cfg Config
	log *slog.Logger
	// wg tracks session goroutines and login waiters.
	wg sync.WaitGroup
	// ctx is Run's context, the parent of sessions and logins; quit ends
	// Run.
	ctx  context.Context
	quit context.CancelFunc

	// addrs are the served addresses, set by Run before anything is served.
	addrs servedAddrs

	// mu guards the following.
	mu sync.Mutex
	// st is the saved state; every change is saved.
	st *State
	// co talks to the coordinator; nil until one is known.
	co *coord
	// sess is the running session; nil when logged out.
	sess *session
	// login is the latest login, pending or finished; nil before the first.
	login *pendingLogin
	// ended says why the last session ended; expired tells whether by key
	// expiry.
	ended   string
	expired bool
}

// servedAddrs are the listeners' addresses as bound.
type servedAddrs struct {
	socks5, httpProxy, webURL string
}

// New loads (or creates) the state in cfg.StateDir. It does not contact
// the coordinator or listen on anything.
func New(cfg Config) (*Daemon, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	st, err := LoadOrCreateState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, st: st}
	url := cfg.Coordinator
	if url == "" {
		url = st.Coordinator
	}
	if url != "" {
		if d.co, err = newCoord(&d.cfg, url, st.MachineKey); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// SocketPath returns the client API socket's path.
func (d *Daemon) SocketPath() string { return filepath.Join(d.cfg.StateDir, SocketName) }

// newPlane makes the data plane for a session with key st.WGKey.
func (d *Daemon) newPlane(st SessionState) (plane, error) {
	if !d.cfg.TUN {
		return node.NewEngine(node.EngineConfig{PrivateKey: st.WGKey, Logger: d.log})
	}
	link, err := tunnel.New(d.cfg.TUNName, 0, d.log)
	if err != nil {
		return nil, err
	}
	e, err := node.NewEngine(node.EngineConfig{PrivateKey: st.WGKey, Logger: d.log, TUN: link.Open})
	if err != nil {
		return nil, err
	}
	return tunPlane{Engine: e, link: link}, nil
}

// tunPlane is a TUN-mode Engine with the Link that makes its TUN.
type tunPlane struct {
	*node.Engine
	link *tunnel.Link
}

// InterfaceName returns the TUN's name, "" before it runs.
func (p tunPlane) InterfaceName() string { return p.link.InterfaceName() }

// startSessionLocked starts a session for st, replacing any running one,
// and saves st. d.mu must be held.
func (d *Daemon) startSessionLocked(st SessionState) (*session, error) {
	d.stopSessionLocked()
	p, err := d.newPlane(st)
	if err != nil {
		return nil, err
	}
	d.st.Session, d.st.Coordinator = &st, d.co.base
	if err := d.st.Save(d.cfg.StateDir); err != nil {
		p.Close()
		d.st.Session = nil
		return nil, err
	}
	d.sess = startSession(d.ctx, &d.wg, d.co, p, st, d.log.With("node", st.Node.Name), d.sessionEnded)
	d.ended, d.expired = "", false
	d.log.Info("session started", "user", st.Node.User, "node", st.Node.Name, "key_expiry", st.KeyExpiry)
	return d.sess, nil
}

// stopSessionLocked stops the running session, if any, and forgets its
// key. d.mu must be held.
func (d *Daemon) stopSessionLocked() *session {
	s := d.sess
	if s == nil {
		return nil
	}
	d.sess = nil
	s.close()
	d.st.Session = nil
	if err := d.st.Save(d.cfg.StateDir); err != nil {
		d.log.Error("forget session key", "err", err)
	}
	return s
}

// sessionEnded is called by a session that ended by itself.
func (d *Daemon) sessionEnded(s *session, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != s {
		return
	}
	d.stopSessionLocked()
	d.ended = reason
	d.expired = !time.Now().Before(s.keyExpiry())
}

// resume restarts the saved session, if its key is still valid.
func (d *Daemon) resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st.Session
	if st == nil || d.co == nil {
		return
	}
	if !time.Now().Before(st.KeyExpiry) {
		d.log.Info("saved session has expired", "key_expiry", st.KeyExpiry)
		d.st.Session = nil
		d.ended, d.expired = fmt.Sprintf("the session's key expired at %s", st.KeyExpiry.Local().Format(time.RFC1123)), true
		if err := d.st.Save(d.cfg.StateDir); err != nil {
			d.log.Error("forget session key", "err", err)
		}
		return
	}
	if _, err := d.startSessionLocked(*st); err != nil {
		d.log.Error("resume session", "err", err)
	}
}

// current returns the running session, or nil.
func (d *Daemon) current() *session {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess
}

// Logout expires the session's key at the coordinator, stops the data
// plane and forgets the key. The key is forgotten even when the
// coordinator cannot be told; the result then carries a warning.
func (d *Daemon) Logout(ctx context.Context) LogoutResult {
	d.mu.Lock()
	d.cancelLoginLocked()
	s := d.stopSessionLocked()
	co := d.co
	d.ended, d.expired = "logged out", false
	d.mu.Unlock()
	if s == nil {
		return LogoutResult{}
	}
	res := LogoutResult{WasLoggedIn: true}
	if err := co.logout(ctx); err != nil {
		d.log.Warn("logout not acknowledged by the coordinator", "err", err)
		res.Warning = fmt.Sprintf("the coordinator was not told (%v); the key still expires at %s",
			err, s.keyExpiry().Local().Format(time.RFC1123))
	}
	d.log.Info("logged out", "node", s.node.Name)
	return res
}

// Status implements localapi.Backend: the running session's data plane,
// or an empty status when logged out.
func (d *Daemon) Status() localapi.Status {
	s := d.current()
	if s == nil {
		st := localapi.Status{Peers: []localapi.Peer{}}
		d.mu.Lock()
		if d.co != nil {
			st.Coordinator = d.co.base
		}
		d.mu.Unlock()
		return st
	}
	st := s.plane.Status()
	st.Coordinator = s.co.base
	st.Connected = s.connected.Load()
	return st
}

// Ping implements localapi.Backend.
func (d *Daemon) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	s := d.current()
	if s == nil {
		return localapi.PingResult{}, ErrNotLoggedIn
	}
	return s.plane.Ping(ctx, peer)
}

// DialPeer implements localapi.Backend; the proxies dial through it too.
func (d *Daemon) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	s := d.current()
	if s == nil {
		return nil, ErrNotLoggedIn
	}
	c, err := s.plane.DialPeer(ctx, peer, port)
	if err != nil && errors.Is(err, node.ErrClosed) {
		return nil, ErrNotLoggedIn
	}
	return c, err
}

var _ localapi.Backend = (*Daemon)(nil)
