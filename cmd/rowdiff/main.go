// Command rowdiff finds every row that differs between copies of a PostgreSQL table on two or more nodes.
// This file only parses flags and hands them to the pipeline.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/rowdiff/rowdiff/sinks"
)

// Exit statuses are a contract with scripts.
const (
	exitSame  = 0
	exitDiffs = 1
	exitError = 2
)

// exitStatus carries a process exit status through cobra.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, sig := signalContext()
	root := &cobra.Command{
		Use:           "rowdiff",
		Short:         "Find every row that differs between copies of a PostgreSQL table",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       sinks.Version,
		Args:          noArgs,
		// Runnable, so that noArgs checks its arguments (cobra prints the help of a command without Run).
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.AddCommand(diffCommand(), recheckCommand(), repairCommand(), demoCommand())
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpu-profile", "", "write a pprof CPU profile of the run to this path")
	root.PersistentFlags().MarkHidden("cpu-profile")
	var memProfile string
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if memProfile == "" {
			// The heap profiler's memory fills in as a run goes on: without it a 10M-row diff peaked
			// 0.2-0.6 MiB above a 1M-row one, with it 0.8-1.3 MiB (README, Benchmark).
			runtime.MemProfileRate = 0
		}
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		return pprof.StartCPUProfile(f)
	}
	root.PersistentFlags().StringVar(&memProfile, "mem-profile", "", "write a pprof heap profile (allocations of the whole run) to this path")
	root.PersistentFlags().MarkHidden("mem-profile")
	err := root.ExecuteContext(ctx)
	pprof.StopCPUProfile()
	if memProfile != "" {
		if f, ferr := os.Create(memProfile); ferr == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	var st exitStatus
	// A signal that came as the run ended, its output already in place, does not undo it: the run's own
	// status stands (it exited 130 beside a complete file, saying no output was written).
	if s := sig(); s != 0 && err != nil && !errors.As(err, &st) {
		if log, _ := logger(); log != nil {
			log.Error("interrupted", "signal", unix.SignalName(s), "output", interruptedOutput)
		} else {
			fmt.Fprintf(os.Stderr, "rowdiff: interrupted by %s; %s\n", unix.SignalName(s), interruptedOutput)
		}
		os.Exit(128 + int(s))
	}
	switch {
	case errors.As(err, &st):
		os.Exit(st.code)
	case errors.Is(err, syscall.EPIPE):
		// The reader of --out - went away (| head): exit as a process killed by SIGPIPE would, quietly,
		// but only now that the run has cancelled its queries.
		os.Exit(128 + int(syscall.SIGPIPE))
	case err != nil:
		// A failed run streaming to stdout has written records there, as an interrupted one has: it was
		// not said (found by an exploratory helper).
		streamed := interruptedOutput != noOutput
		switch log, _ := logger(); {
		case log != nil && streamed:
			log.Error("run failed", "error", err.Error(), "output", interruptedOutput)
		case log != nil:
			log.Error("run failed", "error", err.Error())
		case streamed:
			fmt.Fprintf(os.Stderr, "rowdiff: error: %v; %s\n", err, interruptedOutput)
		default:
			fmt.Fprintf(os.Stderr, "rowdiff: error: %v\n", err)
		}
		os.Exit(exitError)
	}
}

// noArgs refuses arguments that are not flags without showing one that holds "=": an unquoted --node
// value with a space (--node a=host=db password=secret) splits into words, and cobra's own check printed
// the password as an unknown command.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if strings.Contains(args[0], "=") {
		return fmt.Errorf("unexpected argument to %s (not shown: it may hold a password); quote a --node value that holds spaces", cmd.CommandPath())
	}
	// Not prefixed with the command's path, which the error line's own "rowdiff:" doubled.
	return fmt.Errorf("unknown command or argument %q; see %s --help", args[0], cmd.CommandPath())
}

// interruptedOutput says what an interrupted or failed run left: nothing, unless it wrote in place (--out -,
// /dev/stdout, a named pipe; see opener).
var interruptedOutput = noOutput

const noOutput = "no output written"

// signalContext is cancelled by SIGINT, SIGTERM or SIGHUP; the returned func tells which one arrived, if any.
// Its goroutine lives as long as the process, which exits with the status the signal calls for.
func signalContext() (context.Context, func() syscall.Signal) {
	ctx, cancel := context.WithCancelCause(context.Background())
	// Killed by SIGPIPE when a reader of --out - closes the pipe, rowdiff would leave its queries running
	// on the servers; ignored, the write fails with EPIPE and the run stops like any failed run.
	signal.Ignore(syscall.SIGPIPE)
	ch := make(chan os.Signal, 1)
	// SIGHUP too: a dropped ssh session killed the run without cancelling its queries or removing its
	// temporary file (found by an exploratory helper).
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	got := make(chan syscall.Signal, 1)
	go func() {
		s := <-ch
		got <- s.(syscall.Signal)
		// The cause is what the summary's "error" says: it said what the cancelled step returned, such as
		// "context canceled" (found by an exploratory helper).
		cancel(fmt.Errorf("interrupted by %s", unix.SignalName(s.(syscall.Signal))))
	}()
	return ctx, func() syscall.Signal {
		select {
		case s := <-got:
			got <- s
			return s
		default:
			return 0
		}
	}
}
