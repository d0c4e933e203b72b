//go:build linux && !ward_omit_kernel

package main

import (
	"log/slog"

	"github.com/wardnet/ward/kernelwg"
	"github.com/wardnet/ward/node"
)

// kernelEngine checks that this host can run the kernel engine (a kernel
// with WireGuard, CAP_NET_ADMIN) and returns what opens its link, named
// link, and what releases it.
func kernelEngine(link string, log *slog.Logger) (node.KernelFunc, func() error, error) {
	k, err := kernelwg.New(kernelwg.Config{Name: link, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return k.Open, k.Close, nil
}
