//go:build ward_omit_pprof

package main

import "testing"

// TestCPUProfileRefusedWithoutPprof: a build without profiles says so
// when one is asked for, and runs when none is.
func TestCPUProfileRefusedWithoutPprof(t *testing.T) {
	t.Setenv(cpuProfileEnv, t.TempDir()+"/node.pprof")
	if _, err := startCPUProfile(); err == nil {
		t.Fatal("WARD_CPUPROFILE accepted by a build without profiles")
	}
	t.Setenv(cpuProfileEnv, "")
	end, err := startCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	end()
}
