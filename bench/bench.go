package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc/pool"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// result is one CSV row: one tool run on one table at one difference fraction, plus that case's floors.
type result struct {
	Rows     int64
	Fraction float64
	Format   string // rowdiff's output format; "text" for pg_comparator's report
	Tool     string // "rowdiff" or "pg_comparator"
	Wall     float64
	// CPU is the tool process's own user+system time: unlike Wall it hardly moves with other load on the
	// machine, but it leaves out the servers' work.
	CPU     float64
	PeakRSS int64 // bytes
	// BytesA and BytesB are what rowdiff received from each node (its --summary); 0 for pg_comparator.
	BytesA, BytesB int64
	// CopyBytes is the size of node a's binary COPY of the table (floor c).
	CopyBytes                                 int64
	RangesHashed, RangesSplit, RangesCompared int64
	Differences, Changed                      int64
	Planted, PlantedChanged                   int64
	// RowsA and RowsB are the rows rowdiff says it hashed on each node; wantRowsB is node b's true count.
	RowsA, RowsB, wantRowsB int64
	FloorA, FloorB, FloorC  float64
	// Load1 is the 1-minute load average when the case started: other work on the machine skews every time.
	Load1 float64
	Err   string
}

// runInfo describes the run for the report.
type runInfo struct {
	Date, Host, CPU, Memory, Postgres, Go, Commit string
	Cores                                         int
	Sizes                                         []int64
	RowdiffArgs                                   []string
	// RowdiffDefaults are the tuning flags' defaults as the built binary reports them.
	RowdiffDefaults    string
	Pgcmp              string // "" when it ran, else why not
	Started            time.Time
	Elapsed            time.Duration
	LoadStart, LoadEnd float64
	Runs               int // of each tool per case
}

