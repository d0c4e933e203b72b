//go:build !ward_omit_desktop

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/client/desktop"
)

// systemRun runs the commands that register and unregister the start at
// login (launchctl, schtasks, systemctl), and autostartEnv is the system
// they are for; tests put fakes here.
var (
	systemRun    = desktop.Run
	autostartEnv = desktop.Host
)

// autostartOf returns the start at login of the daemon f configures: this
// binary with f's flags, the OS's way (desktop.Env.Autostart).
func autostartOf(f *daemonFlags) (desktop.Autostart, error) {
	self, err := os.Executable()
	if err != nil {
		return desktop.Autostart{}, fmt.Errorf("find the ward binary: %w", err)
	}
	if self, err = filepath.Abs(self); err != nil {
		return desktop.Autostart{}, fmt.Errorf("find the ward binary: %w", err)
	}
	dir, err := filepath.Abs(f.cfg.StateDir)
	if err != nil {
		return desktop.Autostart{}, fmt.Errorf("state dir: %w", err)
	}
	abs := *f
	abs.cfg.StateDir = dir
	env := autostartEnv()
	args := append([]string{self}, abs.args()...)
	if env.GOOS == "windows" { // a task keeps no output: the daemon writes its log itself
		args = append(args, "--log-file", daemonLog(dir))
	}
	return env.Autostart(desktop.AutostartConfig{Args: args, StateDir: dir, LogFile: daemonLog(dir), Elevated: f.cfg.TUN})
}

// installAutostart makes the daemon of f start at login, and now.
func installAutostart(f *daemonFlags, out io.Writer) error {
	a, err := autostartOf(f)
	if err != nil {
		return err
	}
	if err := a.Install(systemRun); err != nil {
		return err
	}
	fmt.Fprintf(out, "The client daemon now starts when you log in (%s); `ward down --uninstall` undoes it.\n", a.Path)
	return nil
}

// uninstallAutostart undoes installAutostart for the state directory dir,
// which stops the daemon it started.
func uninstallAutostart(dir string, out io.Writer) error {
	a, err := autostartOf(&daemonFlags{cfg: client.Config{StateDir: dir}})
	if err != nil {
		return err
	}
	if err := a.Uninstall(systemRun); err != nil {
		if errors.Is(err, desktop.ErrNotInstalled) {
			fmt.Fprintln(out, "The client daemon was not set to start at login.")
			return nil
		}
		return err
	}
	fmt.Fprintf(out, "The client daemon no longer starts at login (removed %s).\n", a.Path)
	return nil
}
