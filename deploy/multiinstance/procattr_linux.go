package main

import "syscall"

// sysProcAttr puts a child in its own process group, so that stopping it
// stops whatever it started too and a ^C at the terminal reaches only the
// driver, which stops everything in order; and has the kernel kill it if
// the driver dies without stopping it (SIGKILL, a CI timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
