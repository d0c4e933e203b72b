package sim

import "github.com/wardnet/ward/internal/memlimit"

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
