//go:build !linux

package kernelwg

import (
	"errors"
	"log/slog"
)

// errNotLinux: kernel WireGuard links are Linux's.
var errNotLinux = errors.New("the kernel engine runs on Linux only (use --engine userspace)")

func newLinkOps(int, *slog.Logger) (LinkOps, error) { return nil, errNotLinux }

func newClient() (Client, error) { return nil, errNotLinux }
