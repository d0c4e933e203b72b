//go:build !ward_omit_coordinator

package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// The coordinator's soft memory limit (debug.SetMemoryLimit).
//
// Reason: the collector lets the heap grow to twice what is live, plus the
// goroutine stacks again (GOGC=100 counts them), and a fleet's coordinator
// is mostly live data and parked stream goroutines; near the limit the
// collector runs more often instead. The limit is soft: the runtime never
// collects below the live heap, and once the live heap nears the limit it
// spends at most about half the CPU on collection (its limiter) and lets
// the memory pass the limit rather than stall. So a limit below what the
// fleet needs costs CPU, never correctness; RSS then follows the live heap.
const (
	// defaultMemoryShare is the share of the machine's memory (the
	// smaller of the RAM and the cgroup's limit) the default limit is.
	defaultMemoryShare = 0.75
	// minMemoryLimit is the smallest limit --memory-limit takes: under it
	// the collector would run all the time for an empty coordinator.
	minMemoryLimit = 64 << 20
)

// memoryLimit is the limit to set from --memory-limit (flag, "" when not
// given), GOMEMLIMIT (env) and the machine's memory (machine, 0: unknown):
// limit 0 sets none (the runtime's own, or GOMEMLIMIT's, stays); why says
// where the figure came from, for the log.
func memoryLimit(flag, env string, machine int64) (limit int64, why string, err error) {
	switch {
	case flag == "off":
		return 0, "off (--memory-limit)", nil
	case flag != "":
		b, err := humanize.ParseBytes(flag)
		if err != nil {
			return 0, "", fmt.Errorf("--memory-limit %q: a size (1.5GiB, 2GB, bytes) or off: %w", flag, err)
		}
		if b < minMemoryLimit || b > 1<<62 {
			return 0, "", fmt.Errorf("--memory-limit %q: at least %s", flag, humanize.IBytes(minMemoryLimit))
		}
		return int64(b), "--memory-limit", nil
	case env != "":
		return 0, "GOMEMLIMIT", nil // the runtime read it at start
	case machine > 0:
		return max(int64(float64(machine)*defaultMemoryShare), minMemoryLimit), fmt.Sprintf("%.0f%% of the machine's %s", 100*defaultMemoryShare, humanize.IBytes(uint64(machine))), nil
	}
	return 0, "none (the machine's memory is not known)", nil
}

// setMemoryLimit sets the coordinator's soft memory limit (memoryLimit)
// and returns it (the runtime's, whatever set it) and where it came from.
func setMemoryLimit(flag string) (int64, string, error) {
	limit, why, err := memoryLimit(flag, os.Getenv("GOMEMLIMIT"), machineMemory())
	if err != nil {
		return 0, "", err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return debug.SetMemoryLimit(-1), why, nil
}

// machineMemory is the memory this process may use: the smaller of the
// RAM (/proc/meminfo) and its cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes); 0 when neither is known.
func machineMemory() int64 {
	ram := memTotal("/proc/meminfo")
	for _, p := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && n > 0 && (ram == 0 || n < ram) {
			ram = n // "max" (v2) or a huge figure (v1) mean no limit
		}
	}
	return ram
}

// memTotal reads MemTotal from a meminfo file; 0 when it cannot.
func memTotal(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != "MemTotal" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}
