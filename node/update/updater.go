package update

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/wardnet/ward/release"
	"github.com/wardnet/ward/wire"
)

// Defaults of Config.
const (
	// DefaultHealthWindow is how long a new Ward binary has to re-join
	// the coordinator before the device goes back to the previous one.
	DefaultHealthWindow = 90 * time.Second
	// DefaultPoll is how often the agent asks for an assignment.
	DefaultPoll = time.Minute
)

// Config configures an Updater.
type Config struct {
	// StateDir is the agent's state directory; required.
	StateDir string
	// Coordinator is reached with the node's session; required.
	Coordinator Coordinator
	// Version is the running agent's version.
	Version string
	// Device is what targets must fit; empty GOOS and GOARCH mean the
	// running binary's.
	Device Device
	// Exe is the running binary's path; "" means os.Executable's.
	Exe string
	// HealthWindow, InstallTimeout and Poll: 0 means DefaultHealthWindow,
	// DefaultInstallTimeout and DefaultPoll.
	HealthWindow, InstallTimeout, Poll time.Duration
	// Backoff paces download retries; zero means DefaultBackoff.
	Backoff Backoff
	// Joined waits until the agent has re-joined the coordinator (a full
	// map from it applied), ctx ends or d passes, and reports whether it
	// did; required.
	Joined func(ctx context.Context, d time.Duration) bool
	// Supported reports whether the coordinator speaks
	// wire.FeatureUpdates; nil means it does.
	Supported func() bool
	// Logger receives the updater's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Updater runs the updates the coordinator assigns to this device.
type Updater struct {
	cfg Config
	log *slog.Logger
	// files swaps Ward's binary: platformSwapper's (tests set another).
	files swapper
}

// New validates cfg and returns an Updater.
func New(cfg Config) (*Updater, error) {
	if cfg.StateDir == "" || cfg.Coordinator == nil || cfg.Joined == nil {
		return nil, errors.New("update config: state directory, coordinator and Joined are required")
	}
	if cfg.Device.GOOS == "" && cfg.Device.GOARCH == "" {
		cfg.Device.GOOS, cfg.Device.GOARCH = runtime.GOOS, runtime.GOARCH
	}
	if cfg.Exe == "" {
		exe, err := executable()
		if err != nil {
			return nil, fmt.Errorf("update config: %w", err)
		}
		cfg.Exe = exe
	}
	cfg.HealthWindow = cmpOr(cfg.HealthWindow, DefaultHealthWindow)
	cfg.InstallTimeout = cmpOr(cfg.InstallTimeout, DefaultInstallTimeout)
	cfg.Poll = cmpOr(cfg.Poll, DefaultPoll)
	if cfg.Backoff.Min <= 0 || cfg.Backoff.Max < cfg.Backoff.Min || cfg.Backoff.Tries <= 0 || cfg.Backoff.Stall <= 0 {
		cfg.Backoff = DefaultBackoff()
	}
	if cfg.Supported == nil {
		cfg.Supported = func() bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Updater{cfg: cfg, log: cfg.Logger, files: platformSwapper()}, nil
}

// executable is the running binary's path, links resolved.
func executable() (string, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return "", fmt.Errorf("running binary: %w", err)
	}
	return exe, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Run settles a Ward update the previous run left (see resume), then asks
// for an assignment every Poll while the coordinator supports updates and
// runs it, until ctx ends (nil) or an update needs the agent to restart
// into the binary at its path (ErrRestart: the caller stops the agent and
// calls Exec).
func (u *Updater) Run(ctx context.Context) error {
	if err := u.resume(ctx); errors.Is(err, ErrRestart) {
		return err
	} else if err != nil {
		u.log.Error("update: settle the last update", "err", err)
	}
	t := time.NewTicker(u.cfg.Poll)
	defer t.Stop()
	for {
		if u.cfg.Supported() {
			if err := u.poll(ctx); errors.Is(err, ErrRestart) {
				return err
			} else if err != nil && ctx.Err() == nil {
				u.log.Warn("update", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll asks for an assignment and runs it; an assignment that already
// ended on this device has its final report sent again (the last one may
// have been lost).
func (u *Updater) poll(ctx context.Context) error {
	a, err := u.cfg.Coordinator.UpdateAssignment(ctx)
	if err != nil || a == nil {
		return err
	}
	if r, ok := u.ended(*a); ok {
		return u.cfg.Coordinator.UpdateReport(ctx, r)
	}
	return u.Apply(ctx, *a)
}

// Apply runs one assignment, reporting each step: downloading (with
// progress), verifying, installing, then healthy or failed with the
// reason. A Ward update returns ErrRestart once the new binary is in
// place; its verdict comes after the restart (see resume). A transient
// failure (the coordinator unreachable, busy) is returned without a final
// report: the next poll tries again.
func (u *Updater) Apply(ctx context.Context, a wire.UpdateAssignment) error {
	rep := reporter{u: u, a: a}
	rep.send(ctx, wire.UpdateDownloading, 0, "")
	file, c, err := u.fetch(ctx, a, &rep)
	if err != nil || file == "" {
		return err
	}
	rep.send(ctx, wire.UpdateInstalling, 0, "")
	if a.Kind == wire.UpdateKindArtifact {
		return u.installArtifact(ctx, a, c, file, &rep)
	}
	return u.swap(ctx, a, c, file, &rep)
}

// fetch looks the target up, checks it fits the device, downloads and
// verifies it; "" and nil when the target already runs (reported
// healthy).
func (u *Updater) fetch(ctx context.Context, a wire.UpdateAssignment, rep *reporter) (string, release.Custom, error) {
	tf, c, err := lookup(ctx, u.cfg.StateDir, u.cfg.Coordinator, a.Target)
	if err != nil {
		return "", c, rep.fail(ctx, err)
	}
	same, err := checkTarget(c, a, u.cfg.Device, u.running(a))
	if err != nil {
		return "", c, rep.fail(ctx, err)
	}
	if same {
		return "", c, rep.final(ctx, wire.UpdateHealthy, "version "+c.Version+" already runs", c.Version)
	}
	part, err := download(ctx, u.cfg.StateDir, u.cfg.Coordinator, tf, u.cfg.Backoff, func(pct int) {
		rep.send(ctx, wire.UpdateDownloading, pct, "")
	})
	if err != nil {
		return "", c, rep.fail(ctx, err)
	}
	rep.send(ctx, wire.UpdateVerifying, 100, "")
	file, err := finish(part, tf)
	if err != nil {
		return "", c, rep.fail(ctx, err)
	}
	return file, c, nil
}

// installArtifact runs the artifact's install command and reports its
// exit status and output tail.
func (u *Updater) installArtifact(ctx context.Context, a wire.UpdateAssignment, c release.Custom, file string, rep *reporter) error {
	out, err := runInstall(ctx, u.cfg.StateDir, c.Install, file, c.Version, u.cfg.InstallTimeout)
	os.Remove(file)
	if err != nil {
		return rep.final(ctx, wire.UpdateFailed, joinReason(err.Error(), out), "")
	}
	if err := setArtifactVersion(u.cfg.StateDir, artifactName(a.Target), c.Version); err != nil {
		u.log.Warn("update: record artifact version", "err", err)
	}
	return rep.final(ctx, wire.UpdateHealthy, out, c.Version)
}

// running is the version the assignment's target would replace: the
// agent's for a Ward update, else the artifact's last installed.
func (u *Updater) running(a wire.UpdateAssignment) string {
	if a.Kind == wire.UpdateKindWard {
		return u.cfg.Version
	}
	return artifactVersion(u.cfg.StateDir, artifactName(a.Target))
}

// artifactName names an artifact by its target's directory
// ("app/camera-fw" for "app/camera-fw/fw-1.2.bin").
func artifactName(target string) string {
	if i := strings.LastIndex(target, "/"); i > 0 {
		return target[:i]
	}
	return target
}

// joinReason puts an error and an output tail in one report reason.
func joinReason(msg, out string) string {
	if out == "" {
		return msg
	}
	return msg + "\n" + out
}
