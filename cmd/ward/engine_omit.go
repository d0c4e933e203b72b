//go:build !linux || ward_omit_kernel

package main

import (
	"errors"
	"log/slog"

	"github.com/wardnet/ward/node"
)

// kernelEngine refuses: this build has no kernel engine (not Linux, or
// built with -tags ward_omit_kernel, as `make agent` builds).
func kernelEngine(string, *slog.Logger) (node.KernelFunc, func() error, error) {
	return nil, nil, errors.New("--engine kernel is not in this build (Linux only, and not built with -tags ward_omit_kernel); use --engine userspace")
}
