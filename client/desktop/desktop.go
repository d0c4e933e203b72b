// Package desktop is where Ward meets the person's operating system,
// by each one's conventions: the state directory, opening the login page
// or a folder, a notification that the session's key is about to
// expire, and starting the client daemon at login (launchd on macOS, a
// scheduled task on Windows, a systemd user unit on Linux).
//
// Every system's choices are plain functions of an Env (macos.go, win.go,
// linux.go): they compile everywhere, so their table tests run on any
// OS; Host picks the running one. What they return are command lines and
// file contents; Run and the Autostart methods carry them out.
package desktop

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// ErrUnsupported means the OS has no such convention here.
var ErrUnsupported = errors.New("not supported on this operating system")

// Env is what the choices read of the OS.
type Env struct {
	// GOOS is the system: "darwin", "windows", "linux" (any other is
	// treated as Linux's desktop conventions, freedesktop.org's).
	GOOS string
	// UID is the process's user id (-1 on Windows); 0 is root.
	UID int
	// Home is the user's home directory; may be empty.
	Home string
	// Getenv reads the environment; nil reads nothing.
	Getenv func(string) string
}

// Host returns the running system's Env.
func Host() Env {
	home, _ := os.UserHomeDir()
	return Env{GOOS: runtime.GOOS, UID: os.Geteuid(), Home: home, Getenv: os.Getenv}
}

// getenv reads key, "" without Getenv.
func (e Env) getenv(key string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(key)
}

// root reports whether the process runs as root (never on Windows, where
// an administrator keeps the profile's directories).
func (e Env) root() bool { return e.UID == 0 && e.GOOS != "windows" }

// StateDir returns the default state directory of a daemon, device or
// person: root's system-wide one, else the user's by the OS's convention
// (see each system's stateDir).
func (e Env) StateDir() string {
	switch e.GOOS {
	case "darwin":
		return macStateDir(e)
	case "windows":
		return winStateDir(e)
	}
	return linuxStateDir(e)
}

// RootStateDir returns the state directory of a daemon running as root
// (Windows has none: "").
func (e Env) RootStateDir() string {
	r := e
	r.UID = 0
	if e.GOOS == "windows" {
		return ""
	}
	return r.StateDir()
}

// OpenCommand returns the command that opens target, a URL or a
// directory, with the person's default application, without waiting
// for it.
func (e Env) OpenCommand(target string) []string {
	switch e.GOOS {
	case "darwin":
		return []string{"open", target}
	case "windows":
		return []string{"rundll32", "url.dll,FileProtocolHandler", target}
	}
	return []string{"xdg-open", target}
}

// CanOpen reports whether a program the person sees can be opened: on
// Linux only inside a graphical session.
func (e Env) CanOpen() bool {
	switch e.GOOS {
	case "darwin", "windows":
		return true
	}
	return e.getenv("DISPLAY") != "" || e.getenv("WAYLAND_DISPLAY") != ""
}

// NotifyCommand returns the command that shows the person a notification
// with title and body.
func (e Env) NotifyCommand(title, body string) []string {
	switch e.GOOS {
	case "darwin":
		return macNotify(title, body)
	case "windows":
		return winNotify(title, body)
	}
	return []string{"notify-send", "--app-name=Ward", title, body}
}

// Start runs args without waiting for it to end (an opened browser, a
// notification).
func Start(args []string) error {
	c := exec.Command(args[0], args[1:]...)
	if err := c.Start(); err != nil {
		return fmt.Errorf("run %s: %w", args[0], err)
	}
	go c.Wait() // reaps it; ends when it does
	return nil
}

// Run runs args to its end; its output is part of the error.
func Run(args []string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
