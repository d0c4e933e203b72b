package wire

import (
	"fmt"
	"time"
)

// Updates over the air (issue 16, protocol 14). The coordinator hosts a
// TUF repository whose metadata is signed offline by the fleet's keys;
// a rollout assigns one of its targets to devices in waves, and each
// device reports how the update went.
const (
	// PathUpdate answers a node's GET, with its control session, with the
	// UpdateAssignment the node should run now (200), or 204 No Content
	// when none.
	PathUpdate = "/ward/v1/update"
	// PathUpdateReport takes a node's UpdateReport (POST, control
	// session), answered with 204.
	PathUpdateReport = "/ward/v1/update/report"
	// PathTUF is the root of the TUF repository the coordinator serves to
	// nodes: PathTUF+"metadata/"+name ("1.root.json", "timestamp.json",
	// "3.snapshot.json", "7.targets.json") and PathTUF+"targets/"+path,
	// which honours Range requests so a download resumes.
	PathTUF = "/ward/v1/tuf/"
	// PathAdminRollouts lists (GET) and creates (POST RolloutCreate)
	// rollouts; PathAdminRollouts/{id} shows one (GET) and
	// PathAdminRollouts/{id}/pause, /resume and /abort act on it (POST).
	PathAdminRollouts = "/ward/v1/admin/rollouts"
)

// Update kinds: what a target is and how a device installs it.
const (
	// UpdateKindWard is Ward's own agent: installed beside the running
	// binary, restarted into, rolled back when unhealthy.
	UpdateKindWard = "ward"
	// UpdateKindArtifact is the device's own software, installed by the
	// command its target metadata names.
	UpdateKindArtifact = "artifact"
)

// UpdateAssignment is the update a rollout assigns to one node.
type UpdateAssignment struct {
	// Rollout is the rollout's ID; reports name it.
	Rollout int64 `json:"rollout"`
	// Target is the TUF target's path in the repository
	// ("ward/linux-arm64/ward-1.4.0").
	Target string `json:"target"`
	// Kind is UpdateKindWard or UpdateKindArtifact.
	Kind string `json:"kind"`
	// Version is the version the target carries; the device checks it
	// against the target's signed metadata, never trusts it alone.
	Version string `json:"version"`
}

// UpdateState is where a device's update stands.
type UpdateState string

// The states a device reports, in the order an update goes through them;
// UpdateHealthy, UpdateFailed and UpdateRolledBack end it.
const (
	UpdateDownloading UpdateState = "downloading"
	UpdateVerifying   UpdateState = "verifying"
	UpdateInstalling  UpdateState = "installing"
	UpdateHealthy     UpdateState = "healthy"
	UpdateFailed      UpdateState = "failed"
	UpdateRolledBack  UpdateState = "rolled_back"
)

// Final reports whether s ends an update.
func (s UpdateState) Final() bool {
	return s == UpdateHealthy || s == UpdateFailed || s == UpdateRolledBack
}

// Valid reports whether s is one of the states above.
func (s UpdateState) Valid() bool {
	switch s {
	case UpdateDownloading, UpdateVerifying, UpdateInstalling, UpdateHealthy, UpdateFailed, UpdateRolledBack:
		return true
	}
	return false
}

// MaxUpdateReasonBytes bounds UpdateReport.Reason (an install command's
// output tail, an error).
const MaxUpdateReasonBytes = 2048

// MaxUpdateVersionBytes bounds a version a device reports
// (UpdateReport.Running): longer than any version Ward or an artifact
// carries.
const MaxUpdateVersionBytes = 128

// UpdateReport is a device's word on its update.
type UpdateReport struct {
	Rollout int64       `json:"rollout"`
	Target  string      `json:"target"`
	State   UpdateState `json:"state"`
	// Progress is the download's share done, 0 to 100.
	Progress int `json:"progress,omitempty"`
	// Reason says why an update failed or was rolled back, or carries
	// the install command's output tail.
	Reason string `json:"reason,omitempty"`
	// Running is the version the device runs after this step, at most
	// MaxUpdateVersionBytes.
	Running string `json:"running,omitempty"`
}

// Check validates a report from outside.
func (r UpdateReport) Check() error {
	switch {
	case r.Rollout <= 0:
		return fmt.Errorf("update report: rollout %d is not an ID", r.Rollout)
	case r.Target == "":
		return fmt.Errorf("update report: no target")
	case !r.State.Valid():
		return fmt.Errorf("update report: unknown state %q", r.State)
	case r.Progress < 0 || r.Progress > 100:
		return fmt.Errorf("update report: progress %d outside 0..100", r.Progress)
	case len(r.Reason) > MaxUpdateReasonBytes:
		return fmt.Errorf("update report: reason of %d bytes, over %d", len(r.Reason), MaxUpdateReasonBytes)
	case len(r.Running) > MaxUpdateVersionBytes:
		return fmt.Errorf("update report: running version of %d bytes, over %d", len(r.Running), MaxUpdateVersionBytes)
	}
	if err := CheckTUFTargetPath(r.Target); err != nil {
		return fmt.Errorf("update report: %w", err)
	}
	return nil
}

// RolloutCreate asks for a rollout (admin API).
type RolloutCreate struct {
	// Target is the TUF target path; Kind and Version as in
	// UpdateAssignment.
	Target  string `json:"target"`
	Kind    string `json:"kind"`
	Version string `json:"version"`
	// Tags, Groups and Devices select the devices (a union); at least
	// one must be given.
	Tags    []string `json:"tags,omitempty"`
	Groups  []string `json:"groups,omitempty"`
	Devices []string `json:"devices,omitempty"`
	// Waves are the waves' sizes in order: "5" (devices) or "25%" (of
	// the selected devices); the last wave takes every device left.
	Waves []string `json:"waves"`
	// SoakMillis is how long a wave must stay healthy before the next
	// starts.
	SoakMillis int64 `json:"soak_ms"`
	// SuccessGate is what lets a wave end: "100%" or a count of healthy
	// devices; FailureGate is what pauses the rollout: "2" failed devices
	// or "10%" of the wave, judged once MinSample devices have ended.
	SuccessGate string `json:"success_gate"`
	FailureGate string `json:"failure_gate"`
	MinSample   int    `json:"min_sample,omitempty"`
	// TimeoutMillis is how long a device may take from assignment to a
	// final state before it counts as failed.
	TimeoutMillis int64 `json:"timeout_ms"`
}

// Rollout is a rollout as the coordinator holds it.
type Rollout struct {
	ID int64 `json:"id"`
	RolloutCreate
	// Status is "running", "paused", "aborted" or "done".
	Status string `json:"status"`
	// PauseReason says why it paused (a gate, an admin).
	PauseReason string `json:"pause_reason,omitempty"`
	// Wave is the index of the current wave.
	Wave      int       `json:"wave"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	// Devices' states, per wave.
	Progress []RolloutWave `json:"progress,omitempty"`
}

// RolloutWave is one wave's devices and their states.
type RolloutWave struct {
	Devices []RolloutDevice `json:"devices"`
	// StartedAt is zero until the wave starts.
	StartedAt time.Time `json:"started_at,omitzero"`
}

// RolloutDevice is one device's state in a rollout.
type RolloutDevice struct {
	Node string `json:"node"`
	// State is the state the device reported last, or before its first
	// report the coordinator's: "pending" (its wave has not started),
	// "assigned" (not fetched yet) or "sent" (fetched).
	State   UpdateState `json:"state,omitempty"`
	Reason  string      `json:"reason,omitempty"`
	Updated time.Time   `json:"updated,omitzero"`
}
