//go:build !ward_omit_pprof

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// cpuProfileEnv names a file a `ward node` writes a CPU profile of itself
// to, from its start until it stops (SIGTERM or SIGINT): for measuring
// the data path through real processes (make bench-overlay's
// WARD_BENCH_PROFILE), where go test -cpuprofile cannot reach. Unset, no
// profile. The device agent's build leaves it out (ward_omit_pprof, in
// make agent's tags: runtime/pprof is 130 KB of a 12 MB budget).
const cpuProfileEnv = "WARD_CPUPROFILE"

// startCPUProfile starts the CPU profile cpuProfileEnv names, if any, and
// returns what ends it and writes the file.
func startCPUProfile() (func(), error) {
	path := os.Getenv(cpuProfileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cpuProfileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: start CPU profile: %w", cpuProfileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
