//go:build !ward_omit_desktop

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wardnet/ward/client"
	"github.com/wardnet/ward/client/desktop"
	"github.com/wardnet/ward/node"
)

// TestUpInstallDownUninstallSystemdUnit: `ward up --install`'s start at
// login writes a systemd user unit under HOME that runs this binary's
// daemon with the flags given, and enables and starts it; `ward down
// --uninstall` (no daemon running) disables it and removes the unit.
// systemctl is a recording fake.
func TestUpInstallDownUninstallSystemdUnit(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	var ran []string
	oldRun, oldEnv := systemRun, autostartEnv
	systemRun = func(args []string) error { ran = append(ran, strings.Join(args, " ")); return nil }
	autostartEnv = func() desktop.Env { e := desktop.Host(); e.UID = 1000; return e } // as a person, even when the test runs as root
	t.Cleanup(func() { systemRun, autostartEnv = oldRun, oldEnv })
	state := filepath.Join(home, "my state")
	f := daemonFlags{cfg: client.Config{StateDir: state, Coordinator: "https://ward.example", SOCKS5: "127.0.0.1:1080", Web: "127.0.0.1:0", TUNName: "ward0",
		UAPIName: node.DefaultUAPIName, UAPIDir: node.DefaultUAPIDir}} // the flags' defaults
	var out bytes.Buffer
	if err := installAutostart(&f, &out); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(home, ".config", "systemd", "user", "ward.service")
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	wantExec := "ExecStart=" + self + ` daemon --state-dir "` + state + `" --socks5 127.0.0.1:1080 --http-proxy "" --web 127.0.0.1:0 --tun-name ward0 --coordinator https://ward.example` + "\n"
	wantLog := "StandardError=append:" + filepath.Join(state, "daemon.log") + "\n"
	for _, want := range []string{wantExec, wantLog} {
		if !strings.Contains(string(b), want) {
			t.Errorf("unit lacks %q:\n%s", want, b)
		}
	}
	root := newRootCmd()
	root.SetOut(&out)
	root.SetArgs([]string{"down", "--uninstall", "--state-dir", state})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(unit); !os.IsNotExist(err) {
		t.Errorf("unit still there after down --uninstall: %v", err)
	}
	want := []string{"systemctl --user daemon-reload", "systemctl --user enable --now ward.service",
		"systemctl --user disable --now ward.service", "systemctl --user daemon-reload"}
	if diff := cmp.Diff(want, ran); diff != "" {
		t.Errorf("systemctl commands (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.String(), "no longer starts at login") {
		t.Errorf("down --uninstall said %q", out.String())
	}
}

// TestDaemonLogFile: `ward daemon --log-file` (what the Windows task
// runs, since a task keeps no output) writes its logs to the file.
func TestDaemonLogFile(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "daemon.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetArgs([]string{"daemon", "--state-dir", dir, "--log-file", logFile, "--socks5", "", "--http-proxy", "", "--web", "off"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	api := apiClient(dir)
	for stop := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := api.Status(ctx); err == nil {
			break
		}
		if time.Now().After(stop) {
			t.Fatal("the daemon did not answer")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(logFile)
	if err != nil || !strings.Contains(string(b), "level=") {
		t.Fatalf("log file: %q, %v", b, err)
	}
	if fi, err := os.Stat(logFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("log file mode: %v, %v", fi.Mode(), err)
	}
}
