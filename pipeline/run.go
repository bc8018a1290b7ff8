// Package pipeline wires the stages together: it connects to the nodes inside one snapshot each, owns the
// work queue, the workers and the sink writer, stops everything on the first error, and counts what
// happened for the summary.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc/pool"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
	"github.com/rowdiff/rowdiff/stages"
)

// Config is one diff run.
type Config struct {
	Table     string // [schema.]table, parsed as identifiers
	Nodes     []Node
	Selection Selection
	// Where is trusted SQL, run read-only inside each node's snapshot.
	Where       string
	Exact       bool
	MaxDiffs    int64 // 0: no limit
	BlockRows   int64 // rows per initial range
	LeafRows    int64 // rows per hash bucket
	Concurrency int   // ranges in flight; each holds one connection per node
	Timeouts    Timeouts
}

// Sink receives the differences of a run from a single goroutine. Exactly one of Commit and Abort is
// called, after the last Write.
type Sink interface {
	Write(schema.Diff) error
	Commit(sinks.Meta) error
	Abort() error
}

// Opener creates the sink once the table's columns are known.
type Opener func(t *schema.Table, nodes []string) (Sink, error)

// Run diffs the table across cfg.Nodes and writes every difference to the sink open returns. The summary
// is returned even with an error (as far as the run got). Cancelling ctx stops the run and cancels the
// queries in flight on every node.
func Run(ctx context.Context, cfg Config, open Opener) (*Summary, error) {
	sum := &Summary{Table: cfg.Table, Started: time.Now()}
	err := run(ctx, cfg, open, sum)
	sum.Finished = time.Now()
	sum.ElapsedSeconds = sum.Finished.Sub(sum.Started).Seconds()
	if err != nil {
		sum.Complete = false
		sum.Error = err.Error()
	}
	return sum, err
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
	if cfg.Concurrency < 1 || cfg.BlockRows < 1 || cfg.LeafRows < 1 {
		return errors.New("--concurrency and --block-rows must be positive")
	}
	return nil
}

// closeCtx bounds closing connections even when the run's context is already cancelled.
func closeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func run(ctx context.Context, cfg Config, open Opener, sum *Summary) error {
	if err := cfg.check(); err != nil {
		return err
	}
	schemaName, tableName, err := schema.ParseQualified(cfg.Table)
	if err != nil {
		return err
	}
	nodes := make([]*node, len(cfg.Nodes))
	names := make([]string, len(cfg.Nodes))
	for i, n := range cfg.Nodes {
		nodes[i] = &node{Node: n}
		names[i] = n.Name
		if err := nodes[i].configure(cfg.Timeouts); err != nil {
			return err
		}
	}
	defer func() {
		for i, n := range nodes {
			sum.Nodes[i].BytesReceived = n.received.Load()
		}
	}()
	sum.Nodes = make([]NodeSummary, len(nodes))
	for i := range nodes {
		sum.Nodes[i].Name = names[i]
	}

	// Coordinators: one per node, each exporting the snapshot every other connection to that node imports.
	coords := make([]*pgx.Conn, len(nodes))
	defer func() {
		cctx, cancel := closeCtx()
		defer cancel()
		for _, c := range coords {
			if c != nil {
				c.Close(cctx)
			}
		}
	}()
	remotes := make([]*remoteTable, len(nodes))
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for i, n := range nodes {
		p.Go(func(ctx context.Context) error {
			conn, snap, err := n.connect(ctx, "")
			if err != nil {
				return err
			}
			coords[i], n.snapshot = conn, snap
			if remotes[i], err = inspect(ctx, conn, schemaName, tableName); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return err
	}
	t, err := buildTable(names, remotes, cfg.Selection)
	if err != nil {
		return err
	}
	sum.Table = t.String()
	q := &schema.SQL{T: t, Exact: cfg.Exact, Where: cfg.Where}
	var estRows float64
	for _, n := range nodes {
		q.NormalizeEncoding = q.NormalizeEncoding || n.encoding != nodes[0].encoding
	}
	for _, r := range remotes {
		estRows = max(estRows, r.reltuples)
	}

	sessions, err := openSessions(ctx, nodes, cfg.Concurrency)
	defer func() {
		cctx, cancel := closeCtx()
		defer cancel()
		for _, s := range sessions {
			s.close(cctx)
		}
	}()
	if err != nil {
		return err
	}

	sink, err := open(t, names)
	if err != nil {
		return err
	}
	env := &stages.Env{
		SQL: q, Nodes: names, LeafRows: cfg.LeafRows,
		Fanout: int(min(1<<16, max(1, cfg.BlockRows/cfg.LeafRows))),
		Stats:  stages.NewStats(len(nodes)),
	}
	r := &runner{cfg: cfg, env: env, coords: coords, sessions: sessions, sink: sink, sum: sum, estRows: estRows}
	err = r.run(ctx)
	for i := range nodes {
		sum.Nodes[i].Rows = env.Stats.Rows[i].Load()
	}
	sum.RangesHashed = env.Stats.RangesHashed.Load()
	sum.RangesSplit = env.Stats.RangesSplit.Load()
	sum.RangesCompared = env.Stats.RangesCompared.Load()
	sum.RowsCompared = env.Stats.RowsCompared.Load()
	sum.Complete = err == nil
	if errors.Is(err, ErrLimit) {
		err = nil
	}
	if err != nil {
		sink.Abort()
		return err
	}
	return sink.Commit(sinks.Meta{Table: t.String(), Nodes: names, Started: sum.Started, Finished: time.Now(), Complete: sum.Complete})
}

// openSessions opens n sessions, each with one connection per node in that node's snapshot. It returns
// what it opened even on error, for the caller to close.
func openSessions(ctx context.Context, nodes []*node, n int) ([]*session, error) {
	sessions := make([]*session, n)
	for i := range sessions {
		sessions[i] = &session{conns: make([]*pgx.Conn, len(nodes))}
	}
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for _, s := range sessions {
		for j, nd := range nodes {
			p.Go(func(ctx context.Context) error {
				conn, _, err := nd.connect(ctx, nd.snapshot)
				s.conns[j] = conn
				return err
			})
		}
	}
	return sessions, p.Wait()
}
