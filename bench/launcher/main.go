// Command launcher runs one program for the rowdiff benchmark and reports the program's own wall time, CPU
// time and peak resident set size:
//
//	launcher REPORT PROGRAM [ARG...]
//
// The program gets the launcher's standard streams; its report is written to the file REPORT as JSON
// {"wall_ns","user_ns","sys_ns","maxrss_kib","exit","err"}. The launcher exits 0 when the report is written,
// whatever the program's exit status, and 2 otherwise.
//
// Why a launcher: a process's peak RSS (ru_maxrss) is not only its own. When a process execs, Linux folds
// the high-water RSS of the memory it leaves into the new program's ru_maxrss (fs/exec.c, exec_mmap), and
// Go starts children with vfork, so the memory left is the parent's: a program started directly by the
// benchmark reports at least the benchmark's own peak (tens of MiB after draining a COPY, and the
// plotting library alone is ~10 MiB). This launcher is a small fresh process; a program started from it
// inherits only the launcher's couple of MiB, far below anything measured.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// childReport is what the launcher hands back, as JSON in a file.
type childReport struct {
	WallNS    int64  `json:"wall_ns"`
	UserNS    int64  `json:"user_ns"`
	SysNS     int64  `json:"sys_ns"`
	MaxRSSKiB int64  `json:"maxrss_kib"`
	Exit      int    `json:"exit"`
	Err       string `json:"err,omitempty"`
}

func main() {
	os.Exit(launch(os.Args[1:]))
}

func launch(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launcher REPORT PROGRAM [ARG...]")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	dieWithParent(cmd)
	start := time.Now()
	err := cmd.Run()
	rep := childReport{WallNS: time.Since(start).Nanoseconds(), Exit: -1}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		rep.Err = err.Error()
	}
	if ps := cmd.ProcessState; ps != nil {
		rep.Exit = ps.ExitCode()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			rep.UserNS, rep.SysNS = ru.Utime.Nano(), ru.Stime.Nano()
			rep.MaxRSSKiB = int64(ru.Maxrss)
			if runtime.GOOS == "darwin" { // macOS reports bytes, Linux and the BSDs KiB
				rep.MaxRSSKiB /= 1024
			}
		}
	}
	raw, _ := json.Marshal(rep)
	if err := os.WriteFile(args[0], raw, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		return 2
	}
	return 0
}
