// Package pipeline wires the stages together: it connects to the nodes inside one snapshot each, owns the
// work queue, the workers and the sink writer, stops everything on the first error, and counts what
// happened for the summary.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
	"github.com/rowdiff/rowdiff/stages"
)

// Config is one diff run.
type Config struct {
	// Tables are [schema.]table names, parsed as identifiers; Schemas add every table with a primary key
	// of each named schema. One snapshot per node covers them all.
	Tables    []string
	Schemas   []string
	Nodes     []Node
	Selection Selection
	// Where is trusted SQL, run read-only inside each node's snapshot.
	Where       string
	Exact       bool
	MaxDiffs    int64 // 0: no limit
	BlockRows   int64 // rows per initial range
	LeafRows    int64 // rows per hash bucket
	Concurrency int   // ranges in flight; each holds one connection per node
	// MaxConnections caps the connections rowdiff opens to each node (the coordinator included);
	// Concurrency is lowered to fit.
	MaxConnections int
	Timeouts       Timeouts
	// Progress, when set, is called from the run's goroutines as work completes; it must be cheap and
	// safe for concurrent use.
	Progress func(Progress)
}

// Progress is a snapshot of a run's counters, for a live display.
type Progress struct {
	Table string
	// RowsHashed counts rows of the table hashed so far (on the largest node); RowsEstimate is the
	// planner's estimate of the total.
	RowsHashed, RowsEstimate int64
	RangesDone, Differences  int64
	TablesDone, Tables       int
}

// Sink receives the differences of a run from a single goroutine. Exactly one of Commit and Abort is
// called, after the last Write.
type Sink interface {
	Write(schema.Diff) error
	Commit(sinks.Meta) error
	Abort() error
}

// interruptOnCancel makes the sink's writes end at once when ctx ends, where it can (a sink writing to a
// pipe or named pipe: see sinks.JSONLines.Interrupt), until the returned stop is called. A write the
// reader does not take would otherwise hold the run, its sessions and their locks, past the interrupt.
func interruptOnCancel(ctx context.Context, sink Sink) (stop func() bool) {
	i, ok := sink.(interface{ Interrupt() })
	if !ok {
		return func() bool { return false }
	}
	return context.AfterFunc(ctx, i.Interrupt)
}

// Opener creates the sink once the tables' columns are known; started is the run's start.
type Opener func(tables []*schema.Table, nodes []string, started time.Time) (Sink, error)

// Run diffs the tables across cfg.Nodes and writes every difference to the sink open returns. The
// summary is returned even with an error (as far as the run got). Cancelling ctx stops the run and
// cancels the queries in flight on every node.
func Run(ctx context.Context, cfg Config, open Opener) (*Summary, error) {
	sum := &Summary{Table: strings.Join(cfg.Tables, ", "), Started: time.Now()}
	err := hinted(run(ctx, cfg, open, sum))
	sum.finish(interrupted(ctx, err))
	return sum, err
}

// interrupted is err, or where ctx ended the run, the cause ctx was cancelled with ("interrupted by
// SIGINT"), which the summary says in place of what the cancelled step returned ("context canceled",
// "canceling statement due to user request").
func interrupted(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}

func (cfg *Config) check() error {
	if len(cfg.Nodes) < 2 {
		return errors.New("need at least two --node NAME=DSN")
	}
	for i, n := range cfg.Nodes {
		if n.Name == "" {
			return fmt.Errorf("--node %d has no name (want NAME=DSN)", i+1)
		}
		if slices.ContainsFunc(cfg.Nodes[:i], func(o Node) bool { return o.Name == n.Name }) {
			return fmt.Errorf("node name %q is used twice", n.Name)
		}
	}
	if len(cfg.Tables) == 0 && len(cfg.Schemas) == 0 {
		return errors.New("name a table with --table or a schema with --schema")
	}
	if cfg.Concurrency < 1 || cfg.BlockRows < 1 || cfg.LeafRows < 1 {
		return fmt.Errorf("--concurrency %d, --block-rows %d, --leaf-rows %d: each must be positive", cfg.Concurrency, cfg.BlockRows, cfg.LeafRows)
	}
	if cfg.MaxConnections != 0 && cfg.MaxConnections < 2 {
		return errors.New("--max-connections must be at least 2 (a coordinator and a worker per node), or 0 for no limit")
	}
	if cfg.MaxDiffs < 0 {
		return errors.New("--max-diffs must be positive, or 0 for no limit")
	}
	if err := schema.CheckWhere(cfg.Where); err != nil {
		return err
	}
	if cfg.MaxConnections != 0 {
		cfg.Concurrency = min(cfg.Concurrency, cfg.MaxConnections-1)
	}
	return nil
}

