package update

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"time"

	"github.com/wardnet/ward/wire"
)

// DefaultInstallTimeout bounds an artifact's install command.
const DefaultInstallTimeout = 10 * time.Minute

// runInstall runs an artifact's install command through the shell, in
// dir (the agent's state directory), with WARD_UPDATE_FILE (the verified
// file) and WARD_UPDATE_VERSION set, killed after timeout, and returns the
// tail of its output, which fits a report's reason.
func runInstall(ctx context.Context, dir, command, file, version string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.CommandContext(ctx, "cmd", "/C", command)
	} else {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", command)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WARD_UPDATE_FILE="+file, "WARD_UPDATE_VERSION="+version)
	out := &tailBuffer{max: wire.MaxUpdateReasonBytes - 128}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	tail := out.String()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return tail, fmt.Errorf("install command timed out after %s", timeout)
	}
	if err != nil {
		return tail, fmt.Errorf("install command: %w", err)
	}
	return tail, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	mu  sync.Mutex // mu guards buf
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.ToValidUTF8(t.buf, nil))
}
