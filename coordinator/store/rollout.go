package store

import (
	"context"
	"time"
)

// RolloutID identifies a rollout.
type RolloutID int64

// RolloutStatus is where a rollout stands.
type RolloutStatus string

// Rollout statuses. A rollout starts running; a gate or an admin pauses
// it, an admin resumes it; it ends done (its last wave passed) or aborted.
const (
	RolloutRunning RolloutStatus = "running"
	RolloutPaused  RolloutStatus = "paused"
	RolloutAborted RolloutStatus = "aborted"
	RolloutDone    RolloutStatus = "done"
)

// The device states the store itself sets; the others are the states
// devices report (wire.UpdateState), which the store keeps as they are.
const (
	// DevicePending: the device's wave has not started.
	DevicePending = "pending"
	// DeviceAssigned: its wave started; the device has not fetched the
	// assignment yet (or waits for a download slot).
	DeviceAssigned = "assigned"
	// DeviceSent: the device fetched the assignment and has not reported
	// since.
	DeviceSent = "sent"
	// DeviceDownloading is the reported state that, with DeviceSent,
	// holds a download slot.
	DeviceDownloading = "downloading"
)

// Rollout is a rollout's own row; its devices are RolloutDevice rows.
type Rollout struct {
	ID RolloutID
	// Spec is the validated request as the coordinator encoded it; the
	// store does not read it.
	Spec        string
	Status      RolloutStatus
	PauseReason string
	// Wave is the current wave's index, of Waves.
	Wave, Waves int
	// GateMetAt is when the current wave's success gate first held; zero
	// while it has not.
	GateMetAt time.Time
	// FailedAck is how many of the current wave's failures an admin
	// acknowledged by resuming.
	FailedAck int
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// RolloutDevice is one device's state in one rollout.
type RolloutDevice struct {
	Rollout RolloutID
	Node    NodeID
	Wave    int
	// State is DevicePending, DeviceAssigned, DeviceSent or a reported
	// state.
	State    string
	Progress int
	Reason   string
	// ClockAt is when the device's timeout started: its wave's start,
	// the fetch of its assignment, or its last wait for a download slot.
	ClockAt time.Time
	// UpdatedAt is the last change of State; zero while pending.
	UpdatedAt time.Time
}

// NewRollout is a rollout to store, running from its first wave.
type NewRollout struct {
	Spec      string
	CreatedBy string
	// CreatedAt is zero for "now"; the first wave starts then.
	CreatedAt time.Time
	// Waves are the devices of each wave; none may be empty, and a
	// device is in one wave only.
	Waves [][]NodeID
}

// DeviceUpdate moves one device of a rollout on.
type DeviceUpdate struct {
	// From are the states the device may be in (ErrConflict otherwise).
	From     []string
	State    string
	Progress int
	Reason   string
	At       time.Time
	// Clock restarts the device's timeout at At.
	Clock bool
}

// Rollouts keeps rollouts and their devices' states.
type Rollouts interface {
	// CreateRollout stores a running rollout with every device of its
	// waves: the first wave's assigned from CreatedAt, the others
	// pending (ErrInvalid for no wave, an empty one or a device twice).
	CreateRollout(ctx context.Context, r NewRollout) (Rollout, error)
	// Rollout returns one rollout (ErrNotFound).
	Rollout(ctx context.Context, id RolloutID) (Rollout, error)
	// ListRollouts returns every rollout, newest first.
	ListRollouts(ctx context.Context) ([]Rollout, error)
	// RolloutDevices returns a rollout's devices by wave and node; wave
	// < 0 for every wave, else only that wave's.
	RolloutDevices(ctx context.Context, id RolloutID, wave int) ([]RolloutDevice, error)
	// RolloutWaveStates counts the devices of a rollout's wave by state.
	RolloutWaveStates(ctx context.Context, id RolloutID, wave int) (map[string]int, error)
	// NodeRollouts returns the rows of node in rollouts still running or
	// paused whose device state is neither pending nor final (healthy,
	// failed, rolled_back), oldest rollout first.
	NodeRollouts(ctx context.Context, node NodeID) ([]RolloutDevice, error)
	// UpdateRollout reads rollout id, lets change edit it, and writes
	// Status, PauseReason, Wave, GateMetAt, FailedAck and UpdatedAt back,
	// in one write. When Wave changed, that wave's devices become
	// assigned from UpdatedAt; when the status went from paused to
	// running, the current wave's assigned devices' clocks restart at
	// UpdatedAt. An error from change is returned and nothing is written.
	UpdateRollout(ctx context.Context, id RolloutID, change func(*Rollout) error) (Rollout, error)
	// HandOut makes node's assigned device row of rollout id sent, its
	// clock restarted at at, unless capacity > 0 and that many devices
	// of running or paused rollouts are sent or downloading already:
	// then it reports false and changes nothing. ErrConflict when the
	// row is not assigned.
	HandOut(ctx context.Context, id RolloutID, node NodeID, at time.Time, capacity int) (bool, error)
	// UpdateRolloutDevice applies u to node's row of rollout id
	// (ErrNotFound, or ErrConflict when its state is not in u.From).
	UpdateRolloutDevice(ctx context.Context, id RolloutID, node NodeID, u DeviceUpdate) (RolloutDevice, error)
}
