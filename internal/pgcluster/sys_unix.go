//go:build unix

package pgcluster

import (
	"os/exec"
	"syscall"
	"time"
)

// setCredential drops root for a child process. Groups is set explicitly so
// root's supplementary groups are not inherited by the server.
func setCredential(cmd *exec.Cmd, uid, gid uint32) {
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uid, Gid: gid, Groups: []uint32{}},
	}
}

// killPID SIGKILLs pid and waits briefly for it to disappear.
func killPID(pid int) {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	// Backends exit on their own once they notice the postmaster died.
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}
