package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wardnet/ward/alert"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// errRolloutMoved refuses a rollout change made on a stale read: another
// evaluation or an admin moved the rollout first.
var errRolloutMoved = errors.New("the rollout moved on")

// rollouts runs the rollout engine: it starts waves, times out silent
// devices, pauses a rollout whose failure gate trips and moves it to its
// next wave once the success gate has held for the soak. Its state is the
// store's, so a restart loses nothing; time comes from clock, so tests
// need not sleep through soaks and timeouts.
type rollouts struct {
	*core
	clock func() time.Time

	// mu serializes evaluations within this coordinator; the store's
	// compare-and-set (UpdateRollout with a check) orders them across
	// coordinators.
	mu sync.Mutex
}

func newRollouts(c *core) *rollouts {
	clock := c.cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	return &rollouts{core: c, clock: clock}
}

// run evaluates every live rollout each RolloutEvery until ctx ends, on
// the one coordinator of the database that runs the job.
func (e *rollouts) run(ctx context.Context) {
	t := time.NewTicker(e.cfg.RolloutEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if e.runsJob(jobRollouts) {
				e.evaluateAll(ctx)
			}
		}
	}
}

// evaluateAll evaluates every running or paused rollout.
func (e *rollouts) evaluateAll(ctx context.Context) {
	rs, err := e.st.ListRollouts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("list rollouts", "err", err)
		}
		return
	}
	for _, r := range rs {
		if r.Status == store.RolloutRunning || r.Status == store.RolloutPaused {
			if err := e.evaluate(ctx, r.ID); err != nil && ctx.Err() == nil {
				e.log.Error("evaluate rollout", "rollout", r.ID, "err", err)
			}
		}
	}
}

// waveCount is the tally of a wave's devices.
type waveCount struct {
	devices, healthy, failed, ended int
}

func countWave(ds []store.RolloutDevice) waveCount {
	states := map[string]int{}
	for _, d := range ds {
		states[d.State]++
	}
	return tally(states)
}

// tally counts a wave from its devices' numbers by state.
func tally(states map[string]int) waveCount {
	var c waveCount
	for s, n := range states {
		c.devices += n
		switch wire.UpdateState(s) {
		case wire.UpdateHealthy:
			c.healthy += n
		case wire.UpdateFailed, wire.UpdateRolledBack:
			c.failed += n
		}
	}
	c.ended = c.healthy + c.failed
	return c
}

// judgeNow judges rollout id's gates on its current wave's counts (one
// query, not the devices' rows), as after a device's final report;
// timeouts wait for the engine's round.
func (e *rollouts) judgeNow(ctx context.Context, id store.RolloutID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	r, err := e.st.Rollout(ctx, id)
	if err != nil || r.Status != store.RolloutRunning {
		return err
	}
	sp, err := decodeSpec(r)
	if err != nil {
		return err
	}
	states, err := e.st.RolloutWaveStates(ctx, id, r.Wave)
	if err != nil {
		return err
	}
	return e.judge(ctx, r, sp, tally(states), e.clock())
}

// trips reports whether the failure gate g trips on c, counting only the
// failures past ack, once minSample devices have ended.
func (g gate) trips(c waveCount, ack, minSample int) bool {
	failed, ended := c.failed-ack, c.ended-ack
	if ended < max(minSample, 1) || failed <= 0 {
		return false
	}
	if g.pct > 0 {
		return failed*100 >= g.pct*ended
	}
	return failed >= g.count
}

// holds reports whether the success gate g holds on c.
func (g gate) holds(c waveCount) bool {
	if g.pct > 0 {
		return c.healthy*100 >= g.pct*c.devices
	}
	return c.healthy >= min(g.count, c.devices)
}

// evaluate times out the rollout's silent devices and then judges
// rollout id's gates as of the clock.
func (e *rollouts) evaluate(ctx context.Context, id store.RolloutID) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.clock()
	r, err := e.st.Rollout(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != store.RolloutRunning && r.Status != store.RolloutPaused {
		return nil
	}
	sp, err := decodeSpec(r)
	if err != nil {
		return err
	}
	ds, err := e.st.RolloutDevices(ctx, id, -1) // an earlier wave's stragglers time out too
	if err != nil {
		return err
	}
	if ds, err = e.timeOut(ctx, r, sp, ds, now); err != nil {
		return err
	}
	if r.Status != store.RolloutRunning {
		return nil
	}
	return e.judge(ctx, r, sp, countWave(slices.DeleteFunc(ds, func(d store.RolloutDevice) bool { return d.Wave != r.Wave })), now)
}

// timeOutFrom are the states a device times out of.
var timeOutFrom = []string{store.DeviceAssigned, store.DeviceSent, string(wire.UpdateDownloading), string(wire.UpdateVerifying), string(wire.UpdateInstalling)}

// due reports whether d's timeout ran out by now: it is in a state that
// times out, its clock is older than the timeout, and it is not waiting
// for a paused rollout to resume. (Its state is matched by switch: the
// constant-time guard reads a field named State as a secret.)
func due(r store.Rollout, sp rolloutSpec, d store.RolloutDevice, now time.Time) bool {
	if !slices.Contains(timeOutFrom, d.State) || now.Sub(d.ClockAt) < sp.timeout {
		return false
	}
	switch d.State {
	case store.DeviceAssigned:
		return r.Status == store.RolloutRunning
	}
	return true
}

