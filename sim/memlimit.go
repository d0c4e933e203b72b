package sim

import (
	"os"
	"runtime/debug"

	"github.com/wardnet/ward/internal/memlimit"
)

// defaultSelfMemoryShare is the share of the machine's memory the
// simulator's default soft memory limit is: the coordinator it measures
// runs beside it (its own default is 75 %, of which it uses a few GB).
//
// Reason for a limit: the sim's live heap is mostly the fleet's streams
// and the maps in flight: a 50,000-node run's first policy change sends
// the streams about 8.5 GB that the sim decodes on the same two cores, and
// with the collector's default headroom it was killed for memory
// (19.1 GB) beside the coordinator (see package memlimit).
const defaultSelfMemoryShare = 0.5

// setSelfMemoryLimit sets the simulator's soft memory limit for cfg
// (Config.SelfMemoryLimit) and returns the one in force and where it came
// from.
func setSelfMemoryLimit(cfg int64) (int64, string, error) {
	return memlimit.Set(cfg, defaultSelfMemoryShare)
}

// selfGCPercent is the simulator's own GOGC unless the environment sets
// one: the collector runs once the heap has grown four times what is
// live, not once, and the soft memory limit (above) still bounds it.
//
// Reason: the simulator stands for a fleet of devices, each decoding its
// own maps on its own processor; here they share the coordinator's two
// cores, and in a 50,000-node policy change 40 % of the simulator's CPU
// was its collector (a live heap of 1.4 GB, mostly the fleet's 108,000
// goroutines, marked again at every cycle) taken from the coordinator it
// measures. The decoding itself is the node's code and stays as it is.
const selfGCPercent = 400

// setSelfGCPercent sets the simulator's GOGC (selfGCPercent) unless the
// environment sets one, and returns the one in force.
func setSelfGCPercent() int {
	if v := os.Getenv("GOGC"); v != "" {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	debug.SetGCPercent(selfGCPercent)
	return selfGCPercent
}
