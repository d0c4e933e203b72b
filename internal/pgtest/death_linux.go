package pgtest

import "syscall"

// setDeathSignal has the server killed if the test binary dies without
// stopping it.
func setDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
