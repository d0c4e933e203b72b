// Package memlimit chooses and sets a process's soft memory limit
// (debug.SetMemoryLimit) from what was asked, GOMEMLIMIT and the memory
// the machine gives the process: the coordinator's (--memory-limit) and
// the fleet simulator's own (--sim-memory-limit).
//
// Reason for a limit: the collector lets the heap grow to twice what is
// live, plus the goroutine stacks again (GOGC=100 counts them); near the
// limit it runs more often instead. The limit is soft: the runtime never
// collects below the live heap, and once the live heap nears the limit it
// spends at most about half the CPU on collection and lets the memory
// pass the limit rather than stall. So a limit below what a process needs
// costs CPU, never correctness.
package memlimit

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/dustin/go-humanize"
)

// Floor is the smallest limit Pick takes: under it the collector would
// run all the time.
const Floor = 64 << 20

// Pick is the limit to set for asked (bytes; 0: the default, negative:
// off), GOMEMLIMIT (env) and the machine's memory (machine, 0: unknown),
// whose share is the default: limit 0 sets none (the runtime's own, or
// GOMEMLIMIT's, stays); why says where the figure came from, for a log.
// An asked limit under Floor is an error.
func Pick(asked int64, env string, machine int64, share float64) (limit int64, why string, err error) {
	switch {
	case asked < 0:
		return 0, "off", nil
	case asked > 0 && asked < Floor:
		return 0, "", fmt.Errorf("memory limit of %d bytes: want at least %d MiB", asked, Floor>>20)
	case asked > 0:
		return asked, "asked", nil
	case env != "":
		return 0, "GOMEMLIMIT", nil // the runtime read it at start
	case machine > 0:
		return max(int64(float64(machine)*share), Floor),
			fmt.Sprintf("%.0f%% of the machine's %d MiB", 100*share, machine>>20), nil
	}
	return 0, "none (the machine's memory is not known)", nil
}

// Set sets the process's soft memory limit Pick chooses for asked, with
// share of the machine's memory (Machine) as the default, and returns the
// limit in force (the runtime's, whatever set it) and where it came from.
func Set(asked int64, share float64) (int64, string, error) {
	limit, why, err := Pick(asked, os.Getenv("GOMEMLIMIT"), Machine(), share)
	if err != nil {
		return 0, "", err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return debug.SetMemoryLimit(-1), why, nil
}

// Machine is the memory this process may use: the smaller of the RAM
// (/proc/meminfo) and its cgroup's limit (v2 memory.max, v1
// memory.limit_in_bytes); 0 when neither is known.
func Machine() int64 {
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

// Parse reads a limit as a command line gives it: a size ("1.5GiB", "2GB",
// bytes), "off" (negative: no limit) or "" (0: the default).
func Parse(s string) (int64, error) {
	switch s {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	b, err := humanize.ParseBytes(s)
	if err != nil {
		return 0, fmt.Errorf("a size (1.5GiB, 2GB, bytes) or off: %w", err)
	}
	if b > 1<<62 {
		return 0, fmt.Errorf("%s is too large", s)
	}
	return int64(b), nil
}
