package sim

import "testing"

func TestParseMemStats(t *testing.T) {
	text := "heap profile: 1: 2 [3: 4] @ heap/1048576\n" +
		"# runtime.MemStats\n# Alloc = 100\n# Sys = 9000\n# HeapAlloc = 120\n# HeapSys = 800\n" +
		"# Stack = 65536 / 65536\n# NextGC = 4000\n"
	live, heapSys, stacks, sys := parseMemStats(text)
	if live != 120 || heapSys != 800 || stacks != 65536 || sys != 9000 {
		t.Fatalf("parseMemStats = %d %d %d %d, want 120 800 65536 9000", live, heapSys, stacks, sys)
	}
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"goroutine profile: total 13357\n10000 @ 0x1\n", 13357},
		{"", 0},
		{"not a dump\n", 0},
	} {
		if got := parseGoroutines(tc.in); got != tc.want {
			t.Errorf("parseGoroutines(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
