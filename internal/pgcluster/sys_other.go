//go:build !unix

package pgcluster

import (
	"os"
	"os/exec"
)

// setCredential is a no-op where there is no root to drop (os.Geteuid
// returns -1 on these platforms, so it is never reached).
func setCredential(cmd *exec.Cmd, uid, gid uint32) {}

// killPID uses os.Process where signals are not available.
func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
