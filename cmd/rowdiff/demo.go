package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/rowdiff/rowdiff/internal/demo"
)

func demoCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:     "demo",
		Short:   "Run a diff on three throwaway local clusters with planted differences",
		Example: "  go run ./cmd/rowdiff demo",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), dir, os.Stdout)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "folder in which to create the output folder")
	return cmd
}
