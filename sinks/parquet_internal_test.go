package sinks

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rowdiff/rowdiff/schema"
)

// A write error in the encoder goroutine must reach the caller (from Write or Commit), leave no file, and
// stop the goroutine. The file is closed under the sink, so every write to it fails.
func TestParquetEncoderErrorReachesCaller(t *testing.T) {
	for _, stop := range []string{"commit", "abort"} {
		t.Run(stop, func(t *testing.T) {
			before := runtime.NumGoroutine()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.parquet")
			tbl := &schema.Table{Schema: "public", Name: "t", Key: []int{0}, Columns: []schema.Column{
				{Name: "id", Type: "bigint", CastType: "int8", Base: "int8", NotNull: true},
				{Name: "v", Type: "text", CastType: "text", Base: "text"},
			}}
			s, err := NewParquet(path, tbl, []string{"a", "b"})
			if err != nil {
				t.Fatal(err)
			}
			s.file.File.Close()
			// Random text, so that compression cannot shrink the output below the writer's buffer.
			rng := rand.New(rand.NewPCG(1, 2))
			val := func() string {
				b := make([]byte, 100)
				for i := range b {
					b[i] = byte('a' + rng.IntN(26))
				}
				return string(b)
			}
			var werr error
			// Enough rows for many batches and row groups: the writer reaches the file many times over.
			for i := 0; i < 50_000 && werr == nil; i++ {
				id := strconv.Itoa(i)
				werr = s.Write(schema.Diff{Table: tbl, Key: schema.Key{id}, Kind: schema.Changed,
					Rows: []schema.Row{{{S: id}, {S: val()}}, {{S: id}, {S: val()}}}})
			}
			switch stop {
			case "commit":
				cerr := s.Commit(Meta{Complete: true})
				if werr == nil && cerr == nil {
					t.Fatal("writing to a closed file: Write and Commit both succeeded")
				}
				for _, err := range []error{werr, cerr} {
					if err != nil && !strings.Contains(err.Error(), "write output "+path) {
						t.Errorf("error %q does not name the output", err)
					}
				}
			case "abort":
				if werr == nil {
					t.Fatal("writing to a closed file: 50,000 Writes succeeded")
				}
				if err := s.Abort(); err != nil {
					t.Fatal(err)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("files left after the failed write: %v", ents)
			}
			// The encoder goroutine has returned: Commit and Abort wait for it.
			deadline := time.Now().Add(2 * time.Second)
			for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > before {
				t.Errorf("%d goroutines after %s, %d before", n, stop, before)
			}
		})
	}
}

// A column named like one the Parquet output adds is refused with a way out that works: --exclude-columns
// for a compared column, but not for a key column, which it refuses (a helper followed that advice).
func TestParquetOwnColumnNames(t *testing.T) {
	for _, c := range []struct {
		key       int
		want, not string
	}{
		{0, "--format jsonl", "--exclude-columns"},
		{1, `--exclude-columns "diff_node" or use --format jsonl`, "key column"},
	} {
		tbl := &schema.Table{Schema: "public", Name: "t", Key: []int{c.key}, Columns: []schema.Column{
			{Name: "diff_node", Type: "integer", CastType: "int4", Base: "int4", NotNull: true},
			{Name: "id", Type: "integer", CastType: "int4", Base: "int4", NotNull: true},
		}}
		_, err := NewParquet(filepath.Join(t.TempDir(), "x.parquet"), tbl, []string{"a", "b"})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.not) {
			t.Errorf("key column %d: error %v, want one saying %q and not %q", c.key, err, c.want, c.not)
		}
	}
}
