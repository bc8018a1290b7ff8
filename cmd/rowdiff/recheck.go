package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/sinks"
)

func recheckCommand() *cobra.Command {
	var (
		cfg             pipeline.RecheckConfig
		nodes           nodeFlags
		cols            columnFlags
		format, summary string
	)
	cmd := &cobra.Command{
		Use:   "recheck --in DIFFS.jsonl --node NAME=DSN --node NAME=DSN [...] --out PATH",
		Short: "Re-read only the keys of an earlier diff and keep those that still differ",
		Example: `  rowdiff recheck --in diffs.jsonl --node a=... --node b=... --out still.jsonl
  rowdiff recheck --in diffs.jsonl --node a=... --node b=... --out still.jsonl --wait 30s --rounds 5`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if cfg.Nodes, err = nodes.parse(); err != nil {
				return err
			}
			if err := cols.parse(&cfg.Selection); err != nil {
				return err
			}
			if err := notEmpty(cmd.Flags(), "where", cfg.Where); err != nil {
				return err
			}
			open, err := opener(cfg.Out, format)
			if err != nil {
				return err
			}
			sumFile, err := sinks.NewSummary(summary, cfg.Out, cfg.In)
			if err != nil {
				return err
			}
			sum, err := pipeline.Recheck(cmd.Context(), cfg, open)
			return finish(sum, err, sumFile, 0)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.In, "in", "", "output of an earlier diff or recheck: JSON Lines, Parquet, or a directory of Parquet files")
	nodes.add(fl)
	fl.StringVar(&cfg.Out, "out", "", "output path, as for diff")
	fl.StringVar(&format, "format", "", "output format, jsonl or parquet (default: from --out)")
	fl.StringVar(&cfg.Where, "where", "", "SQL filter, as given to the diff")
	fl.BoolVar(&cfg.Exact, "exact", false, "representation equality, as given to the diff")
	cols.add(fl)
	fl.IntVar(&cfg.Rounds, "rounds", 1, "recheck up to this many times, until nothing differs or the set stops shrinking")
	fl.DurationVar(&cfg.Wait, "wait", 30*time.Second, "pause between rounds (replication lag heals meanwhile)")
	fl.StringVar(&summary, "summary", "", "also write the last round's summary as JSON to this path")
	addTimeouts(fl, &cfg.Timeouts)
	addOutputFlags(fl)
	cmd.MarkFlagRequired("in")
	cmd.MarkFlagRequired("out")
	return cmd
}
