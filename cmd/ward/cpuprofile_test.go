//go:build !ward_omit_pprof

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCPUProfileWrittenWhenAsked: WARD_CPUPROFILE gets a profile (gzip,
// as pprof writes them) once the returned func runs; unset, nothing.
func TestCPUProfileWrittenWhenAsked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.pprof")
	t.Setenv(cpuProfileEnv, path)
	end, err := startCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	end()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Fatalf("profile %s: %d bytes, %v; want a gzipped profile", path, len(b), err)
	}

	t.Setenv(cpuProfileEnv, "")
	end, err = startCPUProfile()
	if err != nil {
		t.Fatal(err)
	}
	end()

	t.Setenv(cpuProfileEnv, filepath.Join(t.TempDir(), "no", "such", "dir", "x.pprof"))
	if _, err := startCPUProfile(); err == nil {
		t.Fatal("a profile path that cannot be created was accepted")
	}
}
