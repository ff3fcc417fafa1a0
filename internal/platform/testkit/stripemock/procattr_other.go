//go:build !linux

package stripemock

import "syscall"

// sysProcAttr has nothing to add where there is no Pdeathsig: a test binary
// that dies without calling Stop leaves stripe-mock running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
