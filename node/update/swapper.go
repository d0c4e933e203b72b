package update

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// swapper is how this platform puts a new binary in place of the running
// one and the previous one back (platformSwapper, per OS). Only the Ward
// update's state machine calls it, on the updater's goroutine; each
// method works on files beside the binary and blocks on the file system
// only.
type swapper interface {
	// paths names, beside exe, the staged new binary and the kept
	// previous one.
	paths(exe string) (next, prev string)
	// backup readies keeping the running binary at prev, before the
	// trial is recorded; exe stays in place.
	backup(exe, prev string) error
	// swapIn puts next at exe, the previous binary ending at prev.
	swapIn(next, exe, prev string) error
	// restore puts prev back at exe (a rollback, run by the new binary);
	// prev already gone means it was restored before a crash.
	restore(prev, exe string) error
}

// replaceSwap is the swap where a running binary may be replaced
// (Linux, macOS): exe.prev is a hard link (else a copy) of exe made
// before the trial, and one atomic rename puts exe.new over exe, so exe
// is always one whole binary.
type replaceSwap struct{}

func (replaceSwap) paths(exe string) (next, prev string) { return exe + ".new", exe + ".prev" }

func (replaceSwap) backup(exe, prev string) error {
	if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Link(exe, prev); err != nil {
		if err := copyFile(exe, prev, 0o755); err != nil {
			return fmt.Errorf("back up %s: %w", exe, err)
		}
	}
	return nil
}

func (replaceSwap) swapIn(next, exe, _ string) error { return os.Rename(next, exe) }

func (replaceSwap) restore(prev, exe string) error {
	if err := os.Rename(prev, exe); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// fileOps are the file operations renameAside needs: the OS's, or in
// tests a file system that refuses what Windows refuses.
type fileOps interface {
	Rename(oldpath, newpath string) error
	Remove(name string) error
	Stat(name string) (fs.FileInfo, error)
}

// osFiles is fileOps on the real file system.
type osFiles struct{}

func (osFiles) Rename(o, n string) error              { return os.Rename(o, n) }
func (osFiles) Remove(name string) error              { return os.Remove(name) }
func (osFiles) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// renameAside is the swap where a running binary can be renamed but not
// replaced or removed (Windows): the running ward.exe is renamed to
// ward.prev.exe, then ward.new.exe to ward.exe; a rollback renames the
// running new binary to ward.failed.exe and ward.prev.exe back. The
// names keep .exe so that the staged binary runs its --version check.
// Between the two renames of a swap or a rollback no file is at exe: a
// crash in that instant leaves the binary at prev (the swap) or prev and
// failed (the rollback), which the service manager cannot start.
type renameAside struct{ fs fileOps }

func (renameAside) paths(exe string) (next, prev string) {
	base := trimExe(exe)
	return base + ".new.exe", base + ".prev.exe"
}

// failed is where a rollback moves the running new binary.
func (renameAside) failed(exe string) string { return trimExe(exe) + ".failed.exe" }

// trimExe is exe without its ".exe", any case.
func trimExe(exe string) string {
	if strings.EqualFold(exe[max(0, len(exe)-4):], ".exe") {
		return exe[:len(exe)-4]
	}
	return exe
}

// backup removes what an earlier update left at prev and failed (neither
// runs now); the running binary is renamed to prev by swapIn.
func (s renameAside) backup(exe, prev string) error {
	for _, p := range []string{prev, s.failed(exe)} {
		if err := s.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
	}
	return nil
}

func (s renameAside) swapIn(next, exe, prev string) error {
	if err := s.fs.Rename(exe, prev); err != nil {
		return fmt.Errorf("move the running binary aside: %w", err)
	}
	if err := s.fs.Rename(next, exe); err != nil {
		if uerr := s.fs.Rename(prev, exe); uerr != nil {
			return fmt.Errorf("put the new binary in place: %w; put the previous one back: %w", err, uerr)
		}
		return fmt.Errorf("put the new binary in place: %w", err)
	}
	return nil
}

func (s renameAside) restore(prev, exe string) error {
	if _, err := s.fs.Stat(prev); errors.Is(err, fs.ErrNotExist) {
		return nil // restored before a crash
	}
	failed := s.failed(exe)
	if err := s.fs.Remove(failed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", failed, err)
	}
	if err := s.fs.Rename(exe, failed); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move the failed binary aside: %w", err)
	}
	if err := s.fs.Rename(prev, exe); err != nil {
		return fmt.Errorf("put the previous binary back: %w", err)
	}
	return nil
}
