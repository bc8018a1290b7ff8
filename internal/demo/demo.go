// Package demo runs rowdiff's main job end to end on throwaway local clusters: three nodes that disagree in
// TimeZone and DateStyle, a realistic orders table with planted differences of every kind, and a diff
// written as JSON Lines and Parquet.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// Rows is the size of the demo table on every node.
const Rows = 200_000

const createSQL = `
CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');
CREATE TABLE orders (
	id        bigint PRIMARY KEY,
	customer  text NOT NULL,
	status    order_status NOT NULL,
	amount    numeric(12,2),
	placed_at timestamptz NOT NULL,
	tags      text[],
	doc       jsonb
)`

const loadSQL = `
INSERT INTO orders
SELECT g, 'customer-' || (g % 9973), (ARRAY['new','paid','shipped','cancelled']::order_status[])[1 + g % 4],
       round((g % 100000) * 0.37, 2), timestamptz '2026-01-01 00:00:00+00' + g * interval '17 seconds',
       ARRAY['tier' || (g % 3), 'region' || (g % 7)], jsonb_build_object('items', g % 5, 'gift', g % 11 = 0)
FROM generate_series(1, $1::int) g`

// plants are the differences each non-first node gets, as SQL; their effect is printed as the demo runs.
var plants = map[string][]string{
	"b": {
		`INSERT INTO orders SELECT id + 1000000, customer, status, amount, placed_at, tags, doc FROM orders WHERE id BETWEEN 11 AND 15`, // 5 only on b
		`UPDATE orders SET amount = amount + 0.01 WHERE id % 20000 = 1`,                                                                 // 10 changed amounts
		`DELETE FROM orders WHERE id % 25000 = 2`,                                                                                       // 8 missing on b
		`UPDATE orders SET doc = '{"gift": false, "items": 3}' WHERE id = 3`,                                                            // same jsonb, other key order: equal
		`UPDATE orders SET tags = NULL WHERE id = 77`,                                                                                   // NULL vs a value
	},
	"c": {
		`UPDATE orders SET status = 'cancelled' WHERE id % 50000 = 9`, // 4 changed statuses
		`UPDATE orders SET placed_at = placed_at + interval '1 microsecond' WHERE id = 123456`,
		`UPDATE orders SET customer = '' WHERE id = 4242`, // '' vs a value
	},
}

// Run starts the clusters, runs the diff into a new folder under dir and reports to w. The clusters are
// stopped before it returns, whatever happens, and the folder is removed if it fails.
func Run(ctx context.Context, dir string, w io.Writer) (err error) {
	out, err := os.MkdirTemp(dir, "rowdiff-demo-")
	if err != nil {
		return err
	}
	defer func() {
		// A demo that did not finish leaves nothing: an interrupted one left its folder, with the diff's
		// records in it, having said "no output written" (found by an exploratory helper).
		if err != nil {
			os.RemoveAll(out)
		}
	}()
	zones := map[string]pgcluster.Options{
		"a": {Name: "a", TimeZone: "UTC"},
		"b": {Name: "b", TimeZone: "America/New_York", Settings: map[string]string{"datestyle": "SQL, DMY"}},
		"c": {Name: "c", TimeZone: "Asia/Kolkata"},
	}
	var nodes []pipeline.Node
	var clusters []*pgcluster.Cluster
	defer func() {
		for _, c := range clusters {
			err = errors.Join(err, c.Stop(context.WithoutCancel(ctx)))
		}
	}()
	fmt.Fprintf(w, "starting 3 throwaway PostgreSQL clusters (a: UTC, b: America/New_York + DateStyle SQL,DMY, c: Asia/Kolkata)...\n")
	for _, name := range []string{"a", "b", "c"} {
		c, err := pgcluster.Start(ctx, zones[name])
		if err != nil {
			return err
		}
		clusters = append(clusters, c)
		if err := c.CreateDB(ctx, "shop", createSQL); err != nil {
			return err
		}
		if err := c.Exec(ctx, "shop", loadSQL, Rows); err != nil {
			return err
		}
		for _, sql := range plants[name] {
			if err := c.Exec(ctx, "shop", sql); err != nil {
				return fmt.Errorf("plant on %s: %w", name, err)
			}
		}
		if err := c.Exec(ctx, "shop", "ANALYZE orders"); err != nil {
			return err
		}
		nodes = append(nodes, pipeline.Node{Name: name, DSN: c.DSN("shop")})
	}
	fmt.Fprintf(w, "loaded %d orders on each node and planted differences:\n", Rows)
	fmt.Fprintf(w, "  b: 10 changed amounts, 8 deleted, 5 extra, 1 tags set to NULL; plus a jsonb rewritten with another key order (equal)\n")
	fmt.Fprintf(w, "  c: 4 changed statuses, 1 timestamp moved by 1µs, 1 customer set to ''\n")
	fmt.Fprintf(w, "  expected: 30 differing keys (13 missing, 17 changed)\n\n")

	cfg := pipeline.Config{
		Tables: []string{"public.orders"}, Nodes: nodes, BlockRows: 65536, LeafRows: 32, Concurrency: 4,
		Timeouts: pipeline.Timeouts{Connect: 10 * time.Second, Statement: time.Hour, Lock: 5 * time.Second, IdleTransaction: time.Hour},
	}
	var sum *pipeline.Summary
	for _, f := range []struct {
		name string
		open pipeline.Opener
	}{
		{"diffs.jsonl", func(_ []*schema.Table, names []string, _ time.Time) (pipeline.Sink, error) {
			return sinks.NewJSONLines(filepath.Join(out, "diffs.jsonl"), names)
		}},
		{"diffs.parquet", func(t []*schema.Table, names []string, _ time.Time) (pipeline.Sink, error) {
			return sinks.NewParquet(filepath.Join(out, "diffs.parquet"), t[0], names)
		}},
	} {
		if sum, err = pipeline.Run(ctx, cfg, f.open); err != nil {
			return fmt.Errorf("diff into %s: %w", f.name, err)
		}
	}
	sum.WriteText(w)
	if sum.Differences != 30 || sum.Missing != 13 {
		return fmt.Errorf("demo: found %d differences (%d missing), planted 30 (13 missing)", sum.Differences, sum.Missing)
	}
	sf, err := os.Create(filepath.Join(out, "summary.json"))
	if err != nil {
		return err
	}
	if err := errors.Join(sum.WriteJSON(sf), sf.Close()); err != nil {
		return err
	}
	if err := workflow(ctx, w, out, cfg, clusters); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nwrote %s/{diffs.jsonl,diffs.parquet,summary.json,still.jsonl,repair-b.sql,repair-c.sql,after.jsonl}\n", out)
	fmt.Fprintf(w, "next:\n  head -n 3 %s/diffs.jsonl\n  duckdb -c \"SELECT diff_kind, diff_node, count(*) FROM read_parquet('%s/diffs.parquet') GROUP BY ALL\"\n", out, out)
	fmt.Fprintf(w, "  less %s/repair-b.sql\n  go run ./cmd/rowdiff diff --help\n", out)
	return nil
}

