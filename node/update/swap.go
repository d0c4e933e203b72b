package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// preflightTimeout bounds the new binary's `--version` run.
const preflightTimeout = 30 * time.Second

// stage copies the verified file to next (beside exe, see
// swapper.paths), executable, and runs it with --version: a binary that
// does not start on this device, or reports another version than was
// signed, is refused before anything is swapped.
func stage(ctx context.Context, file, next, version string) error {
	if err := copyFile(file, next, 0o755); err != nil {
		return fmt.Errorf("stage %s: %w", next, err)
	}
	ctx, cancel := context.WithTimeout(ctx, preflightTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, next, "--version").CombinedOutput()
	if err != nil {
		os.Remove(next)
		return fmt.Errorf("%w: the new binary does not run here: %w: %s", ErrRefused, err, tail(out))
	}
	if !strings.Contains(string(out), version) {
		os.Remove(next)
		return fmt.Errorf("%w: the new binary reports %q, signed as %s", ErrRefused, tail(out), version)
	}
	return nil
}

// copyFile copies src to dst (replaced) with mode, synced, through
// dst.tmp. A stale dst.tmp is removed first (a symbolic link planted
// there is removed, never followed), and dst.tmp is created with O_EXCL,
// so the copy never writes through a file or link that someone else put
// in its place.
func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale %s: %w", tmp, err)
	}
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, mode)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// tail is the end of a command's output, trimmed.
func tail(out []byte) string {
	const n = 256
	s := strings.TrimSpace(string(out))
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}
