package node

import (
	"context"
	"errors"
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
func (k *deviceKeys) register(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		err := k.registerOnce(ctx)
		if err == nil || control.IsPermanent(err) || errors.Is(err, ErrNeedAuthKey) || ctx.Err() != nil {
			return err
		}
		d := k.cfg.Backoff.Delay(attempt)
		if ra, ok := control.RetryAfter(err); ok {
			d = max(d, ra)
		}
		k.log.Warn("register with the coordinator, retrying", "err", err, "in", d.Round(time.Millisecond))
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
func (k *deviceKeys) registerOnce(ctx context.Context) error {
	s, err := k.client.Session(ctx)
	if err != nil {
		return err
	}
	if s.Registered && s.NeedsApproval {
		return k.registerRevoked(ctx)
	}
	if s.Registered {
		k.mu.Lock()
		id, name := k.st.NodeID, k.st.Name
		k.mu.Unlock()
		k.log.Info("node registered", "node_id", id, "name", name)
		return nil
	}
	if k.cfg.AuthKey == "" {
		return ErrNeedAuthKey
	}
	k.mu.Lock()
	wg := k.st.WGKey.Public()
	k.mu.Unlock()
	n, err := k.client.Register(ctx, wire.RegisterRequest{AuthKey: k.cfg.AuthKey, WGKey: wg, Hostname: k.cfg.Hostname,
		OS: hostOS(), Version: k.cfg.Version, ExposedPorts: k.cfg.Expose})
	if err != nil {
		return err
	}
	k.log.Info("node registered", "node_id", n.ID, "name", n.Name, "ipv4", n.IPv4, "ipv6", n.IPv6)
	return k.updateState(func(st *State) {
		st.NodeID, st.Name, st.Coordinator = n.ID, n.Name, k.client.URL()
		st.KeyExpiry = n.KeyExpiry
	})
}

// registerRevoked handles a node whose key an admin revoked: with an auth
// key it registers again under a fresh WireGuard key (the revoked one is
// never used again); without one, or when the coordinator refuses the key,
// it runs on and waits for an admin's approval, after which it rotates.
func (k *deviceKeys) registerRevoked(ctx context.Context) error {
	const wait = "an admin revoked this node's key: waiting for an admin's approval (ward admin nodes approve) or a restart with a new --auth-key"
	if k.cfg.AuthKey == "" {
		k.log.Warn(wait)
		return nil
	}
	fresh, err := wire.NewWGPrivate()
	if err != nil {
		return err
	}
	// Saved first, as in a rotation: should the node stop after the
	// coordinator took the key, it announces the same key again on restart.
	if err := k.updateState(func(st *State) { st.NextWGKey, st.NextSwitchAt = fresh, time.Time{} }); err != nil {
		return err
	}
	n, err := k.client.Register(ctx, wire.RegisterRequest{AuthKey: k.cfg.AuthKey, WGKey: fresh.Public(), Hostname: k.cfg.Hostname,
		OS: hostOS(), Version: k.cfg.Version, ExposedPorts: k.cfg.Expose})
	if control.IsPermanent(err) {
		k.log.Warn(wait, "register_err", err)
		return nil
	}
	if err != nil {
		return err
	}
	k.log.Info("node registered again after its key was revoked", "node_id", n.ID, "name", n.Name, "new_key", fresh.Public().ShortString())
	if err := k.updateState(func(st *State) { st.NextSwitchAt, st.NextKeyExpiry = k.now(), n.KeyExpiry }); err != nil {
		return err
	}
	return k.switchKey()
}
