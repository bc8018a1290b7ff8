package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc/pool"

	"github.com/rowdiff/rowdiff/internal/launch"
	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
)

// benchTable is the table model rowdiff's introspection builds for the benchmark table (pipeline/inspect.go
// reads the same fields from the catalogs), so floor (a) runs exactly the row hash rowdiff sends.
func benchTable(name string) *schema.Table {
	return &schema.Table{
		Schema: "public", Name: name,
		Columns: []schema.Column{
			{Name: "id", Type: "bigint", CastType: "bigint", Base: "int8", Category: "N", NotNull: true, Precision: -1, Scale: -1},
			{Name: "qty", Type: "integer", CastType: "integer", Base: "int4", Category: "N", Precision: -1, Scale: -1},
			{Name: "status", Type: "text", CastType: "text", Base: "text", Category: "S", Precision: -1, Scale: -1},
			{Name: "amount", Type: "numeric(12,2)", CastType: "numeric", Base: "numeric", Category: "N", Precision: 12, Scale: 2},
			{Name: "created", Type: "timestamp with time zone", CastType: "timestamp with time zone", Base: "timestamptz", Category: "D", Precision: -1, Scale: -1},
			{Name: "note", Type: "text", CastType: "text", Base: "text", Category: "S", Precision: -1, Scale: -1},
			{Name: "doc", Type: "jsonb", CastType: "jsonb", Base: "jsonb", Category: "U", Precision: -1, Scale: -1},
		},
		Key: []int{0},
	}
}

// floors are the three lower bounds of one case, each the faster of two runs on both nodes at once.
type floors struct {
	rowHash, recordHash, copy time.Duration
	// copyBytes is the size of node a's binary COPY of the table.
	copyBytes int64
	// hashes are floor (a)'s bit_xor per node: equal exactly when rowdiff must find no difference.
	hashes [2]int64
}

// floorConn opens a connection with the settings rowdiff's sessions use that affect speed.
func floorConn(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	// rowdiff runs with jit=off; the floors must too, or they would measure JIT compilation instead.
	cfg.RuntimeParams["jit"] = "off"
	cfg.RuntimeParams["application_name"] = "rowdiff-bench-floor"
	return pgx.Connect(ctx, cfg.ConnString())
}

// measureFloors runs floors (a), (b) and (c) once each on both nodes concurrently. The caller keeps the
// fastest of several rounds, so the numbers are for a warm cache, as the tools' runs are.
func measureFloors(ctx context.Context, dsns [2]string, table string) (floors, error) {
	var conns [2]*pgx.Conn
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(context.WithoutCancel(ctx))
			}
		}
	}()
	for i, dsn := range dsns {
		c, err := floorConn(ctx, dsn)
		if err != nil {
			return floors{}, err
		}
		conns[i] = c
	}
	t := benchTable(table)
	ident := t.Ident()
	rowHashSQL := fmt.Sprintf("SELECT count(*), bit_xor(%s) FROM %s", (&schema.SQL{T: t}).RowHash(), ident)
	recordSQL := fmt.Sprintf("SELECT count(*), bit_xor(hash_record_extended(t, 0)) FROM %s t", ident)
	copySQL := fmt.Sprintf("COPY (SELECT * FROM %s ORDER BY id) TO STDOUT (FORMAT binary)", ident)

	var f floors
	var counts [2]int64
	hashQuery := func(sql string, hashes *[2]int64) func(ctx context.Context, i int) error {
		return func(ctx context.Context, i int) error {
			var h *int64
			if err := conns[i].QueryRow(ctx, sql).Scan(&counts[i], &h); err != nil {
				return err
			}
			if hashes != nil && h != nil {
				hashes[i] = *h
			}
			return nil
		}
	}
	var copyBytes [2]int64
	copyQuery := func(ctx context.Context, i int) error {
		w := &countingWriter{}
		_, err := conns[i].PgConn().CopyTo(ctx, w, copySQL)
		copyBytes[i] = w.n
		return err
	}
	for _, m := range []struct {
		name string
		out  *time.Duration
		run  func(context.Context, int) error
	}{
		{"row hash", &f.rowHash, hashQuery(rowHashSQL, &f.hashes)},
		{"hash_record_extended", &f.recordHash, hashQuery(recordSQL, nil)},
		{"binary COPY", &f.copy, copyQuery},
	} {
		d, err := onBoth(ctx, m.run)
		if err != nil {
			return floors{}, fmt.Errorf("floor %s of %s: %w", m.name, table, err)
		}
		*m.out = d
	}
	f.copyBytes = copyBytes[0]
	return f, nil
}

// faster combines the floors of two rounds, keeping each floor's faster time.
func (f floors) faster(g floors, first bool) floors {
	if first {
		return g
	}
	f.rowHash, f.recordHash, f.copy = min(f.rowHash, g.rowHash), min(f.recordHash, g.recordHash), min(f.copy, g.copy)
	return f
}

