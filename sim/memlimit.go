package sim

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
)

// defaultSelfMemoryShare is the share of the machine's RAM the
// simulator's default soft memory limit is: the coordinator it measures
// runs beside it (its own default is 75 %, of which it uses a few GB).
const defaultSelfMemoryShare = 0.5

// minSelfMemoryLimit is the smallest limit Config.SelfMemoryLimit takes.
const minSelfMemoryLimit = 64 << 20

// selfMemoryLimit is the soft memory limit the simulator sets on itself
// (debug.SetMemoryLimit) for cfg (Config.SelfMemoryLimit), GOMEMLIMIT
// (env) and the machine's RAM (machine, 0: unknown): 0 sets none; why
// says where it came from.
//
// Reason: the collector lets the heap grow to twice what is live, and the
// sim's live heap is mostly the fleet's streams and the maps in flight: a
// 50,000-node run's first policy change sends the streams about 8.5 GB
// that the sim decodes on the same two cores, and with the default
// headroom it was killed for memory (19.1 GB) beside the coordinator. A
// soft limit makes the collector run more often near it instead; the
// runtime never collects below the live heap, so a limit too low costs
// CPU, not correctness.
func selfMemoryLimit(cfg int64, env string, machine int64) (limit int64, why string, err error) {
	switch {
	case cfg < 0:
		return 0, "off", nil
	case cfg > 0 && cfg < minSelfMemoryLimit:
		return 0, "", fmt.Errorf("simulator memory limit %d bytes: want at least %d", cfg, minSelfMemoryLimit)
	case cfg > 0:
		return cfg, "asked", nil
	case env != "":
		return 0, "GOMEMLIMIT", nil // the runtime read it at start
	case machine > 0:
		return max(int64(float64(machine)*defaultSelfMemoryShare), minSelfMemoryLimit),
			fmt.Sprintf("%.0f%% of the machine's %d MB", 100*defaultSelfMemoryShare, machine>>20), nil
	}
	return 0, "none (the machine's memory is not known)", nil
}

// setSelfMemoryLimit sets the simulator's soft memory limit
// (selfMemoryLimit) and returns the one in force and where it came from.
func setSelfMemoryLimit(cfg int64) (int64, string, error) {
	limit, why, err := selfMemoryLimit(cfg, os.Getenv("GOMEMLIMIT"), memTotal())
	if err != nil {
		return 0, "", err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return debug.SetMemoryLimit(-1), why, nil
}

// memTotal is the machine's RAM from /proc/meminfo; 0 when unknown.
func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) >= 2 && string(f[0]) == "MemTotal:" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
