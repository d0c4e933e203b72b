package coordinator

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/wardnet/ward/admin"
	"github.com/wardnet/ward/coordinator/store"
	"github.com/wardnet/ward/wire"
)

// updateRetryAfter is how long a device past the download cap waits
// before it asks again.
const updateRetryAfter = 30

// handleUpdate answers a node's GET wire.PathUpdate with the assignment
// it should run now, or 204 (with Retry-After when it waits for a
// download slot).
func (s *control) handleUpdate(w http.ResponseWriter, r *http.Request) {
	n, err := s.updateCaller(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	a, wait, err := s.ro.assignment(r.Context(), n.ID)
	switch {
	case err != nil:
		s.writeError(w, r, err)
	case a != nil:
		writeJSON(w, http.StatusOK, a)
	default:
		if wait {
			w.Header().Set("Retry-After", strconv.Itoa(updateRetryAfter))
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

// handleUpdateReport records a node's report on its update (POST
// wire.PathUpdateReport): only for a rollout that assigned the node that
// target, and only while its update has not ended.
func (s *control) handleUpdateReport(w http.ResponseWriter, r *http.Request) {
	n, err := s.nodeOf(r)
	if err == nil {
		err = s.reportLimited(n.ID, s.ro.clock())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var rep wire.UpdateReport
	if err := s.decodeJSON(w, r, &rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := rep.Check(); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if err := s.ro.report(r.Context(), n, rep); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// assignment is node's update to run now: that of its oldest live
// rollout it was handed, or else of the oldest running rollout whose
// current wave has it, handed out now unless the download cap is full
// (then wait is true, and the device's clock restarts so that waiting
// for a slot does not time it out).
func (e *rollouts) assignment(ctx context.Context, node store.NodeID) (*wire.UpdateAssignment, bool, error) {
	rows, err := e.st.NodeRollouts(ctx, node)
	if err != nil {
		return nil, false, err
	}
	now := e.clock()
	for _, d := range rows {
		r, err := e.st.Rollout(ctx, d.Rollout)
		if err != nil {
			return nil, false, err
		}
		sp, err := decodeSpec(r)
		if err != nil {
			return nil, false, err
		}
		a := &wire.UpdateAssignment{Rollout: int64(r.ID), Target: sp.Target, Kind: sp.Kind, Version: sp.Version}
		switch d.State {
		case store.DeviceAssigned:
		default:
			return a, false, nil // it was handed the update: it keeps it
		}
		if r.Status != store.RolloutRunning {
			continue
		}
		ok, err := e.st.HandOut(ctx, r.ID, node, now, e.cfg.MaxUpdateDownloads)
		if errors.Is(err, store.ErrConflict) {
			return a, false, nil // another request of the node handed it out
		}
		if err != nil {
			return nil, false, err
		}
		if ok {
			return a, false, nil
		}
		if now.Sub(d.ClockAt) > sp.timeout/4 {
			_, err := e.st.UpdateRolloutDevice(ctx, r.ID, node, store.DeviceUpdate{From: []string{store.DeviceAssigned},
				State: store.DeviceAssigned, At: now, Clock: true})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return nil, false, err
			}
		}
		return nil, true, nil
	}
	return nil, false, nil
}

// reportFrom are the states a device reports from: it was handed the
// assignment and its update has not ended.
var reportFrom = []string{store.DeviceSent, string(wire.UpdateDownloading), string(wire.UpdateVerifying), string(wire.UpdateInstalling)}

// report records n's checked report; a final state is audited and judged
// at once, so a failure trips its gate without waiting for the engine's
// round.
func (e *rollouts) report(ctx context.Context, n store.Node, rep wire.UpdateReport) error {
	notMine := fmt.Errorf("%w: rollout %d does not assign %.64q to this node", errForbidden, rep.Rollout, rep.Target)
	r, err := e.st.Rollout(ctx, store.RolloutID(rep.Rollout))
	if errors.Is(err, store.ErrNotFound) {
		return notMine
	}
	if err != nil {
		return err
	}
	sp, err := decodeSpec(r)
	if err != nil {
		return err
	}
	if sp.Target != rep.Target {
		return notMine
	}
	_, err = e.st.UpdateRolloutDevice(ctx, r.ID, n.ID, store.DeviceUpdate{From: reportFrom, State: string(rep.State),
		Progress: rep.Progress, Reason: rep.Reason, At: e.clock()})
	if errors.Is(err, store.ErrNotFound) {
		return notMine
	}
	if err != nil {
		return fmt.Errorf("report on rollout %d: %w", r.ID, err)
	}
	if !rep.State.Final() {
		return nil
	}
	e.audit(ctx, "node:"+n.Name, "update.report", rolloutTarget(r.ID), "",
		map[string]any{"state": rep.State, "reason": rep.Reason, "running": rep.Running})
	if err := e.judgeNow(ctx, r.ID); err != nil {
		e.log.Error("judge rollout after a report", "rollout", r.ID, "err", err)
	}
	return nil
}

// createRollout validates req, selects its devices, cuts them into waves
// and starts the rollout's first wave, on by's authority (audited as
// rollout.create).
func (e *rollouts) createRollout(ctx context.Context, req wire.RolloutCreate, by admin.Principal) (wire.Rollout, error) {
	sp, err := checkRollout(req)
	if err != nil {
		return wire.Rollout{}, err
	}
	ids, err := e.selectDevices(ctx, sp.RolloutCreate)
	if err != nil {
		return wire.Rollout{}, err
	}
	if len(ids) == 0 {
		return wire.Rollout{}, fmt.Errorf("%w: the rollout's tags, groups and devices select no device", errBadRequest)
	}
	waves := splitWaves(sp.Waves, ids)
	r, err := e.st.CreateRollout(ctx, store.NewRollout{Spec: encodeSpec(sp.RolloutCreate), CreatedBy: by.Actor,
		CreatedAt: e.clock(), Waves: waves})
	if err != nil {
		return wire.Rollout{}, err
	}
	sizes := make([]int, len(waves))
	for i, w := range waves {
		sizes[i] = len(w)
	}
	e.audit(ctx, by.Actor, "rollout.create", rolloutTarget(r.ID), "", map[string]any{"target": sp.Target, "kind": sp.Kind,
		"version": sp.Version, "waves": sizes, "soak_ms": sp.SoakMillis, "success_gate": sp.SuccessGate,
		"failure_gate": sp.FailureGate, "min_sample": sp.MinSample, "timeout_ms": sp.TimeoutMillis})
	return e.show(ctx, int64(r.ID))
}

// list lists every rollout, newest first, without devices.
func (e *rollouts) list(ctx context.Context) ([]wire.Rollout, error) {
	rs, err := e.st.ListRollouts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]wire.Rollout, 0, len(rs))
	for _, r := range rs {
		w, err := wireRollout(r, nil, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// show returns rollout id with its devices' states per wave.
func (e *rollouts) show(ctx context.Context, id int64) (wire.Rollout, error) {
	r, err := e.st.Rollout(ctx, store.RolloutID(id))
	if err != nil {
		return wire.Rollout{}, err
	}
	ds, err := e.st.RolloutDevices(ctx, r.ID, -1)
	if err != nil {
		return wire.Rollout{}, err
	}
	nodes, err := e.st.ListNodes(ctx)
	if err != nil {
		return wire.Rollout{}, err
	}
	names := make(map[store.NodeID]string, len(nodes))
	for _, n := range nodes {
		names[n.ID] = n.Name
	}
	return wireRollout(r, ds, names)
}

// startedStates are every state but pending: the device's wave started.
var startedStates = append([]string{store.DeviceAssigned}, append(reportFrom, string(wire.UpdateHealthy), string(wire.UpdateFailed), string(wire.UpdateRolledBack))...)

// wireRollout is r as the admin API shows it; with ds, its devices per
// wave (named by names, by id once removed). A device's state is the one
// it reported, or the coordinator's: pending (its wave has not started),
// assigned (not fetched yet) or sent.
func wireRollout(r store.Rollout, ds []store.RolloutDevice, names map[store.NodeID]string) (wire.Rollout, error) {
	sp, err := decodeSpec(r)
	if err != nil {
		return wire.Rollout{}, err
	}
	w := wire.Rollout{ID: int64(r.ID), RolloutCreate: sp.RolloutCreate, Status: string(r.Status), PauseReason: r.PauseReason,
		Wave: r.Wave, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt}
	if ds == nil {
		return w, nil
	}
	w.Progress = make([]wire.RolloutWave, r.Waves)
	for _, d := range ds {
		wv := &w.Progress[d.Wave]
		name, ok := names[d.Node]
		if !ok {
			name = "#" + strconv.FormatInt(int64(d.Node), 10)
		}
		wv.Devices = append(wv.Devices, wire.RolloutDevice{Node: name, State: wire.UpdateState(d.State), Reason: d.Reason, Updated: d.UpdatedAt})
		if slices.Contains(startedStates, d.State) && (wv.StartedAt.IsZero() || d.ClockAt.Before(wv.StartedAt)) {
			wv.StartedAt = d.ClockAt
		}
	}
	return w, nil
}

// Admin actions on a rollout.
const (
	RolloutPause  = "pause"
	RolloutResume = "resume"
	RolloutAbort  = "abort"
)

// act pauses, resumes or aborts rollout id on by's authority (audited as
// rollout.<action>). Resuming acknowledges the current wave's failures so
// far: only new ones trip its failure gate again. A rollout not in a
// status the action moves from is a conflict.
func (e *rollouts) act(ctx context.Context, id int64, action string, by admin.Principal) (wire.Rollout, error) {
	e.mu.Lock()
	r, err := e.st.Rollout(ctx, store.RolloutID(id))
	if err != nil {
		e.mu.Unlock()
		return wire.Rollout{}, err
	}
	states, err := e.st.RolloutWaveStates(ctx, r.ID, r.Wave)
	if err != nil {
		e.mu.Unlock()
		return wire.Rollout{}, err
	}
	now := e.clock()
	_, err = e.st.UpdateRollout(ctx, r.ID, func(cur *store.Rollout) error { return applyAction(cur, action, by.Actor, tally(states), now) })
	e.mu.Unlock()
	if err != nil {
		return wire.Rollout{}, err
	}
	e.audit(ctx, by.Actor, "rollout."+action, rolloutTarget(r.ID), "", nil)
	e.alertRollout(ctx, r.ID, action == RolloutPause, fmt.Sprintf("rollout %d: %s by %s", r.ID, action, by.Actor), now)
	if action == RolloutResume {
		if err := e.judgeNow(ctx, r.ID); err != nil {
			return wire.Rollout{}, err
		}
	}
	return e.show(ctx, id)
}

// applyAction moves cur as action asks, or refuses.
func applyAction(cur *store.Rollout, action, actor string, c waveCount, now time.Time) error {
	from := map[string][]store.RolloutStatus{RolloutPause: {store.RolloutRunning}, RolloutResume: {store.RolloutPaused},
		RolloutAbort: {store.RolloutRunning, store.RolloutPaused}}[action]
	if from == nil {
		return fmt.Errorf("%w: action %.20q: want pause, resume or abort", errBadRequest, action)
	}
	if !slices.Contains(from, cur.Status) {
		return fmt.Errorf("%w: rollout %d is %s", store.ErrConflict, cur.ID, cur.Status)
	}
	cur.UpdatedAt = now
	switch action {
	case RolloutPause:
		cur.Status, cur.PauseReason = store.RolloutPaused, "paused by "+actor
	case RolloutResume:
		cur.Status, cur.PauseReason, cur.FailedAck = store.RolloutRunning, "", c.failed
	case RolloutAbort:
		cur.Status = store.RolloutAborted
	}
	return nil
}
