package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/wardnet/ward/client/tunnel"
	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
)

// ErrNotLoggedIn means no session runs: log in with `ward up`.
var ErrNotLoggedIn = fmt.Errorf("not logged in (run `ward up`): %w", localapi.ErrNotReady)

// Daemon is the desktop client daemon. Create it with New and run it with
// Run (once).
type Daemon struct {
	cfg Config
	log *slog.Logger
	// wg tracks sessions and login waiters.
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
	st *node.PersonState
	// ctrl talks to the coordinator; nil until one is known.
	ctrl *control.Client
	// sess is the running session; nil when logged out.
	sess *session
	// login is the latest login, pending or finished; nil before the first.
	login *pendingLogin
	// ended says why the last session ended, and endState how:
	// StateExpired, StateDisabled, or StateLoggedOut for any other way.
	ended    string
	endState localapi.LoginState
}

// session is a running login: the node session over the login's key, and
// the TUN link in TUN mode.
type session struct {
	*node.Session
	// login is the login's key, expiry and node, as saved.
	login node.SessionState
	// link makes the TUN; nil in userspace mode.
	link *tunnel.Link
	// stopWarn ends the session's expiry warning (warnExpiry).
	stopWarn context.CancelFunc
	// stopDNS ends the session's overlay resolver (runDNS); a no-op
	// without TUN.
	stopDNS context.CancelFunc
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
	st, err := node.LoadOrCreatePersonState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, log: cfg.Logger, st: st}
	url := cfg.Coordinator
	switch {
	case st.Session != nil && st.Coordinator != "":
		// The saved login is resumed with the coordinator that made it
		// (its node and key are that one's); logging in to another takes
		// a logout first, as when the session runs.
		if cfg.Coordinator != "" && trimURL(cfg.Coordinator) != trimURL(st.Coordinator) {
			d.log.Warn("the saved login is with another coordinator: resuming it there; `ward down` first to log in to this one",
				"login_coordinator", st.Coordinator, "coordinator", cfg.Coordinator)
		}
		url = st.Coordinator
	case url == "":
		url = st.Coordinator
	}
	if url != "" {
		if d.ctrl, err = d.newControl(url); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// newControl prepares a control client for the coordinator at url; it
// does not connect.
func (d *Daemon) newControl(url string) (*control.Client, error) {
	return control.New(control.Config{URL: url, AllowInsecureHTTP: d.cfg.AllowInsecureHTTP, CAFile: d.cfg.CAFile,
		MachineKey: d.st.MachineKey, Logger: d.cfg.Logger, Backoff: d.cfg.Backoff})
}

// SocketPath returns the local API socket's path.
func (d *Daemon) SocketPath() string { return filepath.Join(d.cfg.StateDir, localapi.SocketName) }

// startSessionLocked starts a session for the login st, replacing any
// running one, and saves st; resume tells that st is the saved login,
// resumed after a restart (see node.PersonSessionConfig.Resume). d.mu
// must be held.
func (d *Daemon) startSessionLocked(st node.SessionState, resume bool) (*session, error) {
	d.stopSessionLocked()
	s := &session{login: st}
	var tun node.TUNFunc
	var tunRoutes func([]netip.Prefix) error
	if d.cfg.TUN {
		var err error
		if s.link, err = tunnel.New(d.cfg.TUNName, 0, d.log); err != nil {
			return nil, err
		}
		tun, tunRoutes = s.link.Open, s.link.SetRoutes
	}
	ns, err := node.NewPersonSession(node.PersonSessionConfig{StateDir: d.cfg.StateDir, Client: d.ctrl, Login: st, Resume: resume, TUN: tun, TUNRoutes: tunRoutes,
		FlowPoll: d.cfg.FlowPoll, FlowWindow: d.cfg.FlowWindow, Logger: d.log.With("node", st.Node.Name)})
	if err != nil {
		return nil, err
	}
	s.Session = ns
	d.st.Session, d.st.Coordinator = &st, d.ctrl.URL()
	if err := d.st.Save(d.cfg.StateDir); err != nil {
		ns.Close()
		d.st.Session = nil
		return nil, err
	}
	d.sess = s
	d.wg.Go(func() { d.sessionEnded(s, s.Run(d.ctx)) })
	var wctx context.Context
	wctx, s.stopWarn = context.WithCancel(d.ctx)
	d.wg.Go(func() { d.warnExpiry(wctx, s) })
	s.stopDNS = func() {}
	if s.link != nil {
		dctx, cancel := context.WithCancel(d.ctx)
		done := make(chan struct{})
		d.wg.Go(func() {
			defer close(done)
			d.runDNS(dctx, s)
		})
		// Waits for the resolver's installation to be taken away, so the
		// next session's finds the system's files as they were.
		s.stopDNS = func() { cancel(); <-done }
	}
	d.ended, d.endState = "", localapi.StateLoggedOut
	d.log.Info("session started", "user", st.Node.User, "node", st.Node.Name, "key_expiry", st.KeyExpiry)
	return s, nil
}

// stopSessionLocked stops the running session, if any (its data plane at
// once), and forgets its key. d.mu must be held.
func (d *Daemon) stopSessionLocked() *session {
	s := d.sess
	if s == nil {
		return nil
	}
	d.sess = nil
	s.stopWarn()
	s.stopDNS()
	s.Close()
	d.st.Session = nil
	if err := d.st.Save(d.cfg.StateDir); err != nil {
		d.log.Error("forget session key", "err", err)
	}
	return s
}

// sessionEnded is called when the Run of s returned with err. A session
// that ended by itself (key expiry, re-keyed elsewhere: an *node.EndError)
// is forgotten, and its reason shown in the status; one stopped by the
// daemon (a logout, a new login, the daemon's end) was dealt with by
// whoever stopped it, and its key is kept for the next start.
func (d *Daemon) sessionEnded(s *session, err error) {
	var end *node.EndError
	if !errors.As(err, &end) {
		if err != nil {
			d.log.Error("session stopped", "err", err)
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.sess != s {
		return
	}
	d.stopSessionLocked()
	d.ended, d.endState = end.Reason, localapi.StateLoggedOut
	switch {
	case end.OwnerDisabled:
		d.endState = localapi.StateDisabled
	case !time.Now().Before(s.KeyExpiry()):
		d.endState = localapi.StateExpired
	}
}

// resume restarts the saved session, if its key is still valid.
func (d *Daemon) resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st.Session
	if st == nil || d.ctrl == nil {
		return
	}
	if !time.Now().Before(st.KeyExpiry) {
		d.log.Info("saved session has expired", "key_expiry", st.KeyExpiry)
		d.st.Session = nil
		d.ended, d.endState = fmt.Sprintf("the session's key expired at %s", st.KeyExpiry.Local().Format(time.RFC1123)), localapi.StateExpired
		if err := d.st.Save(d.cfg.StateDir); err != nil {
			d.log.Error("forget session key", "err", err)
		}
		return
	}
	if _, err := d.startSessionLocked(*st, true); err != nil {
		d.log.Error("resume session", "err", err)
	}
}

// current returns the running session, or nil.
func (d *Daemon) current() *session {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sess
}

// Logout implements localapi.Logins: it expires the session's key at the
// coordinator, stops the data plane and forgets the key. The key is
// forgotten even when the coordinator cannot be told; the result then
// carries a warning.
func (d *Daemon) Logout(ctx context.Context) localapi.LogoutResult {
	d.mu.Lock()
	d.cancelLoginLocked()
	s := d.stopSessionLocked()
	ctrl := d.ctrl
	d.ended, d.endState = "logged out", localapi.StateLoggedOut
	d.mu.Unlock()
	if s == nil {
		return localapi.LogoutResult{}
	}
	res := localapi.LogoutResult{WasLoggedIn: true}
	if err := ctrl.Logout(ctx); err != nil {
		d.log.Warn("logout not acknowledged by the coordinator", "err", err)
		res.Warning = fmt.Sprintf("the coordinator was not told (%v); the key still expires at %s",
			err, s.KeyExpiry().Local().Format(time.RFC1123))
	}
	d.log.Info("logged out", "node", s.login.Node.Name)
	return res
}

// Quit implements localapi.Logins: Run returns.
func (d *Daemon) Quit() { d.quit() }

// Ping implements localapi.Backend.
func (d *Daemon) Ping(ctx context.Context, peer string) (localapi.PingResult, error) {
	s := d.current()
	if s == nil {
		return localapi.PingResult{}, ErrNotLoggedIn
	}
	return s.Engine().Ping(ctx, peer)
}

// DialPeer implements localapi.Backend; the proxies dial through it too.
func (d *Daemon) DialPeer(ctx context.Context, peer string, port uint16) (net.Conn, error) {
	s := d.current()
	if s == nil {
		return nil, ErrNotLoggedIn
	}
	c, err := s.Engine().DialPeer(ctx, peer, port)
	if err != nil && errors.Is(err, node.ErrClosed) {
		return nil, ErrNotLoggedIn
	}
	return c, err
}

var (
	_ localapi.Backend = (*Daemon)(nil)
	_ localapi.Logins  = (*Daemon)(nil)
)
