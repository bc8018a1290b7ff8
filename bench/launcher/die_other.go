//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent of Linux's parent-death signal; an interrupted benchmark may
// leave the measured program to finish on its own.
func dieWithParent(*exec.Cmd) {}
