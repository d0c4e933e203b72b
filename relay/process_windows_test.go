package relay

import (
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(windows.CurrentProcess(), &created, &exited, &kernel, &user); err != nil {
		return 0
	}
	// A Filetime counts 100 ns ticks.
	ticks := func(f windows.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration((ticks(kernel) + ticks(user)) * 100)
}

// raiseNoFile has nothing to raise: Windows sets no per-process limit on
// open sockets.
func raiseNoFile(*testing.B, int) {}

// raiseNoFileToMax has nothing to raise (see raiseNoFile).
func raiseNoFileToMax() {}