// bench runs the whole benchmark and writes the results; it returns the rowdiff runs whose counts are
// wrong (the caller fails loudly on them) and an error only when the benchmark itself could not run.
func bench(ctx context.Context, root string, opt *options) ([]string, error) {
	info := runInfo{Started: time.Now(), Sizes: opt.sizes, RowdiffArgs: opt.rowdiffArgs, LoadStart: load1(), Runs: opt.runs}
	tmp, err := os.MkdirTemp("", "rowdiff-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	logf("building rowdiff")
	bin, err := build(ctx, root, tmp, "./cmd/rowdiff")
	if err != nil {
		return nil, err
	}
	if launcher, err = build(ctx, root, tmp, "./bench/launcher"); err != nil {
		return nil, err
	}
	info.RowdiffDefaults = rowdiffDefaults(bin)

	s := &setup{pgcmp: detectPgcmp(opt.noPgcmp)}
	logf("starting clusters a and b")
	p := pool.New().WithErrors().WithContext(ctx)
	for i, name := range []string{"a", "b"} {
		p.Go(func(ctx context.Context) error {
			c, err := pgcluster.Start(ctx, pgcluster.Options{Name: "bench-" + name, Settings: serverSettings(opt.logStatements)})
			if i == 0 {
				s.a = c
			} else {
				s.b = c
			}
			return err
		})
	}
	err = p.Wait()
	defer func() {
		for _, c := range []*pgcluster.Cluster{s.a, s.b} {
			if c != nil {
				c.Stop(context.WithoutCancel(ctx))
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	if err := describeRun(ctx, root, s.a, &info); err != nil {
		return nil, err
	}
	if s.pgcmp == "" {
		var ok bool
		if err := queryRow(ctx, s.a.DSN(""), "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pgcmp')", &ok); err != nil {
			return nil, err
		}
		if !ok {
			s.pgcmp = "not installed (pgcmp extension missing from the server's extension directory; apt-get install postgresql-comparator)"
		}
	}
	if err := load(ctx, s, opt.sizes, opt.fractions, opt.seed); err != nil {
		return nil, err
	}
	info.Pgcmp = s.pgcmp

	var results []result
	var mismatches []string
	for _, n := range opt.sizes {
		table := tableName(n)
		for _, f := range opt.fractions {
			dsns := [2]string{s.a.DSN(benchDB), s.b.DSN(fractionDB(f))}
			loadAvg := load1()
			planted, plantedChanged := expected(n, f, opt.seed)
			base := result{Rows: n, Fraction: f, Planted: planted, PlantedChanged: plantedChanged, Load1: loadAvg, wantRowsB: rowsOnB(n, f, opt.seed)}
			formats := []string{"jsonl"}
			if f == 1 {
				formats = append(formats, "parquet")
			}
			var runs []*result // rowdiff per format, then pg_comparator
			for _, format := range formats {
				r := base
				r.Tool, r.Format = "rowdiff", format
				runs = append(runs, &r)
			}
			pgcmp := contains(opt.pgcmpFractions, f)
			if pgcmp {
				r := base
				r.Tool, r.Format, r.Err = "pg_comparator", "text", s.pgcmp
				runs = append(runs, &r)
			}

			// Rounds interleave the floors and the tools, so a spell of other load on the machine slows
			// a floor as likely as a tool; each keeps its fastest round.
			var fl floors
			for round := range opt.runs {
				logf("%s at %g: round %d of %d (load average %.2f)", table, f, round+1, opt.runs, load1())
				rf, err := measureFloors(ctx, dsns, table)
				if err != nil {
					return nil, err
				}
				if (rf.hashes[0] == rf.hashes[1]) != (f == 0) {
					return nil, fmt.Errorf("%s at fraction %g: floor (a) hashes %d and %d contradict the planted data", table, f, rf.hashes[0], rf.hashes[1])
				}
				fl = fl.faster(rf, round == 0)
				for i, r := range runs {
					if r.Err != "" && (round == 0 || r.Tool == "pg_comparator") {
						continue // not installed, or failed: keep the first failure
					}
					try := base
					try.Tool, try.Format = r.Tool, r.Format
					var err error
					if r.Tool == "rowdiff" {
						err = runRowdiff(ctx, bin, tmp, dsns, table, r.Format, opt.rowdiffArgs, &try)
					} else {
						err = runPgComparator(ctx, tmp, [2]int{s.a.Port(), s.b.Port()}, [2]string{benchDB, fractionDB(f)}, table, &try)
					}
					if err != nil {
						return nil, err
					}
					keepFaster(runs[i], try, round == 0)
				}
			}
			logf("%s at %g: floors (a) %.3fs (b) %.3fs (c) %.3fs, COPY %.1f MiB", table, f, fl.rowHash.Seconds(), fl.recordHash.Seconds(), fl.copy.Seconds(), mib(fl.copyBytes))
			for _, r := range runs {
				r.CopyBytes, r.FloorA, r.FloorB, r.FloorC = fl.copyBytes, fl.rowHash.Seconds(), fl.recordHash.Seconds(), fl.copy.Seconds()
				if r.Tool == "rowdiff" {
					switch {
					case r.Err != "":
					case r.Differences != r.Planted || r.Changed != r.PlantedChanged:
						r.Err = fmt.Sprintf("MISMATCH: %d differences (%d changed), planted %d (%d changed)", r.Differences, r.Changed, r.Planted, r.PlantedChanged)
					case r.RowsA != n || r.RowsB != r.wantRowsB:
						r.Err = fmt.Sprintf("MISMATCH: summary counts %d rows on a and %d on b, tables hold %d and %d", r.RowsA, r.RowsB, n, r.wantRowsB)
					}
					// A failing JSON Lines run is a rowdiff bug. A failing Parquet run is recorded and tolerated
					// (the sink is the newest and most dependency-laden part), unless it ran and miscounted.
					if strings.HasPrefix(r.Err, "MISMATCH") || (r.Err != "" && r.Format == "jsonl") {
						mismatches = append(mismatches, fmt.Sprintf("%s at %g (%s): %s", table, f, r.Format, r.Err))
					}
				} else if r.Err == "" && (r.Differences != r.Planted || r.Changed != r.PlantedChanged) {
					// The peer's correctness is not ours to enforce, but its numbers mean little if it missed rows.
					r.Err = fmt.Sprintf("pg_comparator reported %d differences (%d updates), planted %d (%d changed)", r.Differences, r.Changed, r.Planted, r.PlantedChanged)
				}
				logRun(*r)
				results = append(results, *r)
			}
		}
	}
	info.Elapsed, info.LoadEnd = time.Since(info.Started), load1()
	if err := report(opt.resultsDir, info, results); err != nil {
		return nil, err
	}
	if opt.hold {
		hold(ctx, s)
	}
	return mismatches, nil
}

func logRun(r result) {
	if r.Err != "" {
		logf("  %-13s %-7s error: %s", r.Tool, r.Format, r.Err)
		return
	}
	if r.Tool != "rowdiff" {
		logf("  %-13s %-7s %7.3fs (cpu %.3fs)  %6.1f MiB RSS  diffs %d/%d", r.Tool, r.Format, r.Wall, r.CPU, mib(r.PeakRSS), r.Differences, r.Planted)
		return
	}
	logf("  %-13s %-7s %7.3fs (cpu %.3fs)  %6.1f MiB RSS  recv a %.2f MiB b %.2f MiB  hashed %d split %d compared %d  diffs %d/%d",
		r.Tool, r.Format, r.Wall, r.CPU, mib(r.PeakRSS), mib(r.BytesA), mib(r.BytesB), r.RangesHashed, r.RangesSplit, r.RangesCompared, r.Differences, r.Planted)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// detectPgcmp says why pg_comparator cannot run, or "" if its script is on PATH (the server extension is
// checked once a cluster is up).
func detectPgcmp(skip bool) string {
	if skip {
		return "skipped (-no-pgcmp)"
	}
	if _, err := exec.LookPath("pg_comparator"); err != nil {
		return "not installed (apt-get install postgresql-comparator)"
	}
	return ""
}

func queryRow(ctx context.Context, dsn, sql string, dest ...any) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

// describeRun records the machine, the server and the code measured.
func describeRun(ctx context.Context, root string, c *pgcluster.Cluster, info *runInfo) error {
	info.Date = info.Started.Format("2006-01-02")
	info.Host, _ = os.Hostname()
	info.Cores = runtime.NumCPU()
	info.Go = runtime.Version()
	info.CPU = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		var n int64
		fmt.Sscanf(kb, "%d", &n)
		info.Memory = fmt.Sprintf("%.1f GiB", float64(n)/(1<<20))
	}
	if err := queryRow(ctx, c.DSN(""), "SELECT version()", &info.Postgres); err != nil {
		return err
	}
	if out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		info.Commit = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
			info.Commit += " (with uncommitted changes)"
		}
	}
	return nil
}

// rowdiffDefaults reads the defaults of the tuning flags from `rowdiff diff --help`, so the report states
// what actually ran rather than what the defaults were when the benchmark was written.
func rowdiffDefaults(bin string) string {
	out, _ := exec.Command(bin, "diff", "--help").Output()
	var parts []string
	for _, name := range []string{"--block-rows", "--leaf-rows", "--concurrency", "--max-connections"} {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] != name {
				continue
			}
			if i := strings.LastIndex(line, "(default "); i >= 0 {
				parts = append(parts, name+" "+strings.TrimSuffix(strings.TrimSpace(line[i+len("(default "):]), ")"))
			}
		}
	}
	return strings.Join(parts, " ")
}

