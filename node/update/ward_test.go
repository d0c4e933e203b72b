package update

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// script is a stand-in Ward binary: it prints its version, or exits 1
// when broken.
func script(version string, broken bool) []byte {
	if broken {
		return []byte("#!/bin/sh\necho 'exec format error' >&2\nexit 1\n")
	}
	return []byte("#!/bin/sh\necho 'ward version " + version + "'\n")
}

// wardAt is a device whose updater runs as the binary of version at the
// device's exe path.
func wardAt(t *testing.T, dev *device, src Coordinator, version string, joined bool) *Updater {
	t.Helper()
	u, err := New(Config{StateDir: dev.dir, Coordinator: src, Version: version, Device: Device{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH},
		Exe: dev.u.cfg.Exe, HealthWindow: time.Minute, Backoff: dev.u.cfg.Backoff, Logger: dev.u.log,
		Joined: func(context.Context, time.Duration) bool { return joined }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func wardTarget(v string) wire.UpdateAssignment {
	return wire.UpdateAssignment{Rollout: 3, Target: "ward/" + runtime.GOOS + "-" + runtime.GOARCH + "/ward-" + v, Kind: wire.UpdateKindWard, Version: v}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWardUpdateFailurePaths walks the Ward update's state machine
// through each way it can end: the new binary re-joins (healthy); it
// does not within the window, or keeps crashing, or the device crashed
// mid-rollback (the previous binary put back, rolled_back reported by
// it); the device crashed before the swap; the new binary does not run
// on the device (refused before any swap). No path leaves a trial record
// behind or an unknown binary in place.
func TestWardUpdateFailurePaths(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stand-in binaries are shell scripts")
	}
	for _, sw := range []string{"replace", "rename aside (Windows)"} {
		t.Run(sw, func(t *testing.T) { wardUpdateFailurePaths(t, sw == "replace") })
	}
}

// wardUpdateFailurePaths is TestWardUpdateFailurePaths with the swap
// where a running binary may be replaced (replace), or with Windows'
// (renameAside) over a file system that refuses what Windows refuses.
func wardUpdateFailurePaths(t *testing.T, replace bool) {
	old := string(script("1.0.0", false))
	for _, tt := range []struct {
		name string
		// broken signs a binary that does not run.
		broken bool
		// after the swap: the trial as a crash left it, then which
		// binary starts, and whether it re-joins.
		crash   func(t *testing.T, tr *trial)
		runs    string
		joined  bool
		restart bool // the start ends in ErrRestart (a rollback)
		// then, the binary at exe, and the final report.
		exe        string
		final      wire.UpdateState
		wantReason string
	}{
		{name: "the new binary re-joins", runs: "2.0.0", joined: true, exe: "2.0.0", final: wire.UpdateHealthy, wantReason: "re-joined"},
		{name: "the new binary does not re-join", runs: "2.0.0", restart: true, exe: "1.0.0", final: wire.UpdateRolledBack, wantReason: "health window"},
		{name: "the new binary keeps crashing", crash: func(t *testing.T, tr *trial) { tr.Boots = maxBoots },
			runs: "2.0.0", joined: true, restart: true, exe: "1.0.0", final: wire.UpdateRolledBack, wantReason: "started 3 times"},
		{name: "the window passed while it was down", crash: func(t *testing.T, tr *trial) { tr.Deadline = time.Now().Add(-time.Second) },
			runs: "2.0.0", joined: true, restart: true, exe: "1.0.0", final: wire.UpdateRolledBack, wantReason: "health window"},
		{name: "crash mid-rollback", crash: func(t *testing.T, tr *trial) { tr.Phase, tr.Reason = phaseRolledBack, "did not re-join" },
			runs: "2.0.0", restart: true, exe: "1.0.0", final: wire.UpdateRolledBack, wantReason: "did not re-join"},
		{name: "crash before the swap", crash: func(t *testing.T, tr *trial) {
			if err := os.WriteFile(tr.Exe, []byte(old), 0o755); err != nil {
				t.Fatal(err)
			}
		}, runs: "1.0.0", exe: "1.0.0", final: wire.UpdateFailed, wantReason: "interrupted before"},
		{name: "the new binary does not run here", broken: true, exe: "1.0.0", final: wire.UpdateFailed, wantReason: "does not run here"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, s := newFleetRepo(t), newServer(t)
			next := script("2.0.0", tt.broken)
			r.sign(t, wardTarget("2.0.0").Target, next, release.Custom{Version: "2.0.0", Kind: wire.UpdateKindWard, GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}, time.Now())
			s.set(r.files(t))
			dev := newDevice(t, r, s, "1.0.0", Device{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH})
			exe := dev.u.cfg.Exe
			if err := os.WriteFile(exe, []byte(old), 0o755); err != nil {
				t.Fatal(err)
			}
			win := &windowsFiles{}
			// start is the binary at exe starting as version.
			start := func(version string, joined bool) *Updater {
				u := wardAt(t, dev, s, version, joined)
				if !replace {
					win.running, u.files = exe, renameAside{fs: win}
				}
				return u
			}
			_, prev := start("1.0.0", true).files.paths(exe)
			err := start("1.0.0", true).Apply(t.Context(), wardTarget("2.0.0"))
			if tt.broken {
				if err != nil {
					t.Fatalf("Apply: %v", err)
				}
			} else {
				if !errors.Is(err, ErrRestart) {
					t.Fatalf("Apply: %v, want ErrRestart", err)
				}
				if readFile(t, exe) != string(next) || readFile(t, prev) != old {
					t.Fatal("the swap did not put 2.0.0 at exe and keep 1.0.0 beside it")
				}
				if tt.crash != nil {
					tr, err := loadTrial(dev.dir)
					if err != nil || tr == nil {
						t.Fatalf("trial %v %v", tr, err)
					}
					tt.crash(t, tr)
					if err := saveTrial(dev.dir, tr); err != nil {
						t.Fatal(err)
					}
				}
				err = start(tt.runs, tt.joined).resume(t.Context())
				if tt.restart != errors.Is(err, ErrRestart) {
					t.Fatalf("start as %s: %v, restart %v", tt.runs, err, tt.restart)
				}
				if tt.restart { // the previous binary starts
					if err := start("1.0.0", true).resume(t.Context()); err != nil {
						t.Fatalf("start as 1.0.0: %v", err)
					}
				}
			}
			if got := readFile(t, exe); !strings.Contains(got, "ward version "+tt.exe) {
				t.Errorf("exe is %q, want version %s", got, tt.exe)
			}
			rep := s.last(t)
			if rep.State != tt.final || !strings.Contains(rep.Reason, tt.wantReason) {
				t.Errorf("final report %s %q, want %s %q", rep.State, rep.Reason, tt.final, tt.wantReason)
			}
			if tr, err := loadTrial(dev.dir); tr != nil || err != nil {
				t.Errorf("trial left behind: %+v %v", tr, err)
			}
			if _, ok := start(tt.exe, true).ended(wardTarget("2.0.0")); !ok {
				t.Error("the update is not recorded as ended: the next poll would run it again")
			}
		})
	}
}

// TestStageCreatesTmpExclusively: a symbolic link planted at exe.new.tmp
// (by a process that may write the state directory but not the victim's
// directory) is removed, never written through, and a stale temp file is
// replaced; exe.new is the verified binary.
func TestStageCreatesTmpExclusively(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("stand-in binaries are shell scripts")
	}
	for _, planted := range []string{"symlink", "stale file"} {
		t.Run(planted, func(t *testing.T) {
			dir := t.TempDir()
			exe, file, victim := dir+"/ward", dir+"/download", dir+"/victim"
			for p, b := range map[string]string{exe: string(script("1.0.0", false)), file: string(script("2.0.0", false)), victim: "precious"} {
				if err := os.WriteFile(p, []byte(b), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			var err error
			if planted == "symlink" {
				err = os.Symlink(victim, exe+".new.tmp")
			} else {
				err = os.WriteFile(exe+".new.tmp", []byte("half a binary"), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			next := exe + ".new"
			if err := stage(context.Background(), file, next, "2.0.0"); err != nil {
				t.Fatalf("stage: %v", err)
			}
			if got := readFile(t, victim); got != "precious" {
				t.Errorf("victim written through the planted link: %q", got)
			}
			if fi, err := os.Lstat(next); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: %v, %v; want a regular file", next, fi, err)
			}
			if got := readFile(t, next); got != string(script("2.0.0", false)) {
				t.Errorf("%s = %q", next, got)
			}
			if _, err := os.Lstat(exe + ".new.tmp"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("temp file left behind: %v", err)
			}
		})
	}
}
