package node

import (
	"context"
	"fmt"
	"time"

	"github.com/wardnet/ward/wire"
)

// rotateRetry is the wait before a failed rotation is tried again.
const rotateRetry = 30 * time.Second

// rotateLoop rotates the WireGuard key on schedule until ctx is done: it
// announces a new key when the current one is due, switches to it at the
// coordinator's SwitchAt, and retries failures.
func (a *Agent) rotateLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if !a.waitRotateStep(ctx) {
			continue
		}
		if err := a.rotateStep(ctx, time.Now()); err != nil && ctx.Err() == nil {
			a.log.Warn("rotate wireguard key", "err", err, "retry_in", rotateRetry)
			// A change of the node's own record (an admin's approval, a
			// new expiry) ends the wait early.
			t := time.NewTimer(rotateRetry)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-a.kickRotate:
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// waitRotateStep waits until the next rotation step is due and reports
// whether it is; false when ctx ended or the schedule may have changed.
func (a *Agent) waitRotateStep(ctx context.Context) bool {
	at, ok := a.nextRotateStep(time.Now())
	var timer <-chan time.Time
	if ok {
		t := time.NewTimer(time.Until(at))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-a.kickRotate:
		return false
	case <-timer:
		return true
	}
}

// nextRotateStep returns when the rotator must act next: the pending
// key's switch time, now for a pending key not yet accepted, or the
// current key's rotation time; ok is false when no rotation is scheduled.
func (a *Agent) nextRotateStep(now time.Time) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.st
	if st.hasNext() {
		if st.NextSwitchAt.IsZero() {
			return now, true
		}
		return st.NextSwitchAt, true
	}
	return rotationTime(st.WGKeyCreated, a.keyExpiryLocked(), a.cfg.RotateEvery, a.cfg.RotateFraction)
}

// keyExpiryLocked is the current key's expiry: the map's, else the state's.
func (a *Agent) keyExpiryLocked() time.Time {
	if self := a.eng.Self(); self.ID != 0 && self.WGKey == a.st.WGKey.Public() && !self.KeyExpiry.IsZero() {
		return self.KeyExpiry
	}
	return a.st.KeyExpiry
}

// rotationTime is when a key made at created, expiring at expiry (zero:
// never), is rotated: after fraction of its life, or after every (0:
// never), whichever comes first.
func rotationTime(created, expiry time.Time, every time.Duration, fraction float64) (time.Time, bool) {
	var at time.Time
	if !expiry.IsZero() && expiry.After(created) {
		at = created.Add(time.Duration(float64(expiry.Sub(created)) * fraction))
	}
	if every > 0 {
		at = earliest(at, created.Add(every))
	}
	return at, !at.IsZero()
}

// rotateStep does what is due at now: switch to the pending key, announce
// the pending key, or start a rotation.
func (a *Agent) rotateStep(ctx context.Context, now time.Time) error {
	a.mu.Lock()
	hasNext, switchAt, next := a.st.hasNext(), a.st.NextSwitchAt, a.st.NextWGKey
	a.mu.Unlock()
	switch {
	case hasNext && !switchAt.IsZero():
		if now.Before(switchAt) {
			return nil
		}
		return a.switchKey()
	case hasNext:
		return a.announce(ctx, next)
	}
	at, ok := a.nextRotateStep(now)
	if !ok || now.Before(at) {
		return nil
	}
	k, err := wire.NewWGPrivate()
	if err != nil {
		return err
	}
	// Saved before it is announced, so a crash cannot lose a key the
	// coordinator has already given to the peers.
	if err := a.updateState(func(st *State) { st.NextWGKey = k }); err != nil {
		return err
	}
	return a.announce(ctx, k)
}

// announce sends the next key to the coordinator and records SwitchAt.
func (a *Agent) announce(ctx context.Context, next wire.WGPrivate) error {
	resp, err := a.client.Rotate(ctx, next.Public())
	if err != nil {
		return err
	}
	if resp.SwitchAt.IsZero() {
		resp.SwitchAt = time.Now()
	}
	a.log.Info("wireguard key rotation announced", "new_key", next.Public().ShortString(), "switch_at", resp.SwitchAt, "key_expiry", resp.KeyExpiry)
	return a.updateState(func(st *State) { st.NextSwitchAt, st.NextKeyExpiry = resp.SwitchAt, resp.KeyExpiry })
}

// switchKey makes the device use the pending key.
func (a *Agent) switchKey() error {
	a.mu.Lock()
	next := a.st.NextWGKey
	a.mu.Unlock()
	if err := a.eng.SetPrivateKey(next); err != nil {
		return fmt.Errorf("switch key: %w", err)
	}
	a.log.Info("wireguard key switched", "key", next.Public().ShortString())
	return a.updateState(func(st *State) { st.promote() })
}

// promoteIfDue switches to a pending key whose switch time passed while
// the agent was not running.
func (a *Agent) promoteIfDue(now time.Time) error {
	a.mu.Lock()
	due := a.st.hasNext() && !a.st.NextSwitchAt.IsZero() && !now.Before(a.st.NextSwitchAt)
	a.mu.Unlock()
	if !due {
		return nil
	}
	return a.updateState(func(st *State) { st.promote() })
}
