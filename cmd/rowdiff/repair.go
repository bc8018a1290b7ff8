package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/sinks"
)

func repairCommand() *cobra.Command {
	var (
		cfg   pipeline.RepairConfig
		nodes nodeFlags
		cols  columnFlags
		out   string
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "repair --in DIFFS.jsonl --source NAME --target NAME --node NAME=DSN ... --out repair.sql",
		Short: "Write a SQL script that makes the target's rows equal the source's for the keys of a diff",
		Long: `Write a SQL script that makes the target's rows equal the source's for exactly the keys listed in
an earlier diff. The source's current rows are re-read; rowdiff never runs the script: review it, then
run it with psql -v ON_ERROR_STOP=1 -f repair.sql on the target.`,
		Example: `  rowdiff repair --in diffs.jsonl --source a --target b \
    --node a='host=db1 dbname=shop' --node b='host=db2 dbname=shop' --out repair.sql
  psql -v ON_ERROR_STOP=1 -f repair.sql 'host=db2 dbname=shop'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Nodes, err = nodes.parse(); err != nil {
				return err
			}
			if err := cols.parse(&cfg.Selection); err != nil {
				return err
			}
			if sinks.SamePath(cfg.In, out) {
				return fmt.Errorf("--out %s is the --in file: the script would take the place of the differences", out)
			}
			script, err := sinks.NewRepairScript(out, cfg.Source, cfg.Target)
			if err != nil {
				return err
			}
			sum, err := pipeline.Repair(cmd.Context(), cfg, script)
			if err != nil {
				return err
			}
			fmt.Fprintf(os.Stderr, "rowdiff: wrote %s: %s (%s, %s) to run on %s\n", out, pipeline.Count(sum.Keys, "key"),
				pipeline.Count(sum.Upserts, "upsert"), pipeline.Count(sum.Deletes, "delete"), cfg.Target)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.In, "in", "", "output of an earlier diff or recheck: JSON Lines, Parquet, or a directory of Parquet files")
	fl.StringVar(&cfg.Source, "source", "", "node whose rows are right")
	fl.StringVar(&cfg.Target, "target", "", "node to repair")
	nodes.add(fl)
	cols.addForRepair(fl)
	// Accepted so that diff's, recheck's and repair's flags can be the same; repair shows no progress.
	fl.BoolVar(&quiet, "quiet", false, "no live progress display (repair has none)")
	fl.StringVar(&out, "out", "", "path of the SQL script to write")
	addTimeouts(fl, &cfg.Timeouts)
	for _, f := range []string{"in", "source", "target", "out"} {
		cmd.MarkFlagRequired(f)
	}
	return cmd
}
