package sinks_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// pqDirTables are three tables of the bench's shape in the order a run diffs them. The first two have
// names that meet when joined with a dot ("sa.les"."eu/orders" and "sa"."les.eu/orders"); the third is
// pqAllTypes.
func pqDirTables() []*schema.Table {
	small := func(schemaName, name string) *schema.Table {
		return &schema.Table{Schema: schemaName, Name: name, Key: []int{0}, Columns: []schema.Column{
			{Name: "id", Type: "bigint", Base: "int8", Category: "N", Precision: -1, Scale: -1},
			{Name: "v", Type: "text", Base: "text", Category: "S", Precision: -1, Scale: -1},
		}}
	}
	return []*schema.Table{small("sa.les", "eu/orders"), small("sa", "les.eu/orders"), pqAllTypes()}
}

func pqSmallDiff(t *schema.Table, id int) schema.Diff {
	k := schema.Value{S: strconv.Itoa(id)}
	return schema.Diff{Table: t, Key: schema.Key{k.S}, Kind: schema.Changed,
		Rows: []schema.Row{{k, {S: "a"}}, {k, {S: "b"}}}}
}

// TestParquetDir writes the differences of the second and third of three tables into a directory the
// sink creates, and reads every file back with Arrow: one per table, named apart, each with its own
// table's rows and metadata, the first table's without rows. The files appear only at Commit.
func TestParquetDir(t *testing.T) {
	tables := pqDirTables()
	dir := filepath.Join(t.TempDir(), "out")
	started := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	s, err := sinks.NewParquetDir(dir, tables, pqNodes, started)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if err := s.Write(pqSmallDiff(tables[1], i)); err != nil {
			t.Fatal(err)
		}
	}
	all := pqAllTypesDiffs(tables[2])
	for _, d := range all {
		if err := s.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if ents, _ := os.ReadDir(dir); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), ".parquet") }) {
		t.Errorf("before Commit the directory already holds a .parquet file: %v", ents)
	}
	finished := started.Add(time.Minute)
	if err := s.Commit(sinks.Meta{Nodes: pqNodes, Started: started, Finished: finished, Complete: true}); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{ // file -> rows (one per difference and node)
		"sa%2Eles.eu%2Forders.parquet": 0, "sa.les%2Eeu%2Forders.parquet": 2 * 3000, "public.all_types.parquet": 2 * len(all)}
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(want) {
		t.Errorf("the directory holds %v, want the files %v", ents, want)
	}
	for i, tbl := range tables {
		name := sinks.ParquetFileName(tbl)
		rows, ok := want[name]
		if !ok {
			t.Errorf("table %s has file name %q, want one of %v", tbl, name, want)
			continue
		}
		r := readParquet(t, filepath.Join(dir, name))
		if len(r.rows) != rows {
			t.Errorf("%s: %d rows, want %d", name, len(r.rows), rows)
		}
		kv := r.meta.MetaData().KeyValueMetadata()
		for k, v := range map[string]string{"rowdiff.table": tbl.String(), "rowdiff.complete": "true",
			"rowdiff.started": started.Format(time.RFC3339)} {
			if got := kv.FindValue(k); got == nil || *got != v {
				t.Errorf("%s: footer %s = %v, want %q", name, k, got, v)
			}
		}
		// The table diffed before another finishes when the next one's first difference arrives.
		if got := kv.FindValue("rowdiff.finished"); i != 1 && (got == nil || *got != finished.Format(time.RFC3339)) {
			t.Errorf("%s: footer rowdiff.finished = %v, want the run's %v", name, got, finished)
		}
		for _, row := range r.rows {
			if row["diff_table"] != tbl.String() {
				t.Fatalf("%s: a row of table %v", name, row["diff_table"])
			}
		}
	}
}

// TestParquetDirAbort leaves nothing: neither the files, finished or open, nor the directory it made.
// A directory that was there stays, with what it held.
func TestParquetDirAbort(t *testing.T) {
	tables := pqDirTables()
	for _, existed := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "out")
		if existed {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := sinks.NewParquetDir(dir, tables, pqNodes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []schema.Diff{pqSmallDiff(tables[0], 1), pqSmallDiff(tables[1], 1)} {
			if err := s.Write(d); err != nil {
				t.Fatal(err)
			}
		}
		// The first table's file is finished now; a difference of it again cannot be written.
		if err := s.Write(pqSmallDiff(tables[0], 2)); err == nil {
			t.Errorf("a difference of a finished table was taken")
		}
		if err := s.Abort(); err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir)
		switch {
		case !existed && !os.IsNotExist(err):
			t.Errorf("after Abort the directory the sink made is still there: %v %v", ents, err)
		case existed && (len(ents) != 1 || ents[0].Name() != "keep.txt"):
			t.Errorf("after Abort the directory holds %v, want only keep.txt", ents)
		}
	}
}

// TestParquetDirRefusesTwice refuses a table listed twice: both would have one file name.
func TestParquetDirRefusesTwice(t *testing.T) {
	tables := pqDirTables()
	dir := filepath.Join(t.TempDir(), "out")
	if _, err := sinks.NewParquetDir(dir, []*schema.Table{tables[0], tables[0]}, pqNodes, time.Now()); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("a table listed twice: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the refused sink made its directory")
	}
}

