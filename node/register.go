package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

// ErrNeedAuthKey means the node is not registered and has no auth key.
var ErrNeedAuthKey = errors.New("node is not registered with the coordinator: pass --auth-key or set WARD_AUTH_KEY")

// register opens a session and registers the node when the coordinator
// does not know it, retrying with backoff while the coordinator is
// unreachable or answers with a server error (which the logged error
// tells apart) or 429, waiting at least what its Retry-After says. A
// refusal (bad key, ...) is returned.
func (a *Agent) register(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := a.registerOnce(ctx)
		if err == nil || control.IsPermanent(err) || errors.Is(err, ErrNeedAuthKey) || ctx.Err() != nil {
			return err
		}
		d := a.cfg.Backoff.Delay(attempt)
		if ra, ok := control.RetryAfter(err); ok {
			d = max(d, ra)
		}
		a.log.Warn("register with the coordinator, retrying", "err", err, "in", d.Round(time.Millisecond))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// registerOnce registers the node if the coordinator says it is not.
func (a *Agent) registerOnce(ctx context.Context) error {
	s, err := a.client.Session(ctx)
	if err != nil {
		return err
	}
	if s.Registered && s.NeedsApproval {
		return a.registerRevoked(ctx)
	}
	if s.Registered {
		a.mu.Lock()
		id, name := a.st.NodeID, a.st.Name
		a.mu.Unlock()
		a.log.Info("node registered", "node_id", id, "name", name)
		return nil
	}
	if a.cfg.AuthKey == "" {
		return ErrNeedAuthKey
	}
	a.mu.Lock()
	wg := a.st.WGKey.Public()
	a.mu.Unlock()
	n, err := a.client.Register(ctx, wire.RegisterRequest{AuthKey: a.cfg.AuthKey, WGKey: wg, Hostname: a.cfg.Hostname,
		OS: hostOS(), Version: a.cfg.Version, ExposedPorts: a.cfg.Expose})
	if err != nil {
		return err
	}
	a.log.Info("node registered", "node_id", n.ID, "name", n.Name, "ipv4", n.IPv4, "ipv6", n.IPv6)
	return a.updateState(func(st *State) {
		st.NodeID, st.Name, st.Coordinator = n.ID, n.Name, a.client.URL()
		st.KeyExpiry = n.KeyExpiry
	})
}

// updateState changes the state with fn and saves it.
func (a *Agent) updateState(fn func(*State)) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a.st)
	if err := a.st.Save(a.cfg.StateDir); err != nil {
		return fmt.Errorf("update state: %w", err)
	}
	return nil
}

// registerRevoked handles a node whose key an admin revoked: with an auth
// key it registers again under a fresh WireGuard key (the revoked one is
// never used again); without one, or when the coordinator refuses the key,
// it runs on and waits for an admin's approval, after which it rotates.
func (a *Agent) registerRevoked(ctx context.Context) error {
	const wait = "an admin revoked this node's key: waiting for an admin's approval (ward admin nodes approve) or a restart with a new --auth-key"
	if a.cfg.AuthKey == "" {
		a.log.Warn(wait)
		return nil
	}
	k, err := wire.NewWGPrivate()
	if err != nil {
		return err
	}
	// Saved first, as in a rotation: should the node stop after the
	// coordinator took the key, it announces the same key again on restart.
	if err := a.updateState(func(st *State) { st.NextWGKey, st.NextSwitchAt = k, time.Time{} }); err != nil {
		return err
	}
	n, err := a.client.Register(ctx, wire.RegisterRequest{AuthKey: a.cfg.AuthKey, WGKey: k.Public(), Hostname: a.cfg.Hostname,
		OS: hostOS(), Version: a.cfg.Version, ExposedPorts: a.cfg.Expose})
	if control.IsPermanent(err) {
		a.log.Warn(wait, "register_err", err)
		return nil
	}
	if err != nil {
		return err
	}
	a.log.Info("node registered again after its key was revoked", "node_id", n.ID, "name", n.Name, "new_key", k.Public().ShortString())
	if err := a.updateState(func(st *State) { st.NextSwitchAt, st.NextKeyExpiry = a.now(), n.KeyExpiry }); err != nil {
		return err
	}
	return a.switchKey()
}
