//go:build !ward_omit_coordinator

package main

import (
	"fmt"

	"github.com/wardnet/ward/internal/memlimit"
)

// defaultMemoryShare is the share of the machine's memory (the smaller of
// the RAM and the cgroup's limit) the coordinator's default soft memory
// limit is. Reason: a fleet's coordinator is mostly live data and parked
// stream goroutines, and the collector's default headroom doubles them
// (see package memlimit); near the limit it collects more often instead.
const defaultMemoryShare = 0.75

// setMemoryLimit sets the coordinator's soft memory limit for
// --memory-limit (flag; "" when not given) and returns the limit in force
// and where it came from.
func setMemoryLimit(flag string) (int64, string, error) {
	asked, err := memlimit.Parse(flag)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	limit, why, err := memlimit.Set(asked, defaultMemoryShare)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit %q: %w", flag, err)
	}
	return limit, why, nil
}