// onBoth runs fn for node 0 and node 1 at the same time and returns the wall time until both are done.
func onBoth(ctx context.Context, fn func(context.Context, int) error) (time.Duration, error) {
	p := pool.New().WithErrors().WithContext(ctx).WithCancelOnError()
	start := time.Now()
	for i := range 2 {
		p.Go(func(ctx context.Context) error { return fn(ctx, i) })
	}
	err := p.Wait()
	return time.Since(start), err
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// child is one finished measured process.
type child struct {
	wall    time.Duration
	cpu     time.Duration // user + system time of the process itself (not the servers')
	peakRSS int64         // bytes
	exit    int
	stderr  string
}

// launcher is the path of the built bench/launcher, set once at start.
var launcher string

// runChild runs a program to completion with stdout to the given writer (nil: /dev/null), through
// bench/launcher (see there why), and returns its wall time from start to exit, its CPU time and its own
// peak resident set size (getrusage ru_maxrss via wait4).
func runChild(ctx context.Context, stdout io.Writer, name string, args ...string) (child, error) {
	rf, err := os.CreateTemp("", "rowdiff-bench-child-*.json")
	if err != nil {
		return child{}, err
	}
	rf.Close()
	defer os.Remove(rf.Name())
	cmd := exec.CommandContext(ctx, launcher, append([]string{rf.Name(), name}, args...)...)
	var stderr bytes.Buffer
	cmd.Stdout = stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return child{}, fmt.Errorf("launch %s: %v: %s", name, err, stderr.String())
	}
	rep, err := launch.Read(rf.Name())
	if err != nil {
		return child{}, fmt.Errorf("launch %s: %w", name, err)
	}
	if rep.Err != "" {
		return child{}, fmt.Errorf("start %s: %s", name, rep.Err)
	}
	return child{
		wall:    time.Duration(rep.WallNS),
		cpu:     time.Duration(rep.UserNS + rep.SysNS),
		peakRSS: rep.MaxRSSKiB * 1024,
		exit:    rep.Exit,
		stderr:  stderr.String(),
	}, nil
}

// runRowdiff runs one `rowdiff diff` and fills the rowdiff columns of r. A run that fails (exit 2) is
// recorded in r.Err rather than returned, so one broken output format does not stop the benchmark.
func runRowdiff(ctx context.Context, bin, dir string, dsns [2]string, table, format string, extra []string, r *result) error {
	out := filepath.Join(dir, "out."+format)
	sumPath := filepath.Join(dir, "summary.json")
	defer os.Remove(out)
	defer os.Remove(sumPath)
	args := append([]string{"diff", "--table", "public." + table,
		"--node", "a=" + dsns[0], "--node", "b=" + dsns[1],
		"--out", out, "--summary", sumPath}, extra...)
	c, err := runChild(ctx, nil, bin, args...)
	if err != nil {
		return fmt.Errorf("run rowdiff: %w", err)
	}
	r.Wall, r.CPU, r.PeakRSS = c.wall.Seconds(), c.cpu.Seconds(), c.peakRSS
	if c.exit != 0 && c.exit != 1 {
		r.Err = fmt.Sprintf("rowdiff exit %d: %s", c.exit, lastLine(c.stderr))
		return nil
	}
	raw, err := os.ReadFile(sumPath)
	if err != nil {
		r.Err = "no summary: " + err.Error()
		return nil
	}
	var s pipeline.Summary
	if err := json.Unmarshal(raw, &s); err != nil {
		r.Err = "bad summary: " + err.Error()
		return nil
	}
	for _, n := range s.Nodes {
		switch n.Name {
		case "a":
			r.BytesA, r.RowsA = n.BytesReceived, n.Rows
		case "b":
			r.BytesB, r.RowsB = n.BytesReceived, n.Rows
		}
	}
	r.RangesHashed, r.RangesSplit, r.RangesCompared = s.RangesHashed, s.RangesSplit, s.RangesCompared
	r.Differences, r.Changed = s.Differences, s.Changed
	var problems []string
	if !s.Complete {
		problems = append(problems, "summary says incomplete")
	}
	if (s.Differences > 0) != (c.exit == 1) {
		problems = append(problems, fmt.Sprintf("exit status %d with %d differences", c.exit, s.Differences))
	}
	if format == "jsonl" {
		lines, err := countLines(out, "")
		switch {
		case err != nil:
			problems = append(problems, "output: "+err.Error())
		case lines != s.Differences:
			problems = append(problems, fmt.Sprintf("output has %d records, summary says %d", lines, s.Differences))
		}
	} else if st, err := os.Stat(out); err != nil || st.Size() == 0 {
		problems = append(problems, "no parquet output file")
	}
	if len(problems) > 0 {
		r.Err = strings.Join(problems, "; ")
	}
	return nil
}

// runPgComparator runs pg_comparator with its defaults (checksum ck, aggregate sum, folding factor 7)
// except --max-ratio=2.0, which lets it report any number of differences instead of giving up at 10%.
// It counts the UPDATE/INSERT/DELETE lines it prints: one per differing key.
func runPgComparator(ctx context.Context, dir string, ports [2]int, dbs [2]string, table string, r *result) error {
	out := filepath.Join(dir, "pgcmp.out")
	defer os.Remove(out)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	url := func(i int) string {
		return fmt.Sprintf("pgsql://postgres@127.0.0.1:%d/%s/public.%s?id", ports[i], dbs[i], table)
	}
	c, err := runChild(ctx, f, "pg_comparator", "--max-ratio=2.0", url(0), url(1))
	f.Close()
	if err != nil {
		return fmt.Errorf("run pg_comparator: %w", err)
	}
	r.Wall, r.CPU, r.PeakRSS = c.wall.Seconds(), c.cpu.Seconds(), c.peakRSS
	if c.exit != 0 {
		r.Err = fmt.Sprintf("pg_comparator exit %d: %s", c.exit, lastLine(c.stderr))
	}
	if r.Differences, err = countLines(out, "UPDATE ", "INSERT ", "DELETE "); err != nil {
		return err
	}
	r.Changed, err = countLines(out, "UPDATE ")
	return err
}

// countLines counts the lines of a file that start with any of the prefixes ("" counts every line).
func countLines(path string, prefixes ...string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var n int64
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				n++
				break
			}
		}
	}
	return n, sc.Err()
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
