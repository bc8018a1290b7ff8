package sinks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rowdiff/rowdiff/schema"
)

// ParquetDir writes the differences of several tables into a directory, one Parquet file per table as
// Parquet writes it, named SCHEMA.TABLE.parquet (see ParquetFileName). A run diffs its tables one after
// the other, so one file is open at a time: a table's file is finished (its footer written, its
// rowdiff.finished the time its last difference arrived, rowdiff.complete true) when a difference of
// another table arrives. Commit finishes the last one with the run's metadata, writes a file without rows
// for each table that had no differences, and only then moves every file into place: after Abort, or an
// error, none is there, nor the directory if the sink made it. Not safe for concurrent use.
type ParquetDir struct {
	dir     string
	made    bool // the sink created dir
	tables  []*schema.Table
	nodes   []string
	started time.Time
	files   []*Parquet // per table, once it has one: finished but the open one
	open    int        // the table whose file is open, or -1
}

// NewParquetDir writes into dir, creating it (not its parents) if it does not exist, a file for each of
// tables. started is the run's start, for every file's rowdiff.started. It fails when a table has a
// column named like one of the sink's own (see NewParquet).
func NewParquetDir(dir string, tables []*schema.Table, nodes []string, started time.Time) (*ParquetDir, error) {
	names := map[string]bool{}
	for _, t := range tables {
		if err := parquetColumnsFit(t); err != nil {
			return nil, err
		}
		name := ParquetFileName(t)
		if names[name] {
			return nil, fmt.Errorf("table %s is listed twice, and a directory of Parquet files holds one file per table", t)
		}
		names[name] = true
	}
	s := &ParquetDir{dir: dir, tables: tables, nodes: nodes, started: started, files: make([]*Parquet, len(tables)), open: -1}
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, os.ErrNotExist):
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create output directory %s: %w", dir, err)
		}
		s.made = true
	case err != nil:
		return nil, fmt.Errorf("output directory %s: %w", dir, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("output %s is not a directory", dir)
	}
	return s, nil
}

// ParquetFileName is the name of table t's file in a directory of Parquet files: its schema and table
// names joined by a dot, each with '%', '.' and '/' percent-encoded (so "a.b"."c" and "a"."b.c" have
// files of their own, and no name is a path), then ".parquet".
func ParquetFileName(t *schema.Table) string {
	esc := strings.NewReplacer("%", "%25", ".", "%2E", "/", "%2F")
	return esc.Replace(t.Schema) + "." + esc.Replace(t.Name) + ".parquet"
}

// Write appends d to its table's file, finishing the file of the table before it.
func (s *ParquetDir) Write(d schema.Diff) error {
	if s.open >= 0 && s.tables[s.open] == d.Table {
		return s.files[s.open].Write(d) // the common case: no search of the tables for every row
	}
	i := slices.Index(s.tables, d.Table)
	if i < 0 {
		return fmt.Errorf("parquet output: a difference of %s, a table the run did not list", d.Table)
	}
	// A table other than the open one's (that one returned above): the open file is finished.
	if s.open >= 0 {
		if err := s.files[s.open].finish(s.meta(time.Now(), true)); err != nil {
			return err
		}
		s.open = -1
	}
	if s.files[i] != nil {
		return fmt.Errorf("parquet output: differences of %s arrived after those of another table", d.Table)
	}
	f, err := NewParquet(filepath.Join(s.dir, ParquetFileName(d.Table)), d.Table, s.nodes)
	if err != nil {
		return err
	}
	s.files[i], s.open = f, i
	return f.Write(d)
}

func (s *ParquetDir) meta(finished time.Time, complete bool) Meta {
	return Meta{Nodes: s.nodes, Started: s.started, Finished: finished, Complete: complete}
}

// Commit finishes every table's file and moves them all into place.
func (s *ParquetDir) Commit(m Meta) error {
	err := s.commit(m)
	if err != nil {
		s.Abort()
	}
	return err
}

func (s *ParquetDir) commit(m Meta) error {
	if s.open >= 0 {
		if err := s.files[s.open].finish(s.meta(m.Finished, m.Complete)); err != nil {
			return err
		}
		s.open = -1
	}
	for i, t := range s.tables {
		if s.files[i] != nil {
			continue
		}
		f, err := NewParquet(filepath.Join(s.dir, ParquetFileName(t)), t, s.nodes)
		if err != nil {
			return err
		}
		s.files[i] = f
		if err := f.finish(s.meta(m.Finished, m.Complete)); err != nil {
			return err
		}
	}
	for _, f := range s.files {
		if err := f.file.place(); err != nil {
			return err
		}
	}
	return nil
}

// Abort removes every file not yet in place, and the directory if the sink made it and it is empty.
func (s *ParquetDir) Abort() error {
	for _, f := range s.files {
		if f != nil {
			f.Abort()
		}
	}
	if s.made {
		os.Remove(s.dir) // only if empty: a file placed before a failed move stays
	}
	return nil
}
