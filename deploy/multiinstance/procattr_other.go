//go:build !linux

package main

import "syscall"

// sysProcAttr puts a child in its own process group; without Pdeathsig, a
// driver killed outright leaves its children running.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
