package update

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// A Ward update is a state machine across restarts, recorded in
// trialFile before every step that a crash could interrupt (see
// ARCHITECTURE.md, "Updates over the air"):
//
//	staged (exe.new ran --version) -> backup (exe.prev) -> trial saved ->
//	exe.new renamed over exe -> restart -> [new binary] boots++ ->
//	joined within the window: healthy, trial cleared
//	not joined, or boots > maxBoots: rolled_back saved -> exe.prev renamed
//	over exe -> restart -> [previous binary] reports rolled_back, clears.

// swap puts the verified new binary in place of the running one, records
// the trial and asks for a restart (ErrRestart).
func (u *Updater) swap(ctx context.Context, a wire.UpdateAssignment, c release.Custom, file string, rep *reporter) error {
	exe := u.cfg.Exe
	next, prev := u.files.paths(exe)
	err := stage(ctx, file, next, c.Version)
	os.Remove(file)
	if err != nil {
		return rep.final(ctx, wire.UpdateFailed, err.Error(), "")
	}
	if err := u.files.backup(exe, prev); err != nil {
		os.Remove(next)
		return rep.final(ctx, wire.UpdateFailed, err.Error(), "")
	}
	t := &trial{Rollout: a.Rollout, Target: a.Target, Version: c.Version, Previous: u.cfg.Version, Exe: exe, Backup: prev,
		Deadline: time.Now().Add(u.cfg.HealthWindow), Phase: phaseTrial}
	if err := saveTrial(u.cfg.StateDir, t); err != nil {
		os.Remove(next)
		return rep.final(ctx, wire.UpdateFailed, err.Error(), "")
	}
	if err := u.files.swapIn(next, exe, prev); err != nil {
		os.Remove(next)
		if cerr := clearTrial(u.cfg.StateDir); cerr != nil {
			u.log.Error("update: clear trial", "err", cerr)
		}
		return rep.final(ctx, wire.UpdateFailed, fmt.Sprintf("swap in %s: %v", exe, err), "")
	}
	u.log.Info("update: new binary in place; restarting into it", "version", c.Version, "health_window", u.cfg.HealthWindow)
	return ErrRestart
}

// resume settles the trial the previous run left, by which binary runs
// now and the trial's phase.
func (u *Updater) resume(ctx context.Context) error {
	t, err := loadTrial(u.cfg.StateDir)
	if err != nil || t == nil {
		return err
	}
	rep := &reporter{u: u, a: wire.UpdateAssignment{Rollout: t.Rollout, Target: t.Target, Kind: wire.UpdateKindWard, Version: t.Version}}
	running := u.cfg.Version
	switch {
	case t.Phase == phaseRolledBack && running == t.Previous:
		return u.settle(ctx, rep, wire.UpdateRolledBack, t.Reason, t.Previous)
	case t.Phase == phaseRolledBack:
		return u.rollBack(t, t.Reason) // interrupted mid-rollback: finish it
	case running == t.Version:
		return u.onTrial(ctx, t, rep)
	case running == t.Previous:
		return u.settle(ctx, rep, wire.UpdateFailed, "interrupted before the new binary ran", running)
	}
	return u.settle(ctx, rep, wire.UpdateFailed, fmt.Sprintf("running %s, neither the update's %s nor the previous %s", running, t.Version, t.Previous), running)
}

// onTrial waits, as the new binary, for the agent to re-join within what
// is left of the health window; it rolls back when it does not, or when
// the binary has started too often.
func (u *Updater) onTrial(ctx context.Context, t *trial, rep *reporter) error {
	t.Boots++
	if err := saveTrial(u.cfg.StateDir, t); err != nil {
		return u.rollBack(t, err.Error())
	}
	if t.Boots > maxBoots {
		return u.rollBack(t, fmt.Sprintf("version %s started %d times without re-joining the coordinator", t.Version, t.Boots-1))
	}
	left := time.Until(t.Deadline)
	u.log.Info("update: on trial", "version", t.Version, "left", left.Round(time.Second))
	if left > 0 && u.cfg.Joined(ctx, left) {
		return u.settle(ctx, rep, wire.UpdateHealthy, "re-joined the coordinator", t.Version)
	}
	if ctx.Err() != nil {
		return nil // the agent stops; the next start goes on with the trial
	}
	return u.rollBack(t, fmt.Sprintf("version %s did not re-join the coordinator within the health window", t.Version))
}

// settle ends the trial with a final report.
func (u *Updater) settle(ctx context.Context, rep *reporter, s wire.UpdateState, reason, running string) error {
	if err := clearTrial(u.cfg.StateDir); err != nil {
		return err
	}
	if err := rep.final(ctx, s, reason, running); err != nil {
		u.log.Warn("update: final report (sent again on the next poll)", "err", err)
	}
	return nil
}

// rollBack records the rollback, then puts the previous binary back and
// asks for a restart into it.
func (u *Updater) rollBack(t *trial, reason string) error {
	u.log.Error("update: rolling back", "version", t.Version, "to", t.Previous, "reason", reason)
	t.Phase, t.Reason = phaseRolledBack, reason
	if err := saveTrial(u.cfg.StateDir, t); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	if err := u.files.restore(t.Backup, t.Exe); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	return ErrRestart
}
