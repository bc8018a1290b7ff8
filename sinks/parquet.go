package sinks

import (
	"errors"

	"github.com/rowdiff/rowdiff/schema"
)

// Parquet is a placeholder until the Parquet sink lands.
type Parquet struct{ JSONLines }

// NewParquet is not implemented yet.
func NewParquet(path string, t *schema.Table, nodes []string) (*Parquet, error) {
	return nil, errors.New("parquet output is not implemented yet")
}
