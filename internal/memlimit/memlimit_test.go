package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPick(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name      string
		asked     int64
		env       string
		machine   int64
		share     float64
		want      int64
		wantError bool
	}{
		{name: "default: share of the machine", machine: 8 * gib, share: 0.75, want: 6 * gib},
		{name: "default: another share", machine: 24 * gib, share: 0.5, want: 12 * gib},
		{name: "default: floor", machine: 32 << 20, share: 0.75, want: Floor},
		{name: "machine unknown: none", share: 0.75, want: 0},
		{name: "GOMEMLIMIT wins over the default", env: "3GiB", machine: 8 * gib, share: 0.75, want: 0},
		{name: "asked wins over GOMEMLIMIT", asked: 3 * gib / 2, env: "3GiB", machine: 8 * gib, share: 0.75, want: 3 * gib / 2},
		{name: "off", asked: -1, machine: 8 * gib, share: 0.75, want: 0},
		{name: "too small", asked: 1 << 20, share: 0.75, wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := Pick(tc.asked, tc.env, tc.machine, tc.share)
			if (err != nil) != tc.wantError {
				t.Fatalf("err = %v, want an error: %v", err, tc.wantError)
			}
			if got != tc.want {
				t.Fatalf("limit = %d (%s), want %d", got, why, tc.want)
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

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{in: "", want: 0},
		{in: "off", want: -1},
		{in: "1.5GiB", want: 3 << 29},
		{in: "1073741824", want: 1 << 30},
		{in: "lots", wantErr: true},
		{in: "-1GiB", wantErr: true},
		{in: "9EiB", wantErr: true},
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d (an error: %v)", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