// load1 is the 1-minute load average, or 0 where /proc/loadavg does not exist.
func load1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	var l float64
	fmt.Sscanf(string(raw), "%f", &l)
	return l
}

// procField returns the value of the first "name: value" line of a /proc file, or "".
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// hold keeps the clusters up for inspection until the benchmark is interrupted.
func hold(ctx context.Context, s *setup) {
	fmt.Fprintf(os.Stderr, "\nclusters are up; interrupt (Ctrl-C) to stop them and remove their files\n")
	fmt.Fprintf(os.Stderr, "  a: %s   log %s\n", s.a.DSN(benchDB), s.a.LogFile())
	fmt.Fprintf(os.Stderr, "  b: %s   log %s   (databases f0, f03, f100)\n", s.b.DSN(fractionDB(0)), s.b.LogFile())
	<-ctx.Done()
}

// keepFaster keeps in best the faster of best and try, with the higher peak RSS of the two: on a shared
// 2-core machine one run's wall time was inflated by half by other work, while memory does not
// improve by chance. A failed run replaces the best one, so failures are never hidden.
func keepFaster(best *result, try result, first bool) {
	peak := max(best.PeakRSS, try.PeakRSS)
	if first || try.Err != "" || try.Wall < best.Wall {
		*best = try
	}
	best.PeakRSS = peak
}
