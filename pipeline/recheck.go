package pipeline

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
	"github.com/rowdiff/rowdiff/stages"
)

// RecheckConfig re-reads the keys of an earlier diff and keeps those that still differ.
type RecheckConfig struct {
	In string // JSON Lines output of an earlier diff or recheck
	// Out is where the opener writes; later rounds read their keys from it, so it must be JSON Lines
	// when Rounds > 1.
	Out       string
	Nodes     []Node
	Selection Selection // Columns and Exclude; the key comes from the input records
	Where     string
	Exact     bool
	Timeouts  Timeouts
	// Rounds > 1 repeats the recheck on what still differs, Wait apart, until nothing differs, the set
	// stops shrinking, or Rounds are done: differences that are only replication lag disappear.
	Rounds int
	Wait   time.Duration
}

// recheckBatch is how many keys of one table a recheck or repair reads from the input at once: as many as
// one fetch asks for from a table read by key hash, where each fetch is a whole-table scan on some node.
const recheckBatch = stages.ScanBatch

// Recheck compares, on every node and in a fresh snapshot per round, the rows of the keys listed in
// cfg.In, and writes those that still differ. The summary is the last round's.
func Recheck(ctx context.Context, cfg RecheckConfig, open Opener) (*Summary, error) {
	var refused error
	switch {
	case cfg.Rounds < 1:
		refused = fmt.Errorf("--rounds %d: give at least 1", cfg.Rounds)
	case cfg.Wait < 0:
		refused = fmt.Errorf("--wait %v: give a duration of 0 or more", cfg.Wait)
	case cfg.Rounds > 1 && !strings.HasSuffix(strings.ToLower(cfg.Out), ".jsonl"):
		refused = errors.New("--rounds > 1 reads each round's output back: write it to a .jsonl file")
	default:
		refused = schema.CheckWhere(cfg.Where)
	}
	if refused != nil {
		// A summary that says what happened: nothing ran (an empty one read as a run of no tables, cut
		// short by --max-diffs).
		sum := &Summary{Started: time.Now()}
		sum.finish(refused)
		return sum, refused
	}
	in, prev := cfg.In, int64(-1)
	// With several rounds, each writes a file of its own beside --out, which only the last round's takes
	// the place of: round 1 wrote --out itself, and a run interrupted or failed later left it there,
	// having said that no output was written (found by an exploratory helper).
	var kept string // the round file of the last round that finished
	defer func() {
		if kept != "" {
			os.Remove(kept)
		}
	}()
	run := rand.Text()
	for round := 1; ; round++ {
		sum := &Summary{Started: time.Now(), Rounds: round}
		out, roundOpen := cfg.Out, open
		if cfg.Rounds > 1 {
			out = roundFile(cfg.Out, run, round)
			roundOpen = func(_ []*schema.Table, nodes []string, _ time.Time) (Sink, error) {
				return sinks.NewJSONLines(out, nodes)
			}
		}
		err := hinted(recheckOnce(ctx, cfg, in, roundOpen, sum))
		if err == nil && cfg.Rounds > 1 {
			if kept != "" {
				os.Remove(kept)
			}
			kept = out
		}
		if err != nil || sum.Differences == 0 || round >= cfg.Rounds || (prev >= 0 && sum.Differences >= prev) {
			if err == nil && kept != "" {
				err, kept = sinks.Place(kept, cfg.Out), ""
			}
			sum.finish(interrupted(ctx, err))
			return sum, err
		}
		sum.finish(nil)
		prev, in = sum.Differences, out
		select {
		case <-time.After(cfg.Wait):
		case <-ctx.Done():
			// Said in the summary too: interrupted between rounds, it read as a finished, complete run.
			sum.finish(context.Cause(ctx))
			return sum, ctx.Err()
		}
	}
}

// roundFile is where round n of a recheck of several rounds writes, hidden beside out, named apart by
// run, a token of the run's own. Named by out and n alone, two rechecks writing one --out read each
// other's rounds (one exited 1 with the other's table), and a link planted at the name had a round
// written through it to the file it named (both found by an exploratory helper).
func roundFile(out, run string, n int) string {
	dir, base := filepath.Split(out)
	return filepath.Join(dir, fmt.Sprintf(".%s.round-%d-%s.jsonl", base, n, run))
}

