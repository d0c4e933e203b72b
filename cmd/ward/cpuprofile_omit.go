//go:build ward_omit_pprof

package main

import (
	"fmt"
	"os"
)

// cpuProfileEnv: see cpuprofile.go; this build has no CPU profiles.
const cpuProfileEnv = "WARD_CPUPROFILE"

// startCPUProfile refuses a profile the build cannot write, so that
// asking for one does not pass unnoticed.
func startCPUProfile() (func(), error) {
	if os.Getenv(cpuProfileEnv) != "" {
		return nil, fmt.Errorf("%s: this build has no CPU profiles (built with ward_omit_pprof)", cpuProfileEnv)
	}
	return func() {}, nil
}
