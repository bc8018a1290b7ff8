package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

func diffCommand() *cobra.Command {
	var (
		cfg                    pipeline.Config
		nodes                  []string
		out, format, summary   string
		key, columns, excludes string
	)
	cmd := &cobra.Command{
		Use:   "diff --table [SCHEMA.]TABLE --node NAME=DSN --node NAME=DSN [...] --out PATH",
		Short: "Diff a table across nodes and write every differing row",
		Example: `  rowdiff diff --table public.orders \
    --node a='host=db1 dbname=shop user=ro' --node b=postgres://ro@db2/shop \
    --out diffs.jsonl --summary summary.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, n := range nodes {
				name, dsn, ok := strings.Cut(n, "=")
				if !ok {
					return fmt.Errorf("--node %q: want NAME=DSN", n)
				}
				cfg.Nodes = append(cfg.Nodes, pipeline.Node{Name: name, DSN: dsn})
			}
			var err error
			if cfg.Selection.Key, err = schema.ParseIdentList(key); err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if cfg.Selection.Columns, err = schema.ParseIdentList(columns); err != nil {
				return fmt.Errorf("--columns: %w", err)
			}
			if cfg.Selection.Exclude, err = schema.ParseIdentList(excludes); err != nil {
				return fmt.Errorf("--exclude-columns: %w", err)
			}
			for _, t := range cfg.Tables {
				if _, _, err := schema.ParseQualified(t); err != nil {
					return err
				}
			}
			f, err := sinks.FormatFor(out, format)
			if err != nil {
				return err
			}
			open := func(tables []*schema.Table, names []string) (pipeline.Sink, error) {
				if f == sinks.FormatJSONLines {
					return sinks.NewJSONLines(out, names)
				}
				if len(tables) != 1 {
					return nil, fmt.Errorf("a Parquet file holds one table's columns; write %d tables to .jsonl", len(tables))
				}
				return sinks.NewParquet(out, tables[0], names)
			}
			sum, err := pipeline.Run(cmd.Context(), cfg, open)
			sum.WriteText(os.Stderr)
			if summary != "" {
				if werr := writeSummary(summary, sum); werr != nil && err == nil {
					err = werr
				}
			}
			if err != nil {
				return err
			}
			if !sum.Complete {
				fmt.Fprintf(os.Stderr, "rowdiff: output truncated at --max-diffs %d differences\n", cfg.MaxDiffs)
			}
			if sum.Differences > 0 {
				return exitStatus{exitDiffs}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&cfg.Tables, "table", nil, "table to compare, [SCHEMA.]TABLE (identifiers; quote mixed case with \"...\"); repeat for more tables")
	fl.StringArrayVar(&cfg.Schemas, "schema", nil, "compare every table of this schema that has a primary key; repeatable")
	fl.StringArrayVar(&nodes, "node", nil, "NAME=DSN of a node (libpq keyword/value string or postgres:// URL); repeat for every node")
	fl.StringVar(&out, "out", "", "output path: .jsonl (JSON Lines), .parquet, or - for JSON Lines on stdout")
	fl.StringVar(&format, "format", "", "output format, jsonl or parquet (default: from --out)")
	fl.StringVar(&cfg.Where, "where", "", "SQL filter on the rows to compare (trusted input; runs read-only in the snapshot)")
	fl.StringVar(&key, "key", "", "key columns, comma separated (default: the primary key)")
	fl.StringVar(&columns, "columns", "", "compare only these columns (the key is always compared)")
	fl.StringVar(&excludes, "exclude-columns", "", "do not compare these columns")
	fl.BoolVar(&cfg.Exact, "exact", false, "representation equality: compare text forms (2.5 != 2.50) instead of type equality")
	fl.Int64Var(&cfg.MaxDiffs, "max-diffs", 0, "stop after this many differing keys (exit 1, summary says complete=false); 0 = no limit")
	fl.StringVar(&summary, "summary", "", "also write the summary as JSON to this path")
	fl.Int64Var(&cfg.BlockRows, "block-rows", 1<<20, "rows per initial range (one hash query per node)")
	fl.Int64Var(&cfg.LeafRows, "leaf-rows", 32, "rows per hash bucket; differing buckets this small are compared row by row")
	fl.IntVar(&cfg.Concurrency, "concurrency", 4, "ranges in flight; each holds one connection per node")
	fl.IntVar(&cfg.MaxConnections, "max-connections", 5, "most connections to open to each node, coordinator included (lowers --concurrency to fit)")
	fl.DurationVar(&cfg.Timeouts.Connect, "connect-timeout", 10*time.Second, "give up connecting to a node after this long")
	fl.DurationVar(&cfg.Timeouts.Statement, "statement-timeout", 30*time.Minute, "statement_timeout of every session")
	fl.DurationVar(&cfg.Timeouts.Lock, "lock-timeout", 5*time.Second, "lock_timeout of every session")
	fl.DurationVar(&cfg.Timeouts.IdleTransaction, "idle-timeout", 10*time.Minute, "idle_in_transaction_session_timeout of every session")
	cmd.MarkFlagRequired("out")
	return cmd
}

func writeSummary(path string, sum *pipeline.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	if err := sum.WriteJSON(f); err != nil {
		f.Close()
		return fmt.Errorf("write summary: %w", err)
	}
	return f.Close()
}