func recheckOnce(ctx context.Context, cfg RecheckConfig, in string, open Opener, sum *Summary) (err error) {
	if len(cfg.Nodes) < 2 {
		return errors.New("need at least two --node NAME=DSN")
	}
	// The sink needs the tables before any record.
	order, compared, err := tablesIn(ctx, in)
	if err != nil {
		return err
	}
	f, err := openFleet(ctx, cfg.Nodes, cfg.Timeouts, 1)
	defer func() { f.close(sum, err) }()
	if err != nil {
		return err
	}
	sum.Workers = len(f.sessions)
	if err := lossyNames(order, compared, f.bytesNodes()); err != nil {
		return err
	}
	envs := map[tableKey]*stages.Env{}
	var tables []*schema.Table
	sel := cfg.Selection
	sel.manyTables, sel.where = len(order) > 1, cfg.Where
	for _, tk := range order {
		sel.Key = tk.columns()
		t, err := f.recordTable(ctx, tk.name, sel)
		if err != nil {
			return err
		}
		if err := sameColumns(t, compared[tk]); err != nil {
			return err
		}
		tables = append(tables, t)
		envs[tk] = &stages.Env{SQL: f.sql(t, cfg.Exact, cfg.Where), Nodes: f.names, Stats: stages.NewStats(len(f.nodes))}
	}
	if err := excludedSomewhere(sel, tables); err != nil {
		return err
	}
	sink, err := open(tables, f.names, sum.Started)
	if err != nil {
		return err
	}
	defer interruptOnCancel(ctx, sink)()
	counts := map[tableKey]*TableSummary{}
	for _, tk := range order {
		ts := newTableSummary(envs[tk].SQL.T.String(), envs[tk].SQL.T) // as diff names it, whatever the input wrote
		counts[tk] = &ts
	}
	reached := map[tableKey]bool{}
	var at tableKey // the table of the batch being rechecked
	err = recheckKeys(ctx, in, f.sessions[0], envs, f.relkinds, counts, f.bytesNodes(), sink, reached, &at)
	for _, tk := range order {
		ts := counts[tk]
		ts.fill(envs[tk].Stats, f.names)
		// As a diff's summary says where a run failed: every table of a failed recheck read as done.
		switch {
		case err != nil && tk == at:
			ts.Failed, ts.Digest = true, ""
		case err != nil && !reached[tk]:
			ts.NotCompared, ts.Digest = true, ""
		}
		sum.add(*ts)
	}
	sum.Complete = err == nil
	if err != nil {
		sink.Abort()
		return err
	}
	return sink.Commit(sinks.Meta{Table: sum.Table, Nodes: f.names, Started: sum.Started, Finished: time.Now(), Complete: true})
}

// tablesIn reads the output of an earlier run at path once through and returns its tables, each with the
// key columns it was diffed by, in the order they first appear, and the columns each table's first
// record holds. It stops when ctx ends: an interrupt during a first pass over 600,000 records waited
// 3.7-5.1 s for it to end (found by an exploratory helper).
func tablesIn(ctx context.Context, path string) ([]tableKey, map[tableKey][]string, error) {
	r, err := openKeys(path)
	if err != nil {
		return nil, nil, err
	}
	defer r.close()
	var order []tableKey
	compared := map[tableKey][]string{}
	for n := 0; ; n++ {
		if n%1024 == 0 && ctx.Err() != nil {
			return nil, nil, context.Cause(ctx)
		}
		rec, err := r.next()
		if err == io.EOF {
			return order, compared, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if tk := rec.tableKey(); compared[tk] == nil {
			if compared[tk], err = r.compared(); err != nil {
				return nil, nil, err
			}
			order = append(order, tk)
		}
	}
}

// sameColumns checks that a recheck or repair of t reads no column that the records of it, which hold
// columns, left out: without the diff's --exclude-columns, a repair wrote the columns it had excluded and
// a recheck reported their differences (found by an exploratory helper).
func sameColumns(t *schema.Table, columns []string) error {
	var extra []string
	for _, c := range t.Columns {
		if !slices.Contains(columns, c.Name) {
			extra = append(extra, schema.QuoteIdentIfNeeded(c.Name))
		}
	}
	if len(extra) == 0 {
		return nil
	}
	return fmt.Errorf("--in's records of %s hold no column %s, which its diff did not compare: pass the diff's "+
		"--columns or --exclude-columns", t, strings.Join(extra, ", "))
}

// recheckKeys is the second pass: batches of consecutive keys of one table, compared on every node.
func recheckKeys(ctx context.Context, in string, s *session, envs map[tableKey]*stages.Env, relkinds map[*schema.Table][]string,
	counts map[tableKey]*TableSummary, bytesNodes []string, sink Sink, reached map[tableKey]bool, at *tableKey) error {
	locked := firstRead{}
	return eachBatch(in, recheckBatch, bytesNodes, func(first keyRecord, keys []schema.Key) error {
		tk := first.tableKey()
		reached[tk], *at = true, tk
		ts := counts[tk]
		if err := locked.lock(ctx, tk, s.conns, envs[tk].Nodes, relkinds[envs[tk].SQL.T], envs[tk].SQL.T); err != nil {
			return err
		}
		return stages.CompareKeys(ctx, s.conns, envs[tk], keys, func(d schema.Diff) error {
			ts.count(d)
			return sink.Write(d)
		})
	})
}
