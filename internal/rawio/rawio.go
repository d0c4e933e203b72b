// Package rawio reads and writes a local TCP connection with raw system
// calls: read(2) and write(2) on its non-blocking socket without telling
// the Go scheduler, which waits in its poller (as net.TCPConn does) only
// when the socket has nothing to give or no room.
//
// Why (issue 12, the data path's CPU per byte): a node copies every byte
// of a proxied or exposed flow through a loopback socket, 32 KiB a call,
// and a loopback write does the receiver's work too, tens of
// microseconds. A system call the scheduler knows of (syscall.Syscall)
// that lasts past the runtime monitor's 20 µs tick has its processor
// handed to another thread when goroutines wait to run, and keeps the
// monitor ticking every 20 µs: both are thread wake-ups and context
// switches, which a profile of the two node processes (perf) showed as a
// quarter of their CPU. A raw call on a non-blocking socket cannot block,
// so the scheduler needs no word of it; it only holds up a garbage
// collection's stop for as long as the call lasts. On other systems Wrap
// returns the connection as it is.
package rawio

import "sync/atomic"

// disabled turns Wrap into the identity, for benchmarks against the
// scheduler's system calls (ward node's hidden --no-raw-io).
var disabled atomic.Bool

// SetEnabled turns the raw system calls on (the default) or off for
// connections wrapped after the call.
func SetEnabled(on bool) { disabled.Store(!on) }
