package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

func diffCommand() *cobra.Command {
	var (
		cfg                  pipeline.Config
		nodes                nodeFlags
		cols                 columnFlags
		out, format, summary string
		key                  string
	)
	cmd := &cobra.Command{
		Use:   "diff {--table [SCHEMA.]TABLE | --schema NAME} --node NAME=DSN --node NAME=DSN [...] --out PATH",
		Short: "Diff tables across nodes and write every differing row",
		Example: `  rowdiff diff --table public.orders \
    --node a='host=db1 dbname=shop user=ro' --node b=postgres://ro@db2/shop \
    --out diffs.jsonl --summary summary.json
  rowdiff diff --schema public --node a=... --node b=... --out all.jsonl`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Nodes, err = nodes.parse(); err != nil {
				return err
			}
			if err := notEmpty(cmd.Flags(), "key", key); err != nil {
				return err
			}
			if cfg.Selection.Key, err = schema.ParseIdentList(key); err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if err := cols.parse(&cfg.Selection); err != nil {
				return err
			}
			if err := notEmpty(cmd.Flags(), "where", cfg.Where); err != nil {
				return err
			}
			for _, t := range cfg.Tables {
				if _, _, err := schema.ParseQualified(t); err != nil {
					return err
				}
			}
			for i, s := range cfg.Schemas {
				if cfg.Schemas[i], err = schema.ParseIdent(s); err != nil {
					return fmt.Errorf("--schema %w", err)
				}
			}
			open, err := opener(out, format)
			if err != nil {
				return err
			}
			if _, err := logger(); err != nil {
				return err
			}
			sumFile, err := sinks.NewSummary(summary, out)
			if err != nil {
				return err
			}
			display := progressFor()
			cfg.Progress = display.Update
			sum, err := pipeline.Run(cmd.Context(), cfg, open)
			display.Stop(err == nil)
			return finish(sum, err, sumFile, cfg.MaxDiffs)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&cfg.Tables, "table", nil, "table to compare, [SCHEMA.]TABLE (identifiers; quote mixed case with \"...\"); repeat for more tables")
	fl.StringArrayVar(&cfg.Schemas, "schema", nil, "compare every table of this schema that has a key (a primary key, or a unique index on NOT NULL columns); an identifier, as in --table; repeatable")
	nodes.add(fl)
	fl.StringVar(&out, "out", "", "output path: .jsonl (JSON Lines), .parquet, DIR/ (a Parquet file per table), or - for JSON Lines on stdout")
	fl.StringVar(&format, "format", "", "output format, jsonl or parquet (default: from --out)")
	fl.StringVar(&cfg.Where, "where", "", "SQL filter on the rows to compare (trusted input; runs read-only in the snapshot)")
	fl.StringVar(&key, "key", "", "key columns, comma separated (default: the primary key, else a unique index on NOT NULL columns, on the first node that has one)")
	cols.add(fl)
	fl.BoolVar(&cfg.Exact, "exact", false, "representation equality: compare text forms (2.5 != 2.50) instead of type equality")
	fl.Int64Var(&cfg.MaxDiffs, "max-diffs", 0, "stop after this many differing keys (exit 1, summary says complete=false); 0 = no limit")
	fl.StringVar(&summary, "summary", "", "also write the summary as JSON to this path")
	fl.Int64Var(&cfg.BlockRows, "block-rows", 1<<20, "rows per initial range (one hash query per node); at most 65536 for keys other than a single integer")
	fl.Int64Var(&cfg.LeafRows, "leaf-rows", 32, "rows per hash bucket; differing buckets this small are compared row by row")
	fl.IntVar(&cfg.Concurrency, "concurrency", 4, "ranges in flight; each holds one connection per node")
	fl.IntVar(&cfg.MaxConnections, "max-connections", 5, "most connections to open to each node, coordinator included (lowers --concurrency to fit)")
	addTimeouts(fl, &cfg.Timeouts)
	addOutputFlags(fl)
	cmd.MarkFlagRequired("out")
	return cmd
}
