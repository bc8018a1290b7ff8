package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func demoCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Run a diff on throwaway local clusters with planted differences",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("demo: not yet")
		},
	}
}
