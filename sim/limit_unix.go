//go:build unix

package sim

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and
// returns how many nodes fit under it (the coordinator, a child, inherits
// the same limit) and the limit.
func raiseFileLimit() (fit int, limit uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, fmt.Errorf("read file limit: %w", err)
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			return 0, 0, fmt.Errorf("raise file limit to %d: %w", rl.Max, err)
		}
	}
	return max(0, int(rl.Cur)-fdSpare) / fdPerNode, rl.Cur, nil
}
