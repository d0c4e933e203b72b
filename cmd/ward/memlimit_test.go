//go:build !ward_omit_coordinator

package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name, flag, env string
		machine         int64
		want            int64
		wantErr         bool
	}{
		{name: "default: share of the machine", machine: 8 * gib, want: 6 * gib},
		{name: "default: floor", machine: 32 << 20, want: minMemoryLimit},
		{name: "machine unknown: none", want: 0},
		{name: "env wins over the default", env: "3GiB", machine: 8 * gib, want: 0},
		{name: "flag wins over env", flag: "1.5GiB", env: "3GiB", machine: 8 * gib, want: 3 * gib / 2},
		{name: "flag in bytes", flag: "1073741824", want: gib},
		{name: "off", flag: "off", machine: 8 * gib, want: 0},
		{name: "too small", flag: "1MiB", wantErr: true},
		{name: "not a size", flag: "lots", wantErr: true},
		{name: "negative", flag: "-1GiB", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := memoryLimit(tc.flag, tc.env, tc.machine)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if got != tc.want {
				t.Fatalf("limit = %d, want %d", got, tc.want)
			}
			if err == nil && why == "" {
				t.Fatal("no reason given")
			}
		})
	}
}

func TestMemTotal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "meminfo")
	if err := os.WriteFile(p, []byte("MemFree:  100 kB\nMemTotal:       24683988 kB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := memTotal(p); got != 24683988<<10 {
		t.Fatalf("memTotal = %d", got)
	}
	if got := memTotal(filepath.Join(t.TempDir(), "none")); got != 0 {
		t.Fatalf("memTotal of a missing file = %d, want 0", got)
	}
}
