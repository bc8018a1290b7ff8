// Command launcher runs one program for the rowdiff benchmark or the integration tests and reports the
// program's own wall time, CPU time and peak resident set size:
//
//	launcher REPORT PROGRAM [ARG...]
//
// The program gets the launcher's standard streams, and the SIGINT, SIGTERM and SIGQUIT the launcher
// receives; its report is written to the file REPORT as JSON (internal/launch.Report). The launcher exits
// 0 when the report is written, whatever the program's exit status, and 2 otherwise.
//
// Why a launcher: a process's peak RSS (ru_maxrss) is not only its own. When a process execs, Linux folds the
// high-water RSS of the memory it leaves into the new program's ru_maxrss (fs/exec.c, exec_mmap), and Go
// starts children with vfork, so the memory left is the parent's: a program started directly by the benchmark
// reports at least the benchmark's own peak (tens of MiB after draining a COPY, and the plotting library
// alone is ~10 MiB), and one started by a test at least the test process's (213-331 MiB for a recheck of 48
// rows of 1 MiB whose own peak is 36-41 MiB, while another test held 200,000 parsed records). This launcher
// is a small fresh process; a program started from it inherits only the launcher's couple of MiB, far below
// anything measured.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/rowdiff/rowdiff/internal/launch"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: launcher REPORT PROGRAM [ARG...]")
		return 2
	}
	cmd := exec.Command(args[1], args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	dieWithParent(cmd)
	// Signals meant for the program reach the launcher: passed on, an interrupt stops the program as
	// it would have without the launcher, and SIGQUIT makes a hung Go program print its goroutines.
	signals := make(chan os.Signal, 1) // signal.Notify needs room for one; more of a kind may be merged
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	start := time.Now()
	forwarded := make(chan struct{})
	err := cmd.Start()
	if err == nil {
		go func() {
			defer close(forwarded)
			for sig := range signals {
				cmd.Process.Signal(sig)
			}
		}()
		err = cmd.Wait()
	} else {
		close(forwarded)
	}
	signal.Stop(signals)
	close(signals)
	<-forwarded
	rep := launch.Report{WallNS: time.Since(start).Nanoseconds(), Exit: -1}
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
