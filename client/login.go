package client

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/wardnet/ward/node"
	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/node/localapi"
	"github.com/wardnet/ward/wire"
)

// Login errors.
var (
	// ErrNoCoordinator means no coordinator URL is known yet.
	ErrNoCoordinator = errors.New("no coordinator url: pass --coordinator")
	// ErrOtherCoordinator means a session with another coordinator runs.
	ErrOtherCoordinator = errors.New("logged in to another coordinator: run `ward down` first")
)

// pendingLogin is one interactive login. Its fields are set before done
// is closed and not changed after.
type pendingLogin struct {
	id  string
	url string
	// code is what the coordinator's confirmation page must show.
	code    string
	expires time.Time
	key     wire.WGPrivate
	cancel  context.CancelFunc
	done    chan struct{}
	result  localapi.LoginResult
}

// finish records the result once.
func (p *pendingLogin) finish(r localapi.LoginResult) {
	select {
	case <-p.done:
	default:
		p.result = r
		close(p.done)
	}
}

// StartLogin implements localapi.Logins: it starts an interactive login
// with a fresh WireGuard key and returns the URL the person opens. The
// daemon then waits for the outcome by itself; WaitLogin reports it. A
// running session is kept (and reported with LoggedIn) unless req.Force.
func (d *Daemon) StartLogin(ctx context.Context, req localapi.LoginRequest) (localapi.LoginStart, error) {
	ctrl, err := d.prepareLogin(req)
	if err != nil || ctrl == nil {
		return localapi.LoginStart{LoggedIn: err == nil}, err
	}
	key, err := wire.NewWGPrivate()
	if err != nil {
		return localapi.LoginStart{}, err
	}
	resp, err := ctrl.Login(ctx, wire.LoginRequest{WGKey: key.Public(), Hostname: d.cfg.Hostname,
		OS: runtime.GOOS + "/" + runtime.GOARCH, Version: d.cfg.Version})
	if err != nil {
		return localapi.LoginStart{}, err
	}
	lctx, cancel := context.WithDeadline(d.ctx, resp.Expires)
	p := &pendingLogin{id: resp.ID, url: resp.URL, code: resp.Code, expires: resp.Expires, key: key, cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.cancelLoginLocked()
	d.login = p
	d.mu.Unlock()
	d.wg.Go(func() {
		defer cancel()
		d.followLogin(lctx, ctrl, p)
	})
	d.log.Info("login started", "expires", resp.Expires)
	return localapi.LoginStart{ID: p.id, URL: p.url, Code: p.code, Expires: p.expires}, nil
}

// prepareLogin picks the coordinator for a login: nil (and no error) when
// a session runs and req does not force a new login.
func (d *Daemon) prepareLogin(req localapi.LoginRequest) (*control.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if req.Coordinator != "" && (d.ctrl == nil || d.ctrl.URL() != trimURL(req.Coordinator)) {
		if d.sess != nil {
			return nil, fmt.Errorf("%w (%s)", ErrOtherCoordinator, d.ctrl.URL())
		}
		ctrl, err := d.newControl(req.Coordinator)
		if err != nil {
			return nil, err
		}
		d.ctrl = ctrl
	}
	if d.ctrl == nil {
		return nil, ErrNoCoordinator
	}
	if d.sess != nil && !req.Force {
		return nil, nil
	}
	return d.ctrl, nil
}

// trimURL is a coordinator URL without its trailing slashes.
func trimURL(u string) string { return strings.TrimRight(u, "/") }

// cancelLoginLocked abandons a pending login. d.mu must be held.
func (d *Daemon) cancelLoginLocked() {
	if p := d.login; p != nil {
		p.cancel()
	}
}

// followLogin polls the coordinator until the login is done, refused,
// lapsed or cancelled, and on success starts the session.
func (d *Daemon) followLogin(ctx context.Context, ctrl *control.Client, p *pendingLogin) {
	res, err := d.pollLogin(ctx, ctrl, p.id)
	switch {
	case err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		p.finish(localapi.LoginResult{Error: "the login was not completed in time; run `ward up` again"})
	case err != nil:
		p.finish(localapi.LoginResult{Error: fmt.Sprintf("login abandoned: %v", err)})
	case res.Error != "":
		d.log.Info("login refused", "reason", res.Error)
		p.finish(localapi.LoginResult{Error: "login refused: " + res.Error})
	case res.Node == nil || res.Node.WGKey != p.key.Public():
		p.finish(localapi.LoginResult{Error: "login refused: the coordinator answered for another key"})
	default:
		p.finish(d.loggedIn(ctx, p, *res.Node))
	}
}

// pollLogin long-polls the login's outcome until there is one, retrying
// transient failures with backoff.
func (d *Daemon) pollLogin(ctx context.Context, ctrl *control.Client, id string) (wire.LoginResult, error) {
	attempt := 0
	for {
		res, err := ctrl.WaitLogin(ctx, id)
		if err == nil && res.Done {
			return res, nil
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err == nil {
			attempt = 0
			continue
		}
		if control.IsPermanent(err) {
			return res, err
		}
		t := time.NewTimer(d.cfg.Backoff.Delay(attempt))
		attempt++
		select {
		case <-ctx.Done():
			t.Stop()
			return res, ctx.Err()
		case <-t.C:
		}
	}
}

// loggedIn starts the session of a successful login and waits (a little)
// for its first map, so the data plane is ready when the person is told.
func (d *Daemon) loggedIn(ctx context.Context, p *pendingLogin, n wire.Node) localapi.LoginResult {
	d.mu.Lock()
	if d.login != p || ctx.Err() != nil {
		d.mu.Unlock()
		return localapi.LoginResult{Error: "login superseded by a newer one"}
	}
	s, err := d.startSessionLocked(node.SessionState{WGKey: p.key, KeyExpiry: n.KeyExpiry, Node: n}, false)
	d.mu.Unlock()
	if err != nil {
		return localapi.LoginResult{Error: fmt.Sprintf("start the session: %v", err)}
	}
	ready := s.WaitFirstMap(ctx, d.cfg.FirstMapWait)
	return localapi.LoginResult{User: n.User, Node: n.Name, IPv4: n.IPv4, IPv6: n.IPv6, KeyExpiry: s.KeyExpiry(), Ready: ready}
}

// WaitLogin implements localapi.Logins: it waits until login id is done
// or ctx ends.
func (d *Daemon) WaitLogin(ctx context.Context, id string) (localapi.LoginResult, error) {
	d.mu.Lock()
	p := d.login
	d.mu.Unlock()
	if p == nil || p.id != id {
		return localapi.LoginResult{}, localapi.ErrUnknownLogin
	}
	select {
	case <-p.done:
		return p.result, nil
	case <-ctx.Done():
		return localapi.LoginResult{}, ctx.Err()
	}
}
