package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wardnet/ward/node/control"
	"github.com/wardnet/ward/wire"
)

const (
	// rotateRetry is the wait before a failed rotation is tried again.
	rotateRetry = 30 * time.Second
	// refusedRetry is the wait after the coordinator refused a rotation
	// (403: an admin expired or removed the node) before it is asked
	// again.
	refusedRetry = 10 * time.Minute
	// kickFloor is the least wait after a failed rotation (but a 429)
	// before a change of the node in the map (an admin's approval, a new
	// expiry) ends the wait early: one map change makes one new attempt,
	// never a loop.
	kickFloor = time.Second
	// minRetryAfter is the least wait after a 429, whatever Retry-After
	// says.
	minRetryAfter = time.Second
)

// rotateLoop rotates the WireGuard key on schedule until ctx is done: it
// announces a new key when the current one is due, switches to it when
// the coordinator said, and retries failures, long after a refusal.
//
// Every time here is on the node's clock (AgentConfig.Clock); the
// control client converts the coordinator's.
func (k *deviceKeys) rotateLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if !k.waitRotateStep(ctx) {
			continue
		}
		err := k.rotateStep(ctx, k.now())
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			continue
		}
		wait, early := k.rotateFailed(err)
		if !k.waitRetry(ctx, wait, early) {
			return
		}
	}
}

// rotateFailed logs a failed rotation step and returns the wait before
// the next, and how long a change of the node in the map must wait to
// end it early (0: it may not). A refusal (403) waits long and is logged
// once per reason; a 429 waits what the coordinator asked, map changes
// or not.
func (k *deviceKeys) rotateFailed(err error) (wait, early time.Duration) {
	if reason, ok := control.Refusal(err); ok {
		if old := k.refused.Swap(&reason); old == nil || *old != reason {
			k.log.Warn("coordinator refused to rotate this node's key; its key will lapse", "reason", reason, "retry_in", refusedRetry)
		} else {
			k.log.Debug("key rotation refused again", "reason", reason, "retry_in", refusedRetry)
		}
		return refusedRetry, kickFloor
	}
	wait, early = rotateRetry, kickFloor
	if errors.Is(err, control.ErrRateLimited) {
		early = 0
	}
	if d, ok := control.RetryAfter(err); ok {
		wait, early = max(d, minRetryAfter), 0
	}
	k.log.Warn("rotate wireguard key", "err", err, "retry_in", wait)
	return wait, early
}

// waitRetry waits d, or, when early > 0, until the rotator is kicked (the
// node changed in the map) once early has passed. It reports false when
// ctx ended.
func (k *deviceKeys) waitRetry(ctx context.Context, d, early time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var earlyC <-chan time.Time
	if early > 0 {
		e := time.NewTimer(early)
		defer e.Stop()
		earlyC = e.C
	}
	kicked, passed := false, false
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-earlyC:
			if kicked {
				return true
			}
			passed = true
		case <-k.kickRotate:
			if passed {
				return true
			}
			kicked = early > 0
		}
	}
}

// waitRotateStep waits until the next rotation step is due and reports
// whether it is; false when ctx ended or the schedule may have changed.
func (k *deviceKeys) waitRotateStep(ctx context.Context) bool {
	at, ok := k.nextRotateStep(k.now())
	var timer <-chan time.Time
	if ok {
		t := time.NewTimer(at.Sub(k.now()))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-k.kickRotate:
		return false
	case <-timer:
		return true
	}
}

// nextRotateStep returns when the rotator must act next: the pending
// key's switch time, now for a pending key not yet accepted, or the
// current key's rotation time; ok is false when no rotation is scheduled.
func (k *deviceKeys) nextRotateStep(now time.Time) (time.Time, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.st
	if st.hasNext() {
		if st.NextSwitchAt.IsZero() {
			return now, true
		}
		return st.NextSwitchAt, true
	}
	return rotationTime(st.WGKeyCreated, k.keyExpiryLocked(), k.cfg.RotateEvery, k.cfg.RotateFraction)
}

// keyExpiryLocked is the current key's expiry: the map's, else the state's.
func (k *deviceKeys) keyExpiryLocked() time.Time {
	if self := k.eng.Self(); self.ID != 0 && self.WGKey == k.st.WGKey.Public() && !self.KeyExpiry.IsZero() {
		return self.KeyExpiry
	}
	return k.st.KeyExpiry
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
func (k *deviceKeys) rotateStep(ctx context.Context, now time.Time) error {
	k.mu.Lock()
	hasNext, switchAt, next := k.st.hasNext(), k.st.NextSwitchAt, k.st.NextWGKey
	k.mu.Unlock()
	switch {
	case hasNext && !switchAt.IsZero():
		if now.Before(switchAt) {
			return nil
		}
		return k.switchKey()
	case hasNext:
		return k.announce(ctx, next)
	}
	at, ok := k.nextRotateStep(now)
	if !ok || now.Before(at) {
		return nil
	}
	fresh, err := wire.NewWGPrivate()
	if err != nil {
		return err
	}
	// Saved before it is announced, so a crash cannot lose a key the
	// coordinator has already given to the peers.
	if err := k.updateState(func(st *State) { st.NextWGKey = fresh }); err != nil {
		return err
	}
	return k.announce(ctx, fresh)
}

// announce sends the next key to the coordinator and records when to
// switch to it.
func (k *deviceKeys) announce(ctx context.Context, next wire.WGPrivate) error {
	rot, err := k.client.Rotate(ctx, next.Public())
	if err != nil {
		return err
	}
	if k.refused.Swap(nil) != nil {
		k.log.Info("coordinator accepts this node's key rotation again")
	}
	k.log.Info("wireguard key rotation announced", "new_key", next.Public().ShortString(), "switch_at", rot.SwitchAt, "key_expiry", rot.KeyExpiry)
	return k.updateState(func(st *State) { st.NextSwitchAt, st.NextKeyExpiry = rot.SwitchAt, rot.KeyExpiry })
}

// switchKey makes the device use the pending key.
func (k *deviceKeys) switchKey() error {
	k.mu.Lock()
	next := k.st.NextWGKey
	k.mu.Unlock()
	if err := k.eng.SetPrivateKey(next); err != nil {
		return fmt.Errorf("switch key: %w", err)
	}
	k.log.Info("wireguard key switched", "key", next.Public().ShortString())
	return k.updateState(func(st *State) { st.promote() })
}

// promoteIfDue switches to a pending key whose switch time passed while
// the agent was not running.
func (k *deviceKeys) promoteIfDue(now time.Time) error {
	k.mu.Lock()
	due := k.st.hasNext() && !k.st.NextSwitchAt.IsZero() && !now.Before(k.st.NextSwitchAt)
	k.mu.Unlock()
	if !due {
		return nil
	}
	return k.updateState(func(st *State) { st.promote() })
}