// timeOut fails the devices of ds whose timeout ran out by now (a paused
// rollout's devices that never fetched it wait for the resume, which
// restarts their clocks), and returns ds as it is after.
func (e *rollouts) timeOut(ctx context.Context, r store.Rollout, sp rolloutSpec, ds []store.RolloutDevice, now time.Time) ([]store.RolloutDevice, error) {
	for i, d := range ds {
		if !due(r, sp, d, now) {
			continue
		}
		reason := fmt.Sprintf("timed out: no final state within %s (last: %s)", sp.timeout, d.State)
		nd, err := e.st.UpdateRolloutDevice(ctx, r.ID, d.Node, store.DeviceUpdate{From: []string{d.State},
			State: string(wire.UpdateFailed), Reason: reason, At: now})
		if errors.Is(err, store.ErrConflict) {
			continue // it reported meanwhile; the next round sees it
		}
		if err != nil {
			return nil, err
		}
		ds[i] = nd
		e.audit(ctx, "system", "update.timeout", rolloutTarget(r.ID), "", map[string]any{"node": int64(d.Node), "reason": reason})
	}
	return ds, nil
}

// judge pauses running rollout r when its current wave's failure gate
// trips, or when the wave ended below its success gate with failures
// nobody acknowledged; it moves r on once the wave passes (its success
// gate holds, or every device ended and an admin acknowledged every
// failure) and the soak has run since.
func (e *rollouts) judge(ctx context.Context, r store.Rollout, sp rolloutSpec, c waveCount, now time.Time) error {
	switch {
	case sp.failure.trips(c, r.FailedAck, sp.MinSample):
		return e.pause(ctx, r, fmt.Sprintf("failure gate %s tripped in wave %d: %d of %d ended devices failed",
			sp.failure, r.Wave+1, c.failed, c.ended), now)
	case !sp.success.holds(c) && c.ended == c.devices && c.failed > r.FailedAck:
		return e.pause(ctx, r, fmt.Sprintf("wave %d ended below its success gate %s: %d of %d healthy",
			r.Wave+1, sp.success, c.healthy, c.devices), now)
	case !sp.success.holds(c) && c.ended < c.devices:
		return nil
	}
	met := r.GateMetAt
	if met.IsZero() {
		met = now
	}
	if now.Sub(met) < sp.soak {
		if r.GateMetAt.IsZero() {
			_, _, err := e.change(ctx, r, func(n *store.Rollout) { n.GateMetAt = now })
			return err
		}
		return nil
	}
	return e.advance(ctx, r, now)
}

// advance starts r's next wave, or ends r when its last wave passed.
func (e *rollouts) advance(ctx context.Context, r store.Rollout, now time.Time) error {
	last := r.Wave+1 >= r.Waves
	n, ok, err := e.change(ctx, r, func(n *store.Rollout) {
		if last {
			n.Status = store.RolloutDone
		} else {
			n.Wave++
		}
		n.GateMetAt, n.FailedAck, n.UpdatedAt = time.Time{}, 0, now
	})
	if err != nil || !ok {
		return err
	}
	if last {
		e.audit(ctx, "system", "rollout.done", rolloutTarget(r.ID), "", map[string]any{"waves": r.Waves})
		return nil
	}
	e.audit(ctx, "system", "rollout.advance", rolloutTarget(r.ID), "", map[string]any{"wave": n.Wave + 1, "of": n.Waves})
	return nil
}

// pause pauses running rollout r for reason, audits it and fires the
// rollout-paused alerts.
func (e *rollouts) pause(ctx context.Context, r store.Rollout, reason string, now time.Time) error {
	_, ok, err := e.change(ctx, r, func(n *store.Rollout) {
		n.Status, n.PauseReason, n.UpdatedAt = store.RolloutPaused, reason, now
	})
	if err != nil || !ok {
		return err
	}
	e.audit(ctx, "system", "rollout.pause", rolloutTarget(r.ID), "", map[string]any{"reason": reason})
	e.alertRollout(ctx, r.ID, true, reason, now)
	return nil
}

// change writes edit over r unless r moved on since it was read (another
// evaluation or an admin acted first): then it reports false and writes
// nothing.
func (e *rollouts) change(ctx context.Context, r store.Rollout, edit func(*store.Rollout)) (store.Rollout, bool, error) {
	n, err := e.st.UpdateRollout(ctx, r.ID, func(cur *store.Rollout) error {
		if cur.Status != r.Status || cur.Wave != r.Wave || !cur.GateMetAt.Equal(r.GateMetAt) || cur.FailedAck != r.FailedAck {
			return errRolloutMoved
		}
		edit(cur)
		return nil
	})
	if errors.Is(err, errRolloutMoved) {
		return store.Rollout{}, false, nil
	}
	return n, err == nil, err
}

// alertRollout fires (paused) or resolves the rollout-paused alerts for
// rollout id.
func (e *rollouts) alertRollout(ctx context.Context, id store.RolloutID, paused bool, summary string, now time.Time) {
	if e.alerts == nil {
		return
	}
	for _, rule := range e.alerts.ruleSet().Rules {
		if rule.Kind != alert.KindRolloutPaused {
			continue
		}
		if paused {
			e.fire(ctx, rule, rolloutTarget(id), now, summary, nil)
		} else {
			e.resolve(ctx, rule, rolloutTarget(id), now, summary)
		}
	}
	e.flushAlerts(ctx, time.Now()) // the dispatcher keeps real time; now may be a test clock's
}

func rolloutTarget(id store.RolloutID) string {
	return "rollout:" + strconv.FormatInt(int64(id), 10)
}

// encodeSpec is the spec as the store keeps it.
func encodeSpec(req wire.RolloutCreate) string {
	b, _ := json.Marshal(req) // a struct of strings and numbers
	return string(b)
}