func run(ctx context.Context, cfg Config, open Opener, sum *Summary) (err error) {
	asked := cfg.Concurrency
	if err := cfg.check(); err != nil {
		return err
	}
	f, err := openFleet(ctx, cfg.Nodes, cfg.Timeouts, cfg.Concurrency)
	defer func() { f.close(sum, err) }()
	if err != nil {
		return err
	}
	sum.Workers, sum.FewerWorkers = len(f.sessions), f.starved
	if sum.FewerWorkers == "" && cfg.Concurrency < asked {
		// Said, as the summary promises for fewer workers than --concurrency: it was left empty.
		workers := "workers"
		if cfg.Concurrency == 1 {
			workers = "worker"
		}
		sum.FewerWorkers = fmt.Sprintf("--max-connections %d leaves room for %d %s per node beside the coordinator",
			cfg.MaxConnections, cfg.Concurrency, workers)
	}
	names := cfg.Tables
	if len(cfg.Schemas) > 0 {
		found, skipped, missing, err := f.schemaTables(ctx, cfg.Schemas)
		if err != nil {
			return err
		}
		names = append(slices.Clone(names), found...)
		sum.Skipped, sum.MissingTables = skipped, missing
	}
	var tables []*schema.Table
	var estimates []float64
	listed := map[string]bool{}
	sel := cfg.Selection
	sel.lock, sel.lockWorkers, sel.manyTables = true, len(names) <= workerLockTables, len(names) > 1
	sel.where = cfg.Where
	for i, name := range names {
		t, est, err := f.table(ctx, name, sel)
		var unsupported unsupportedKey
		if i >= len(cfg.Tables) && errors.As(err, &unsupported) {
			sum.UnsupportedKeys = append(sum.UnsupportedKeys, unsupported.msg)
			continue
		}
		var different differentDefinition
		if i >= len(cfg.Tables) && errors.As(err, &different) {
			sum.DifferentDefinitions = append(sum.DifferentDefinitions, different.msg)
			continue
		}
		if err != nil {
			return err
		}
		// A table named twice (by --table in two spellings, or by --table and --schema) is diffed once, in
		// its first place. Its quoted name tells "a.b".c from a."b.c", whose unquoted names are the same:
		// by that, the second was left out of a --schema run without a word.
		if listed[t.Ident()] {
			continue
		}
		listed[t.Ident()] = true
		tables, estimates = append(tables, t), append(estimates, est)
	}
	// A table that --schema skipped for want of a key but --table named with --key is compared: it was
	// listed as skipped too (found by an exploratory helper).
	sum.Skipped = slices.DeleteFunc(sum.Skipped, func(name string) bool {
		return slices.ContainsFunc(tables, func(t *schema.Table) bool { return t.String() == name })
	})
	if err := nothingComparable(tables, sum); err != nil {
		return err
	}
	if err := excludedSomewhere(sel, tables); err != nil {
		return err
	}
	for _, t := range tables {
		if err := sinks.NamesApart(t); err != nil {
			return err
		}
	}
	sink, err := open(tables, f.names, sum.Started)
	if err != nil {
		return err
	}
	defer interruptOnCancel(ctx, sink)()
	var diffs diffCount
	for i, t := range tables {
		ts := newTableSummary(t.String(), t)
		env := &stages.Env{
			SQL: f.sql(t, cfg.Exact, cfg.Where), Nodes: f.names, LeafRows: cfg.LeafRows,
			Fanout: fanout(cfg.BlockRows, cfg.LeafRows),
			Stats:  stages.NewStats(len(f.nodes)),
		}
		r := &runner{cfg: cfg, env: env, coords: stages.NewCoordinators(f.coords), sessions: f.sessions, sink: sink,
			counts: &diffs, table: &ts, estRows: estimates[i], tableIndex: i, tables: len(tables)}
		if !sel.lockWorkers {
			r.lockFirst = func(ctx context.Context, s *session) error { return f.lockFirstRead(ctx, s, t) }
		}
		err = r.run(ctx)
		if err == nil && t.Partitioned {
			err = checkPartitions(ctx, f.coords, f.names, t)
		}
		ts.fill(env.Stats, f.names)
		sum.add(ts)
		if err != nil {
			break
		}
	}
	sum.Complete = err == nil
	var stopped *schema.Table // where --max-diffs stopped the run: the last table the summary has
	if err != nil {
		last := &sum.Tables[len(sum.Tables)-1]
		if errors.Is(err, ErrLimit) {
			err = nil
			stopped = tables[len(sum.Tables)-1]
			last.Stopped = true
		} else {
			// A --schema run that failed in its second table listed it with 0 differences and the digest of
			// an identical table, and left out the tables after it (found by a re-test helper).
			last.Failed, last.Digest = true, ""
		}
		// The summary lists every table, also those the run left unread.
		for _, t := range tables[len(sum.Tables):] {
			ts := newTableSummary(t.String(), t)
			ts.fill(stages.NewStats(len(f.nodes)), f.names)
			ts.NotCompared, ts.Digest = true, "" // no digest of keys never read
			sum.add(ts)
		}
	}
	if err != nil {
		sink.Abort()
		return err
	}
	return sink.Commit(sinks.Meta{Table: sum.Table, Nodes: f.names, Started: sum.Started, Finished: time.Now(), Complete: sum.Complete, Stopped: stopped})
}

// fanout is the most buckets one hash query cuts a range into: a range of blockRows rows in buckets of
// leafRows, up to 64k.
func fanout(blockRows, leafRows int64) int {
	return int(min(max(1, blockRows/leafRows), 1<<16))
}

// nothingComparable fails a --schema run whose tables were all skipped, for want of a key or for a key
// rowdiff cannot order: it exited 0 saying "no table is on every node", though the tables were, and
// differed (found by an exploratory helper). A run with a table some node lacks, or whose definitions
// differ, has its verdict (exit 1) and is not failed.
func nothingComparable(tables []*schema.Table, sum *Summary) error {
	if len(tables) > 0 || len(sum.MissingTables) > 0 || len(sum.DifferentDefinitions) > 0 {
		return nil
	}
	var why []string
	for _, t := range sum.Skipped {
		why = append(why, "table "+t+": "+noKey)
	}
	why = append(why, sum.UnsupportedKeys...)
	if len(why) == 0 {
		return nil
	}
	more := ""
	if len(why) > summaryTables {
		more = fmt.Sprintf("; and %d more", len(why)-summaryTables)
		why = why[:summaryTables]
	}
	return fmt.Errorf("no table could be compared (give one a key with --table and --key): %s%s", strings.Join(why, "; "), more)
}
