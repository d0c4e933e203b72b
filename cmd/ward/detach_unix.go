//go:build unix

package main

import "syscall"

// detached makes a started daemon the leader of a session of its own, so
// it outlives the terminal `ward up` ran in.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
