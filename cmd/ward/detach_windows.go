package main

import (
	"syscall"

	"golang.org/x/sys/windows"
)

// detached starts the daemon without a console and in a process group of
// its own, so it outlives the console `ward up` ran in and its Ctrl-C.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS, HideWindow: true}
}
