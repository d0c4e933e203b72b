package desktop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotInstalled means no start at login is installed.
var ErrNotInstalled = errors.New("ward does not start at login here")

// Autostart is the start of the client daemon at the person's login:
// one file and the commands that make the system use it.
type Autostart struct {
	// Path is the file: the launchd plist, the task's XML, the systemd
	// unit.
	Path string
	// Content is the file's content.
	Content []byte
	// Enable runs after the file is written: it registers the daemon and
	// starts it now.
	Enable [][]string
	// Disable runs before the file is removed: it stops the daemon and
	// unregisters it.
	Disable [][]string
	// Cleanup runs after the file is removed.
	Cleanup [][]string
}

// AutostartConfig is what the start at login runs.
type AutostartConfig struct {
	// Args is the daemon's command line, the program first (absolute).
	Args []string
	// StateDir is the daemon's state directory.
	StateDir string
	// LogFile is where the daemon's output goes (macOS, Linux; Windows'
	// task keeps none); "" leaves it to the system (Linux: the journal).
	LogFile string
	// Elevated asks for an administrator's rights (TUN mode): only
	// Windows can give them to a start at login; elsewhere Autostart
	// refuses it.
	Elevated bool
}

// Autostart returns the start at login of cfg on e's system.
func (e Env) Autostart(cfg AutostartConfig) (Autostart, error) {
	if len(cfg.Args) == 0 {
		return Autostart{}, errors.New("autostart: no program")
	}
	if e.GOOS != "windows" && e.Home == "" {
		return Autostart{}, errors.New("autostart: no home directory")
	}
	if e.root() {
		return Autostart{}, errors.New("autostart: it starts the daemon at your login, as you: run it as yourself, not as root")
	}
	if cfg.Elevated && e.GOOS != "windows" {
		// A launchd agent or systemd user unit runs as the user, who
		// cannot make a TUN; a Windows task can ask for the user's
		// administrator rights.
		return Autostart{}, fmt.Errorf("autostart with --tun (a start at login runs as you, and a TUN needs root; use proxy mode): %w", ErrUnsupported)
	}
	switch e.GOOS {
	case "darwin":
		return macAutostart(e, cfg.Args, cfg.LogFile), nil
	case "windows":
		return winAutostart(e, cfg.Args, cfg.StateDir, cfg.Elevated), nil
	case "linux":
		return linuxAutostart(e, cfg.Args, cfg.LogFile), nil
	}
	return Autostart{}, fmt.Errorf("autostart on %s: %w", e.GOOS, ErrUnsupported)
}

// Install writes the file and runs Enable with run. An older file is
// first unregistered (Disable, its failures ignored: it may not be
// registered), so installing twice replaces the first.
func (a Autostart) Install(run func([]string) error) error {
	if _, err := os.Stat(a.Path); err == nil {
		runAll(a.Disable, run)
	}
	if err := os.MkdirAll(filepath.Dir(a.Path), 0o755); err != nil {
		return fmt.Errorf("install autostart: %w", err)
	}
	if err := os.WriteFile(a.Path, a.Content, 0o644); err != nil {
		return fmt.Errorf("install autostart: %w", err)
	}
	return runAll(a.Enable, run)
}

// Uninstall runs Disable with run, removes the file and runs Cleanup.
// Without the file it does nothing and returns ErrNotInstalled. A
// failed Disable still removes the file: the daemon would start again
// at the next login otherwise.
func (a Autostart) Uninstall(run func([]string) error) error {
	if _, err := os.Stat(a.Path); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s missing: %w", a.Path, ErrNotInstalled)
	}
	disableErr := runAll(a.Disable, run)
	if err := os.Remove(a.Path); err != nil {
		return fmt.Errorf("uninstall autostart: %w", err)
	}
	return errors.Join(disableErr, runAll(a.Cleanup, run))
}

// runAll runs cmds in order, stopping at the first failure.
func runAll(cmds [][]string, run func([]string) error) error {
	for _, c := range cmds {
		if err := run(c); err != nil {
			return fmt.Errorf("autostart: %w", err)
		}
	}
	return nil
}
