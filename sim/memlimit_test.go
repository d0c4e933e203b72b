package sim

import "testing"

func TestSelfMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	for _, tc := range []struct {
		name      string
		cfg       int64
		env       string
		machine   int64
		want      int64
		wantError bool
	}{
		{name: "half the machine", machine: 24 * gib, want: 12 * gib},
		{name: "asked", cfg: 3 * gib, machine: 24 * gib, want: 3 * gib},
		{name: "asked beats GOMEMLIMIT", cfg: 3 * gib, env: "1GiB", want: 3 * gib},
		{name: "GOMEMLIMIT: the runtime's", env: "1GiB", machine: 24 * gib, want: 0},
		{name: "off", cfg: -1, machine: 24 * gib, want: 0},
		{name: "unknown machine", want: 0},
		{name: "tiny machine", machine: 100 << 20, want: minSelfMemoryLimit},
		{name: "too small", cfg: 1 << 20, wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why, err := selfMemoryLimit(tc.cfg, tc.env, tc.machine)
			if (err != nil) != tc.wantError {
				t.Fatalf("error %v, want one: %v", err, tc.wantError)
			}
			if got != tc.want {
				t.Errorf("limit %d (%s), want %d", got, why, tc.want)
			}
		})
	}
}
