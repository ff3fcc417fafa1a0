package stripemock

import "syscall"

// sysProcAttr has the kernel kill stripe-mock when the test binary dies, even
// by SIGKILL, when Stop never runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
