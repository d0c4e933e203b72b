package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRolloutStateSurvivesReopen pins issue 16's rollout storage: a
// rollout's waves, its gate state and each device's state are written
// through, so a store opened again (a coordinator restart) has them all;
// the download cap counts sent and downloading devices, and a device
// moves only from the states its update names.
func TestRolloutStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	s, dir := openTest(t)
	n1, n2, n3 := mustRegister(t, s, 1, t0), mustRegister(t, s, 2, t0), mustRegister(t, s, 3, t0)
	if _, err := s.CreateRollout(ctx, NewRollout{Spec: "{}", Waves: [][]NodeID{{n1.ID}, {}}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("an empty wave: %v, want ErrInvalid", err)
	}
	r, err := s.CreateRollout(ctx, NewRollout{Spec: `{"target":"a"}`, CreatedBy: "user:olga", CreatedAt: t0,
		Waves: [][]NodeID{{n1.ID, n2.ID}, {n3.ID}}})
	if err != nil || r.Status != RolloutRunning || r.Waves != 2 || r.Wave != 0 {
		t.Fatalf("create: %+v, %v", r, err)
	}
	if ok, err := s.HandOut(ctx, r.ID, n1.ID, t0.Add(time.Second), 1); !ok || err != nil {
		t.Fatalf("hand out to n1: %v, %v", ok, err)
	}
	if ok, err := s.HandOut(ctx, r.ID, n2.ID, t0.Add(time.Second), 1); ok || err != nil {
		t.Errorf("hand out to n2 over a cap of 1: %v, %v; want false", ok, err)
	}
	if _, err := s.HandOut(ctx, r.ID, n3.ID, t0, 0); !errors.Is(err, ErrConflict) {
		t.Errorf("hand out to a pending device: %v, want ErrConflict", err)
	}
	if _, err := s.UpdateRolloutDevice(ctx, r.ID, n1.ID, DeviceUpdate{From: []string{DeviceAssigned}, State: "failed", At: t0}); !errors.Is(err, ErrConflict) {
		t.Errorf("a move from the wrong state: %v, want ErrConflict", err)
	}
	d, err := s.UpdateRolloutDevice(ctx, r.ID, n1.ID, DeviceUpdate{From: []string{DeviceSent}, State: "healthy", Reason: "ok", At: t0.Add(2 * time.Second)})
	if err != nil || d.State != "healthy" {
		t.Fatalf("report: %+v, %v", d, err)
	}
	met := t0.Add(3 * time.Second)
	if _, err := s.UpdateRollout(ctx, r.ID, func(r *Rollout) error {
		r.Status, r.PauseReason, r.GateMetAt, r.FailedAck, r.UpdatedAt = RolloutPaused, "admin", met, 1, met
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openDir(t, dir)
	got, err := s.Rollout(ctx, r.ID)
	if err != nil || got.Status != RolloutPaused || got.PauseReason != "admin" || !got.GateMetAt.Equal(met) || got.FailedAck != 1 || got.Spec != `{"target":"a"}` {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	ds, err := s.RolloutDevices(ctx, r.ID, -1)
	if err != nil || len(ds) != 3 || ds[0].State != "healthy" || ds[1].State != DeviceAssigned || ds[2].State != DevicePending || ds[2].Wave != 1 {
		t.Fatalf("devices after reopen: %+v, %v", ds, err)
	}
	if n, err := s.RolloutWaveStates(ctx, r.ID, 0); err != nil || len(n) != 2 || n["healthy"] != 1 || n[DeviceAssigned] != 1 {
		t.Errorf("wave 1 by state: %v, %v", n, err)
	}
	if mine, err := s.NodeRollouts(ctx, n2.ID); err != nil || len(mine) != 1 {
		t.Errorf("n2's rollouts: %+v, %v", mine, err)
	}
	resumed := t0.Add(time.Minute)
	if _, err := s.UpdateRollout(ctx, r.ID, func(r *Rollout) error {
		r.Status, r.Wave, r.UpdatedAt = RolloutRunning, 1, resumed
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.RolloutDevices(ctx, r.ID, 1)
	if len(ds) != 1 || ds[0].State != DeviceAssigned || !ds[0].ClockAt.Equal(resumed) {
		t.Errorf("the next wave's devices: %+v; want assigned from %v", ds, resumed)
	}
}
