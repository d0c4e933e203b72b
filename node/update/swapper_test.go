package update

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// errWindowsInUse is what windowsFiles answers where Windows would say
// ERROR_ACCESS_DENIED: replacing or removing the running binary.
var errWindowsInUse = errors.New("the running binary cannot be replaced or removed")

// windowsFiles is the real file system with Windows' rule for a running
// binary: it can be renamed (the mark follows it), never replaced by a
// rename onto it, nor removed.
type windowsFiles struct {
	running string // the running binary's path
}

func (w *windowsFiles) Rename(o, n string) error {
	if n == w.running {
		return &os.LinkError{Op: "rename", Old: o, New: n, Err: errWindowsInUse}
	}
	if err := os.Rename(o, n); err != nil {
		return err
	}
	if o == w.running {
		w.running = n
	}
	return nil
}

func (w *windowsFiles) Remove(name string) error {
	if name == w.running {
		return &os.PathError{Op: "remove", Path: name, Err: errWindowsInUse}
	}
	return os.Remove(name)
}

func (w *windowsFiles) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

var _ fileOps = (*windowsFiles)(nil)

// TestRenameAsidePaths names Windows' staged, kept and failed binaries
// beside ward.exe, keeping .exe so that each can run.
func TestRenameAsidePaths(t *testing.T) {
	for _, tt := range []struct{ exe, next, prev, failed string }{
		{`C:\Program Files\Ward\ward.exe`, `C:\Program Files\Ward\ward.new.exe`, `C:\Program Files\Ward\ward.prev.exe`, `C:\Program Files\Ward\ward.failed.exe`},
		{`C:\Ward\WARD.EXE`, `C:\Ward\WARD.new.exe`, `C:\Ward\WARD.prev.exe`, `C:\Ward\WARD.failed.exe`},
		{"/opt/ward", "/opt/ward.new.exe", "/opt/ward.prev.exe", "/opt/ward.failed.exe"},
	} {
		s := renameAside{}
		next, prev := s.paths(tt.exe)
		if next != tt.next || prev != tt.prev || s.failed(tt.exe) != tt.failed {
			t.Errorf("%s: %s %s %s; want %s %s %s", tt.exe, next, prev, s.failed(tt.exe), tt.next, tt.prev, tt.failed)
		}
	}
}

// TestRenameAsideSwapOnWindowsRules: where the running binary can only
// be renamed, replacing it in place fails (the old swap), the rename
// aside puts the new one at exe and the old at prev, a failed second
// rename puts the old one back, and a rollback, run by the new binary,
// restores the old one, twice without harm.
func TestRenameAsideSwapOnWindowsRules(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "ward.exe")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	win := &windowsFiles{running: exe}
	s := renameAside{fs: win}
	next, prev := s.paths(exe)
	write(exe, "old")
	write(next, "new")
	write(prev, "stale prev")
	write(s.failed(exe), "stale failed")
	if err := win.Rename(next, exe); !errors.Is(err, errWindowsInUse) {
		t.Fatalf("rename over the running binary: %v; the rule is not in force", err)
	}
	if err := s.backup(exe, prev); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{prev, s.failed(exe)} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("backup left %s: %v", p, err)
		}
	}
	if err := s.swapIn(filepath.Join(dir, "missing.exe"), exe, prev); err == nil {
		t.Fatal("swap in of a missing binary succeeded")
	}
	if readFile(t, exe) != "old" || win.running != exe {
		t.Fatalf("after a failed swap: exe %q, running at %s; want the old binary back at exe", readFile(t, exe), win.running)
	}
	if err := s.swapIn(next, exe, prev); err != nil {
		t.Fatal(err)
	}
	if readFile(t, exe) != "new" || readFile(t, prev) != "old" {
		t.Fatalf("after the swap: exe %q, prev %q", readFile(t, exe), readFile(t, prev))
	}
	win.running = exe // the new binary starts, and is unhealthy
	for range 2 {
		if err := s.restore(prev, exe); err != nil {
			t.Fatal(err)
		}
		if readFile(t, exe) != "old" || readFile(t, s.failed(exe)) != "new" {
			t.Fatalf("after the rollback: exe %q, failed %q", readFile(t, exe), readFile(t, s.failed(exe)))
		}
	}
}