// workflow runs the operator's follow-up on the diff: recheck (nothing heals here, so the same keys
// remain), repair scripts that make b and c equal a, applied as psql would, and a final diff that finds
// nothing.
func workflow(ctx context.Context, w io.Writer, out string, cfg pipeline.Config, clusters []*pgcluster.Cluster) error {
	jsonl := func(path string) pipeline.Opener {
		return func(_ []*schema.Table, names []string, _ time.Time) (pipeline.Sink, error) {
			return sinks.NewJSONLines(path, names)
		}
	}
	still := filepath.Join(out, "still.jsonl")
	sum, err := pipeline.Recheck(ctx, pipeline.RecheckConfig{In: filepath.Join(out, "diffs.jsonl"), Out: still,
		Nodes: cfg.Nodes, Timeouts: cfg.Timeouts, Rounds: 1}, jsonl(still))
	if err != nil {
		return fmt.Errorf("recheck: %w", err)
	}
	fmt.Fprintf(w, "\nrecheck: %d of the keys still differ (nothing heals here: no replication)\n", sum.Differences)
	for i, target := range []string{"b", "c"} {
		path := filepath.Join(out, "repair-"+target+".sql")
		script, err := sinks.NewRepairScript(path, "a", target)
		if err != nil {
			return err
		}
		rs, err := pipeline.Repair(ctx, pipeline.RepairConfig{In: still, Source: "a", Target: target, Nodes: cfg.Nodes, Timeouts: cfg.Timeouts}, script)
		if err != nil {
			return fmt.Errorf("repair %s: %w", target, err)
		}
		sql, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := clusters[i+1].Exec(ctx, "shop", string(sql)); err != nil {
			return fmt.Errorf("apply %s: %w", path, err)
		}
		fmt.Fprintf(w, "repair: %s makes %s equal a (%d upserts, %d deletes); applied\n", filepath.Base(path), target, rs.Upserts, rs.Deletes)
	}
	after := filepath.Join(out, "after.jsonl")
	sum, err = pipeline.Run(ctx, cfg, jsonl(after))
	if err != nil {
		return fmt.Errorf("diff after repair: %w", err)
	}
	fmt.Fprintf(w, "diff after repair: %d differences\n", sum.Differences)
	if sum.Differences != 0 {
		return fmt.Errorf("demo: %d differences remain after repair", sum.Differences)
	}
	return nil
}
