package update

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wardnet/ward/node/privfile"
)

// trialFile records a Ward update between the swap and its verdict.
const trialFile = "update-trial.json"

// Phases of a trial.
const (
	// phaseTrial: the new binary is at Exe (the previous at Backup) and
	// must re-join the coordinator before Deadline.
	phaseTrial = "trial"
	// phaseRolledBack: the new binary failed; Backup goes back to Exe,
	// and the previous binary, once it runs, reports the rollback.
	phaseRolledBack = "rolled_back"
)

// trial is a Ward update in progress across restarts.
type trial struct {
	Rollout int64  `json:"rollout"`
	Target  string `json:"target"`
	// Version is the new binary's, Previous the one it replaced.
	Version  string `json:"version"`
	Previous string `json:"previous"`
	// Exe is the binary's path; Backup the previous binary beside it.
	Exe    string `json:"exe"`
	Backup string `json:"backup"`
	// Deadline ends the health window (wall clock).
	Deadline time.Time `json:"deadline"`
	// Boots counts the new binary's starts; past maxBoots it is rolled
	// back (it keeps crashing and a service manager keeps restarting it).
	Boots  int    `json:"boots"`
	Phase  string `json:"phase"`
	Reason string `json:"reason,omitempty"`
}

// maxBoots is how many starts a new binary gets inside its health window.
const maxBoots = 3

// loadTrial reads the trial; nil when there is none.
func loadTrial(stateDir string) (*trial, error) {
	b, err := privfile.Read(stateDir, trialFile, 64<<10)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read update trial: %w", err)
	}
	var t trial
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("read update trial: %w", err)
	}
	return &t, nil
}

// saveTrial writes t durably (atomic, synced).
func saveTrial(stateDir string, t *trial) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	if err := privfile.Write(stateDir, trialFile, b); err != nil {
		return fmt.Errorf("save update trial: %w", err)
	}
	return nil
}

// clearTrial removes the trial record.
func clearTrial(stateDir string) error {
	err := os.Remove(filepath.Join(stateDir, trialFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("clear update trial: %w", err)
	}
	return nil
}
