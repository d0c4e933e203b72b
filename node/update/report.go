package update

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strconv"

	"github.com/wardnet/ward/node/privfile"
	"github.com/wardnet/ward/wire"
)

// reporter sends one assignment's steps.
type reporter struct {
	u *Updater
	a wire.UpdateAssignment
}

// send posts a step; a failure is logged, not fatal (the coordinator
// times a silent device out; the final report is sent again).
func (r *reporter) send(ctx context.Context, s wire.UpdateState, pct int, reason string) {
	rep := r.make(s, pct, reason, "")
	if err := r.u.cfg.Coordinator.UpdateReport(ctx, rep); err != nil {
		r.u.log.Warn("update report", "state", s, "err", err)
	}
}

func (r *reporter) make(s wire.UpdateState, pct int, reason, running string) wire.UpdateReport {
	if len(reason) > wire.MaxUpdateReasonBytes {
		reason = reason[len(reason)-wire.MaxUpdateReasonBytes:]
	}
	return wire.UpdateReport{Rollout: r.a.Rollout, Target: r.a.Target, State: s, Progress: pct, Reason: reason,
		Running: cmpStr(running, r.u.cfg.Version)}
}

// final records and posts the assignment's last word; the record lets
// poll send it again.
func (r *reporter) final(ctx context.Context, s wire.UpdateState, reason, running string) error {
	rep := r.make(s, 0, reason, running)
	if err := recordEnded(r.u.cfg.StateDir, rep); err != nil {
		return err
	}
	r.u.log.Info("update ended", "rollout", rep.Rollout, "target", rep.Target, "state", s, "reason", reason)
	return r.u.cfg.Coordinator.UpdateReport(ctx, rep)
}

// fail ends the assignment as failed, unless err is transient: then it
// is returned, and the next poll tries again.
func (r *reporter) fail(ctx context.Context, err error) error {
	if transient(err) && !errors.Is(err, ErrRefused) {
		return err
	}
	return r.final(ctx, wire.UpdateFailed, err.Error(), "")
}

func cmpStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// endedFile keeps the final reports of the latest assignments, by
// rollout, and the artifacts' installed versions.
const endedFile = "update-ended.json"

// maxEnded bounds the reports endedFile keeps.
const maxEnded = 32

// record is endedFile's content.
type record struct {
	Ended     map[string]wire.UpdateReport `json:"ended"`
	Artifacts map[string]string            `json:"artifacts,omitempty"`
}

func loadRecord(stateDir string) (record, error) {
	rec := record{Ended: map[string]wire.UpdateReport{}, Artifacts: map[string]string{}}
	b, err := privfile.Read(stateDir, endedFile, 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return rec, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &rec)
	}
	if err != nil {
		return rec, fmt.Errorf("read %s: %w", endedFile, err)
	}
	if rec.Ended == nil {
		rec.Ended = map[string]wire.UpdateReport{}
	}
	if rec.Artifacts == nil {
		rec.Artifacts = map[string]string{}
	}
	return rec, nil
}

func saveRecord(stateDir string, rec record) error {
	b, err := json.Marshal(rec)
	if err == nil {
		err = privfile.Write(stateDir, endedFile, b)
	}
	if err != nil {
		return fmt.Errorf("save %s: %w", endedFile, err)
	}
	return nil
}

// recordEnded keeps rep as its rollout's final report, dropping the
// oldest rollouts past maxEnded.
func recordEnded(stateDir string, rep wire.UpdateReport) error {
	rec, err := loadRecord(stateDir)
	if err != nil {
		return err
	}
	rec.Ended[strconv.FormatInt(rep.Rollout, 10)] = rep
	if len(rec.Ended) > maxEnded {
		ids := slices.SortedFunc(maps.Keys(rec.Ended), func(a, b string) int {
			x, _ := strconv.ParseInt(a, 10, 64)
			y, _ := strconv.ParseInt(b, 10, 64)
			return cmp.Compare(x, y)
		})
		for _, id := range ids[:len(ids)-maxEnded] {
			delete(rec.Ended, id)
		}
	}
	return saveRecord(stateDir, rec)
}

// ended returns a's final report when a already ended on this device.
func (u *Updater) ended(a wire.UpdateAssignment) (wire.UpdateReport, bool) {
	rec, err := loadRecord(u.cfg.StateDir)
	if err != nil {
		u.log.Warn("update", "err", err)
		return wire.UpdateReport{}, false
	}
	r, ok := rec.Ended[strconv.FormatInt(a.Rollout, 10)]
	return r, ok && r.Target == a.Target
}

func artifactVersion(stateDir, name string) string {
	rec, err := loadRecord(stateDir)
	if err != nil {
		return ""
	}
	return rec.Artifacts[name]
}

func setArtifactVersion(stateDir, name, version string) error {
	rec, err := loadRecord(stateDir)
	if err != nil {
		return err
	}
	rec.Artifacts[name] = version
	return saveRecord(stateDir, rec)
}
