// Command bench measures rowdiff against the floors it cannot beat and against pg_comparator, on generated
// tables in two throwaway local PostgreSQL clusters, and writes the results to bench/results/.
//
// Run it from anywhere inside the module:
//
//	go run ./bench                       # 10k, 100k and 1M rows
//	go run ./bench -sizes 10k,100k       # a quick run
//	go run ./bench -10m                  # adds the 10M-row table (needs ~15 GB of disk and ~1 h)
//
// What is measured and how is described in bench/README.md. The program exits non-zero when any rowdiff
// run reports a difference count other than the one planted, after writing the results.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the command-line flags.
type options struct {
	sizes          []int64
	fractions      []float64
	pgcmpFractions []float64
	resultsDir     string
	seed           uint64
	rowdiffArgs    []string
	noPgcmp        bool
	logStatements  bool
	hold           bool
	runs           int
}

// allFractions are the difference fractions the benchmark knows how to plant.
var allFractions = []float64{0, 0.003, 1}

func main() {
	os.Exit(run())
}

func run() int {
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	opt, err := parseFlags(root, os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	mismatches, err := bench(ctx, root, opt)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: error:", err)
		return 2
	}
	if len(mismatches) > 0 {
		fmt.Fprintln(os.Stderr, "\nbench: FAILED: rowdiff's counts do not match the planted differences:")
		for _, m := range mismatches {
			fmt.Fprintln(os.Stderr, "  "+m)
		}
		return 1
	}
	return 0
}

func parseFlags(root string, args []string) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	sizes := fs.String("sizes", "10k,100k,1m", "table sizes in rows, comma separated (suffix k or m)")
	tenM := fs.Bool("10m", false, "also run the 10M-row table")
	fractions := fs.String("fractions", "0,0.003,1", "difference fractions to run, a subset of 0,0.003,1")
	pgcmp := fs.String("pgcmp-fractions", "0,0.003,1", "difference fractions pg_comparator runs for")
	results := fs.String("results", filepath.Join(root, "bench", "results"), "directory for the CSV, plots and latest.md")
	seed := fs.Uint64("seed", 20240611, "seed of the planted differences")
	extra := fs.String("rowdiff-args", "", "extra arguments for every rowdiff diff run, space separated (e.g. \"--concurrency 2\")")
	noPgcmp := fs.Bool("no-pgcmp", false, "do not run pg_comparator even when it is installed")
	runs := fs.Int("runs", 3, "rounds per case (floors, then each tool once); each keeps its fastest round and the highest peak RSS")
	logStmts := fs.Bool("log-statements", false, "set log_min_duration_statement=0 on both clusters (use with -hold to read the logs)")
	hold := fs.Bool("hold", false, "after the run, keep the clusters up and print their DSNs and log files until interrupted")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opt := &options{resultsDir: *results, seed: *seed, rowdiffArgs: strings.Fields(*extra),
		noPgcmp: *noPgcmp, logStatements: *logStmts, hold: *hold, runs: *runs}
	if opt.runs < 1 {
		return nil, fmt.Errorf("-runs %d: need at least one round", opt.runs)
	}
	var err error
	if opt.sizes, err = parseSizes(*sizes); err != nil {
		return nil, err
	}
	if *tenM && !contains(opt.sizes, 10_000_000) {
		opt.sizes = append(opt.sizes, 10_000_000)
	}
	if opt.fractions, err = parseFractions(*fractions); err != nil {
		return nil, fmt.Errorf("-fractions: %w", err)
	}
	if opt.pgcmpFractions, err = parseFractions(*pgcmp); err != nil {
		return nil, fmt.Errorf("-pgcmp-fractions: %w", err)
	}
	return opt, nil
}

// parseSizes reads "10k,100k,1m" (case-insensitive; plain numbers allowed) in the given order.
func parseSizes(s string) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		mult := int64(1)
		switch {
		case strings.HasSuffix(f, "k"):
			mult, f = 1_000, strings.TrimSuffix(f, "k")
		case strings.HasSuffix(f, "m"):
			mult, f = 1_000_000, strings.TrimSuffix(f, "m")
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sizes: %q is not a positive row count like 10k or 1m", f)
		}
		if !contains(out, n*mult) {
			out = append(out, n*mult)
		}
	}
	return out, nil
}

// sizeLabel is the short name of a row count, used in table names and output: 10k, 1m, 12345.
func sizeLabel(n int64) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.FormatInt(n/1_000_000, 10) + "m"
	case n%1_000 == 0:
		return strconv.FormatInt(n/1_000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}

func parseFractions(s string) ([]float64, error) {
	var out []float64
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || !contains(allFractions, v) {
			return nil, fmt.Errorf("%q is not one of 0, 0.003, 1", f)
		}
		if !contains(out, v) {
			out = append(out, v)
		}
	}
	return out, nil
}

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// moduleRoot walks up from the working directory to the directory holding go.mod, so the benchmark
// builds ./cmd/rowdiff and writes bench/results wherever it is started from inside the module.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the rowdiff module (no go.mod above the working directory); run from the repository")
		}
		dir = parent
	}
}

// build compiles package pkg (e.g. ./cmd/rowdiff) of the module into dir once, so every measured run is
// a plain process start without go run's compile step.
func build(ctx context.Context, root, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
