package sinks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/rowdiff/rowdiff/schema"
)

// ParquetDir writes the differences of several tables into a directory, one Parquet file per table as
// Parquet writes it, named SCHEMA.TABLE.parquet (see ParquetFileName). A run diffs its tables one after
// the other, so one file is open at a time: a table's file is finished (its footer written, its
// rowdiff.finished the time, rowdiff.complete true) when a difference of another table arrives; the file
// of a table without differences is written at Commit, with the run's end as its rowdiff.finished. Commit finishes the last one with the run's metadata, writes a file without rows
// for each table that had no differences, and only then moves every file into place, and removes the
// files an earlier run left there for other tables (removeStale): after Abort, or an error, none is
// there, nor the directory if the sink made it. Only the open file's writer is kept: a
// finished file is kept as its temporary file alone, so memory does not grow with the tables (every
// finished writer was kept until Commit: 300 tables peaked at 93.9 MB, 30 at 25.9 MB, found by an
// exploratory helper). Not safe for concurrent use.
type ParquetDir struct {
	dir     string
	made    bool // the sink created dir
	tables  []*schema.Table
	nodes   []string
	started time.Time
	cur     *Parquet      // the open file, of table open
	open    int           // the table whose file is open, or -1
	done    []*atomicFile // per table, once its file is finished: to move into place, or remove
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
	s := &ParquetDir{dir: dir, tables: tables, nodes: nodes, started: started, done: make([]*atomicFile, len(tables)), open: -1}
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
		return s.cur.Write(d) // the common case: no search of the tables for every row
	}
	i := slices.Index(s.tables, d.Table)
	if i < 0 {
		return fmt.Errorf("parquet output: a difference of %s, a table the run did not list", d.Table)
	}
	// A table other than the open one's (that one returned above): the open file is finished.
	if err := s.finishOpen(s.meta(time.Now(), true)); err != nil {
		return err
	}
	if s.done[i] != nil {
		return fmt.Errorf("parquet output: differences of %s arrived after those of another table", d.Table)
	}
	f, err := NewParquet(filepath.Join(s.dir, ParquetFileName(d.Table)), d.Table, s.nodes)
	if err != nil {
		return err
	}
	s.cur, s.open = f, i
	return f.Write(d)
}

// finishOpen finishes the open file, if any, and lets its writer go.
func (s *ParquetDir) finishOpen(m Meta) error {
	if s.open < 0 {
		return nil
	}
	f, i := s.cur, s.open
	s.cur, s.open = nil, -1
	if err := f.finish(m); err != nil {
		return err // finish removed the file
	}
	s.done[i] = f.file
	return nil
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
	// Where --max-diffs stopped the run, the tables before the one it stopped in were compared whole: a
	// table without differences before it was marked incomplete (found by an exploratory helper).
	stopped := len(s.tables)
	if !m.Complete {
		stopped = 0
		if i := slices.Index(s.tables, m.Stopped); i >= 0 {
			stopped = i
		}
	}
	if err := s.finishOpen(s.meta(m.Finished, s.open < stopped)); err != nil {
		return err
	}
	for i, t := range s.tables {
		if s.done[i] != nil {
			continue
		}
		f, err := NewParquet(filepath.Join(s.dir, ParquetFileName(t)), t, s.nodes)
		if err != nil {
			return err
		}
		s.cur, s.open = f, i
		if err := s.finishOpen(s.meta(m.Finished, i < stopped)); err != nil {
			return err
		}
	}
	// A directory in the way of one file failed its move after the files before it were in place.
	for _, f := range s.done {
		if fi, err := os.Stat(f.target); err == nil && fi.IsDir() {
			return fmt.Errorf("write output %s: a directory is in its place", f.path)
		}
	}
	for _, f := range s.done {
		if err := f.place(); err != nil {
			return err
		}
	}
	return s.removeStale()
}

// removeStale removes the files an earlier run of rowdiff left in the directory for tables this run does
// not have, as --out FILE is replaced whole: they stayed, and a recheck --in DIR rechecked their tables
// too (found by an exploratory helper). Only the files a directory run writes go: regular .parquet files
// named as such a run names them (ParquetFileName), for the table their metadata names. A rowdiff file
// under another name (a single-table --out, a user's copy) or a link stays.
func (s *ParquetDir) removeStale() error {
	ours := map[string]bool{}
	for _, t := range s.tables {
		ours[ParquetFileName(t)] = true
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "*.parquet")) // the pattern is valid
	for _, path := range files {
		name := filepath.Base(path)
		if ours[name] {
			continue
		}
		tbl, ok := dirFileTable(name)
		if !ok {
			continue
		}
		// The metadata names it as Table.String does, or, written by an earlier version, unquoted.
		if meta := tableOfFile(path); meta != tbl.String() && meta != tbl.Schema+"."+tbl.Name {
			continue
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("remove an earlier run's file: %w", err)
		}
	}
	return nil
}

// dirFileTable is the table (its schema and name) that a file of a directory run is named for (see
// ParquetFileName), and whether name is such a file's name.
func dirFileTable(name string) (schema.Table, bool) {
	schemaPart, tablePart, ok := strings.Cut(strings.TrimSuffix(name, ".parquet"), ".")
	if !ok || strings.Contains(tablePart, ".") {
		return schema.Table{}, false
	}
	unesc := strings.NewReplacer("%2E", ".", "%2F", "/", "%25", "%")
	return schema.Table{Schema: unesc.Replace(schemaPart), Name: unesc.Replace(tablePart)}, true
}

// tableOfFile is the rowdiff.table of the regular Parquet file at path, or "" (not a regular file, not
// Parquet, not rowdiff's).
func tableOfFile(path string) string {
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return ""
	}
	table, _ := pf.Lookup(ParquetMetaTable)
	return table
}

// Abort removes every file not yet in place, and the directory if the sink made it and it is empty.
func (s *ParquetDir) Abort() error {
	if s.cur != nil {
		s.cur.Abort()
		s.cur, s.open = nil, -1
	}
	for _, f := range s.done {
		if f != nil {
			f.abort() // a file placed already is not at its temporary name: nothing to remove
		}
	}
	if s.made {
		os.Remove(s.dir) // only if empty: a file placed before a failed move stays
	}
	return nil
}
