package client

import (
	"context"
	"fmt"
	"time"
)

// ExpiryWarning is how long before the session's key expires the person
// is told to log in again.
const ExpiryWarning = 10 * time.Minute

// warnAt returns when to warn of a key expiring at expiry: ExpiryWarning
// before, or now when less is left.
func warnAt(expiry, now time.Time) time.Time {
	return maxTime(expiry.Add(-ExpiryWarning), now)
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// warnExpiry tells the person, in the log and through Config.Notify, once
// the key of s has ExpiryWarning or less left, unless ctx (the session's
// warning, ended with the session) ends first. A later expiry set by the
// coordinator meanwhile moves the warning.
func (d *Daemon) warnExpiry(ctx context.Context, s *session) {
	for {
		exp := s.KeyExpiry()
		if exp.IsZero() || !time.Now().Before(exp) {
			return
		}
		t := time.NewTimer(time.Until(warnAt(exp, time.Now())))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if s.KeyExpiry().Equal(exp) {
			d.notifyExpiry(exp)
			return
		}
	}
}

// notifyExpiry says that the key expires at exp.
func (d *Daemon) notifyExpiry(exp time.Time) {
	left := max(1, int(time.Until(exp).Round(time.Minute).Minutes()))
	body := fmt.Sprintf("Your Ward key expires in %d minutes (at %s): log in again with `ward login`.", left, exp.Local().Format(time.Kitchen))
	d.log.Warn("session key expires soon: log in again", "key_expiry", exp)
	if d.cfg.Notify == nil {
		return
	}
	if err := d.cfg.Notify("Ward: log in again", body); err != nil {
		d.log.Warn("could not show the expiry notification", "err", err)
	}
}