// TestParquetDirMemoryFlat: the sink kept every finished table's writer until Commit, so its memory grew
// with the number of tables (a --schema run of 300 tables into a directory peaked at 203 MiB, of 3 tables
// of the same rows at 34 MiB). Only the open file's writer may be held: after a Commit of 200 tables
// (half with a difference, half written empty at Commit) the heap still in use must be about that of
// 10 tables.
func TestParquetDirMemoryFlat(t *testing.T) {
	inUse := func(n int) uint64 {
		var tables []*schema.Table
		for i := range n {
			tb := pqDirTables()[0]
			tb.Name = fmt.Sprintf("t%d", i)
			tables = append(tables, tb)
		}
		s, err := sinks.NewParquetDir(filepath.Join(t.TempDir(), "out"), tables, pqNodes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i, tb := range tables {
			if i%2 == 0 {
				if err := s.Write(pqSmallDiff(tb, i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Commit(sinks.Meta{Nodes: pqNodes, Finished: time.Now(), Complete: true}); err != nil {
			t.Fatal(err)
		}
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		runtime.KeepAlive(s)
		return m.HeapAlloc
	}
	few, many := inUse(10), inUse(200)
	t.Logf("heap in use after Commit: %.1f MiB for 10 tables, %.1f MiB for 200", float64(few)/(1<<20), float64(many)/(1<<20))
	if many > few+8<<20 {
		t.Errorf("heap in use after Commit: %.1f MiB for 200 tables against %.1f MiB for 10: the sink holds every table's writer",
			float64(many)/(1<<20), float64(few)/(1<<20))
	}
}

// TestParquetDirReplacesEarlierRun: a directory that an earlier run wrote holds this run's files alone
// afterwards, as a file at --out is replaced whole: the earlier run's files of other tables stayed, and
// a recheck of the directory rechecked those tables too. Files a directory run did not write stay.
func TestParquetDirReplacesEarlierRun(t *testing.T) {
	tables := pqDirTables()
	dir := t.TempDir()
	run := func(tables []*schema.Table) {
		t.Helper()
		s, err := sinks.NewParquetDir(dir, tables, pqNodes, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Write(pqSmallDiff(tables[0], 1)); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(sinks.Meta{Nodes: pqNodes, Started: time.Now(), Finished: time.Now(), Complete: true}); err != nil {
			t.Fatal(err)
		}
	}
	run(tables[:2])
	if err := parquet.WriteFile(filepath.Join(dir, "mine.parquet"), []struct{ A int64 }{{1}}); err != nil {
		t.Fatal(err)
	}
	// A user's copy of an earlier file, and a link named as a table's file: rowdiff's, but not a
	// directory run's files (both were removed, found by an exploratory helper).
	first, err := os.ReadFile(filepath.Join(dir, sinks.ParquetFileName(tables[0])))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "copy.parquet"), first, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("copy.parquet", filepath.Join(dir, sinks.ParquetFileName(tables[2]))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(tables[1:2])
	var got []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		got = append(got, e.Name())
	}
	want := []string{"copy.parquet", "mine.parquet", "notes.txt", sinks.ParquetFileName(tables[1]), sinks.ParquetFileName(tables[2])}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the directory holds %q after the second run, want %q", got, want)
	}
}

// TestParquetDirAllOrNothing: a directory in the place of one table's file fails the run before any file
// moves: the files before it were already in place, replacing an earlier run's.
func TestParquetDirAllOrNothing(t *testing.T) {
	tables := pqDirTables()[:2]
	dir := t.TempDir()
	first := filepath.Join(dir, sinks.ParquetFileName(tables[0]))
	if err := os.WriteFile(first, []byte("OLD"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, sinks.ParquetFileName(tables[1]), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := sinks.NewParquetDir(dir, tables, pqNodes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(pqSmallDiff(tables[0], 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(sinks.Meta{Nodes: pqNodes, Started: time.Now(), Finished: time.Now(), Complete: true}); err == nil {
		t.Fatal("Commit with a directory in the place of a file: no error")
	}
	if got, _ := os.ReadFile(first); string(got) != "OLD" {
		t.Errorf("the first table's file was replaced by the failed run (%d bytes)", len(got))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestParquetDirStoppedEarly: where --max-diffs stopped the run in the second of three tables, the first,
// compared whole without a difference, is complete, and the second and third are not. Every file took
// the run's completeness: the first was marked incomplete (found by an exploratory helper).
func TestParquetDirStoppedEarly(t *testing.T) {
	tables := pqDirTables()
	dir := t.TempDir()
	s, err := sinks.NewParquetDir(dir, tables, pqNodes, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(pqSmallDiff(tables[1], 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(sinks.Meta{Nodes: pqNodes, Started: time.Now(), Finished: time.Now(), Complete: false, Stopped: tables[1]}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"true", "false", "false"} {
		name := sinks.ParquetFileName(tables[i])
		got := readParquet(t, filepath.Join(dir, name)).meta.MetaData().KeyValueMetadata().FindValue("rowdiff.complete")
		if got == nil || *got != want {
			t.Errorf("%s: rowdiff.complete = %v, want %s", name, got, want)
		}
	}
}
