package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent kills the measured program if the launcher dies (the benchmark kills the launcher when
// it is interrupted), so no orphan keeps querying the clusters while they shut down.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
