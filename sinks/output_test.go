package sinks_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// writeJSONLines writes diffs of nodes a and b to path as a JSON Lines output, and puts it in place.
func writeJSONLines(t *testing.T, path string, diffs ...schema.Diff) {
	t.Helper()
	s, err := sinks.NewJSONLines(path, []string{"a", "b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if err := s.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Commit(sinks.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// TestOutputThroughLinksAndPipes: an output path that is a symbolic link keeps the link and replaces the
// file it leads to; one that is a named pipe is written into, as a shell's > does. Both used to be
// replaced by a regular file renamed onto them: the link was gone, and the pipe's reader got nothing
// (and /dev/null, written by root, became a regular file for the whole machine).
func TestOutputThroughLinksAndPipes(t *testing.T) {
	dir := t.TempDir()
	tbl := &schema.Table{Schema: "public", Name: "t", Columns: []schema.Column{{Name: "id", Type: "integer", Base: "int4"}}, Key: []int{0}}
	d := schema.Diff{Table: tbl, Key: schema.Key{"7"}, Kind: schema.Missing, Rows: []schema.Row{{{S: "7"}}, nil}}
	write := func(path string) { writeJSONLines(t, path, d) }

	real := filepath.Join(dir, "real.jsonl")
	if err := os.WriteFile(real, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink("real.jsonl", link); err != nil {
		t.Fatal(err)
	}
	write(link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after writing through %s: %v, %v; want the symbolic link kept", link, fi.Mode(), err)
	}
	if got, _ := os.ReadFile(real); !strings.Contains(string(got), `"key":{"id":7}`) {
		t.Errorf("the link's file holds %q, want the difference", got)
	}

	// A loop of links fails, as a shell's > does: it was replaced by a file (found by an exploratory helper).
	loop := filepath.Join(dir, "loop.jsonl")
	if err := os.Symlink("loop.jsonl", loop); err != nil {
		t.Fatal(err)
	}
	if _, err := sinks.NewJSONLines(loop, []string{"a", "b"}); err == nil || !errors.Is(err, syscall.ELOOP) {
		t.Errorf("NewJSONLines(%s), a link to itself: %v, want ELOOP", loop, err)
	}
	if fi, err := os.Lstat(loop); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("after the refusal %s is %v, %v; want the link kept", loop, fi.Mode(), err)
	}

	fifo := filepath.Join(dir, "pipe.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	got := make(chan string)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- err.Error()
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- string(b)
	}()
	write(fifo)
	select {
	case s := <-got:
		if !strings.Contains(s, `"key":{"id":7}`) {
			t.Errorf("the pipe's reader got %q, want the difference", s)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the pipe's reader got nothing in 10 s")
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("after writing into %s: %v, %v; want the named pipe kept", fifo, fi.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestOutputMode: an output takes the mode of the file it replaces, and a new one the mode the umask
// gives: every output was 0644, and replaced a 0600 file of row data with one that others can read.
func TestOutputMode(t *testing.T) {
	dir := t.TempDir()
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	for _, c := range []struct {
		name     string
		existing os.FileMode // 0: no file before
		want     os.FileMode
	}{{"replaces a 0600 file", 0o600, 0o600}, {"replaces a 0640 file", 0o640, 0o640}, {"new", 0, 0o666 &^ os.FileMode(mask)}} {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".jsonl")
		if c.existing != 0 {
			if err := os.WriteFile(path, []byte("old\n"), c.existing); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.existing); err != nil {
				t.Fatal(err)
			}
		}
		writeJSONLines(t, path)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != c.want {
			t.Errorf("%s: mode %v (%v), want %v", c.name, fi.Mode().Perm(), err, c.want)
		}
	}
}

// TestOutputToPipeWithoutReader: a named pipe that no process reads is refused within a second: its open
// blocked until a reader came, the run holding its locks and deaf to signals meanwhile.
func TestOutputToPipeWithoutReader(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "pipe.jsonl")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := sinks.NewJSONLines(fifo, []string{"a", "b"})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no process reads") {
			t.Errorf("a named pipe without a reader: %v, want it refused, saying so", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("opening a named pipe without a reader still blocks after 5 s")
	}
}

// TestOutputThroughDanglingLink: a symbolic link to a file not there yet stays a link, and the output
// is the file it names (the link was replaced by the output).
func TestOutputThroughDanglingLink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link.jsonl")
	if err := os.Symlink("new.jsonl", link); err != nil {
		t.Fatal(err)
	}
	writeJSONLines(t, link)
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s after the run: %v (%v), want the link kept", link, fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.jsonl")); err != nil {
		t.Errorf("the file the link names: %v", err)
	}
}

// TestFormatForStreams: a path that is not a regular file, or lies under /dev or /proc, takes JSON Lines
// as "-" does. README's own examples, --out /dev/null, /dev/stdout and a shell's >(...), failed "cannot
// tell the format" without --format (found by an exploratory helper).
func TestFormatForStreams(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/null", "/dev/stdout", "/dev/fd/63", "/proc/self/fd/1", fifo} {
		if f, err := sinks.FormatFor(path, ""); err != nil || f != sinks.FormatJSONLines {
			t.Errorf("%s: %q, %v; want JSON Lines", path, f, err)
		}
	}
	if f, err := sinks.FormatFor(filepath.Join(dir, "plain"), ""); err == nil {
		t.Errorf("a regular path without an extension: %q, want an error asking for one", f)
	}
	if f, err := sinks.FormatFor("/dev/null", "parquet"); err != nil || f != sinks.FormatParquet {
		t.Errorf("/dev/null with --format parquet: %q, %v; want Parquet", f, err)
	}
}

// TestRepairScriptIntoDirectory: repair --out naming a directory (or ending in /) is refused before any
// row is read; it failed at the end, naming a temporary file: "rename ./.x.tmp-1 x: file exists" (found
// by an exploratory helper).
func TestRepairScriptIntoDirectory(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{dir, dir + "/", filepath.Join(dir, "new") + "/"} {
		s, err := sinks.NewRepairScript(path, "a", "b")
		if err == nil {
			s.Abort()
		}
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("%s: %v, want it refused as a directory", path, err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left in %s: %v", dir, left)
	}
}
