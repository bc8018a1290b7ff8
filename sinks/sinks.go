// Package sinks writes differences out: one file format per file. Every file sink writes to a temporary
// file beside its target and renames it into place only on Commit, so an error or an interrupt never
// leaves a partial file at the target path.
package sinks

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/rowdiff/rowdiff/schema"
)

// Version is rowdiff's version, recorded in file metadata.
const Version = "0.1.0"

// Meta describes the run a file came from.
type Meta struct {
	Table    string
	Nodes    []string
	Started  time.Time
	Finished time.Time
	// Complete is false when the run stopped early (--max-diffs): the file holds only some differences.
	Complete bool
	// Stopped is the table the run stopped in, where it stopped early: the tables before it were compared
	// whole.
	Stopped *schema.Table
}

// atomicFile is a temporary file that becomes path on commit, or, where path is not a regular file, path
// itself (direct).
type atomicFile struct {
	*os.File
	path   string // as the user gave it, for messages
	target string // the file the temporary one replaces: path, or the file its symbolic links lead to
	direct bool
	shared bool // the process's stdout or stderr, never closed
}

// interrupt makes a write to f that waits for a reader who does not read fail at once, and every later
// one. An interrupted run streaming to a pipe whose reader had stopped (a pager, a stalled ssh) waited
// for it, deaf to further signals, its sessions and their locks held on every node, until the reader
// went away (10 s after SIGINT in an exploratory helper's run). Only a pipe or named pipe opened
// non-blocking (stream, createAtomic) takes a deadline; other files are left as they are.
func interrupt(f *os.File) {
	if f != nil {
		_ = f.SetWriteDeadline(time.Now())
	}
}

// stream is f, the process's stdout or stderr (file descriptor fd), opened anew where it is a pipe or a
// named pipe: a file description of rowdiff's own, non-blocking, so that the runtime's poller waits for
// the reader and an interrupt can end the wait. Non-blocking mode on the shared description would reach
// every other process writing to the pipe, which the shell may start after rowdiff.
func stream(f *os.File, fd int) *os.File {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		return f
	}
	g, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return f
	}
	return g
}

// stdStream is the process's stdout or stderr (file descriptor fd) as an output written in place and never
// closed, through stream.
func stdStream(std *os.File, fd int, path string) *atomicFile {
	return &atomicFile{File: stream(std, fd), path: path, target: path, direct: true, shared: true}
}

// InPlace reports whether the output at path ("-" for stdout) is written where it is, not into a
// temporary file moved there at the end: what a failed or interrupted run wrote to it stays.
func InPlace(path string) bool {
	if path == "-" {
		return true
	}
	fi, err := os.Stat(path)
	return err == nil && inPlace(path, fi)
}

func inPlace(path string, fi os.FileInfo) bool {
	return !fi.IsDir() && (!fi.Mode().IsRegular() || specialPath(filepath.Clean(path)))
}

// createAtomic starts the output at path. A symbolic link stays, and the file it leads to is replaced. A
// path that is not a regular file (a device like /dev/null, a named pipe, a process substitution's
// /dev/fd/N) or that lies under /dev or /proc (/dev/stdout) is written in place, as a shell's > writes:
// renaming a file onto it replaced /dev/null itself for every program on the machine, and a reader
// waiting on a named pipe got nothing (both found by an exploratory helper). Such an output cannot be
// taken back: an error leaves what was written so far. Where it is the process's stdout or stderr, that
// file is written, so a shell's >> appends (opened anew, /dev/stdout was truncated); a named pipe without
// a reader is refused (its open blocked, holding the run's locks, deaf to signals).
func createAtomic(path string) (*atomicFile, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, syscall.ELOOP) {
		// A loop of links: renamed onto, the link at path was replaced by a file (found by an exploratory
		// helper), where a shell's > fails.
		return nil, fmt.Errorf("create output %s: %w", path, err)
	}
	if err == nil && inPlace(path, fi) {
		for fd, std := range []*os.File{os.Stdout, os.Stderr} {
			if sfi, err := std.Stat(); err == nil && os.SameFile(fi, sfi) {
				return stdStream(std, fd+1, path), nil
			}
		}
		flags := os.O_WRONLY | os.O_APPEND
		if fi.Mode()&os.ModeNamedPipe != 0 {
			flags |= syscall.O_NONBLOCK // the runtime's poller waits for the reader's room instead
		}
		f, err := os.OpenFile(path, flags, 0)
		for wait := 0; errors.Is(err, syscall.ENXIO) && wait < 50; wait++ {
			time.Sleep(20 * time.Millisecond) // a reader started with rowdiff may not have opened it yet
			f, err = os.OpenFile(path, flags, 0)
		}
		if errors.Is(err, syscall.ENXIO) {
			return nil, fmt.Errorf("%s is a named pipe that no process reads: start its reader first", path)
		}
		if err != nil {
			return nil, fmt.Errorf("create output %s: %w", path, err)
		}
		return &atomicFile{File: f, path: path, target: path, direct: true}, nil
	}
	target := linkTarget(path)
	dir, base := filepath.Split(target)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create output %s: %w", path, err)
	}
	return &atomicFile{File: f, path: path, target: target}, nil
}

// linkTarget is the file the symbolic links at path lead to, there or not yet (path itself if it is no
// link).
func linkTarget(path string) string {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		return real
	}
	if dest, ok := danglingLink(path); ok {
		return dest
	}
	return path
}

// danglingLink follows the symbolic links at path to the file they lead to that does not exist yet, so
// that the link stays: it was replaced by the output.
func danglingLink(path string) (string, bool) {
	for range 40 { // as the kernel's limit on links followed
		fi, err := os.Lstat(path)
		if err != nil {
			return path, true
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return "", false
		}
		dest, err := os.Readlink(path)
		if err != nil {
			return "", false
		}
		if !filepath.IsAbs(dest) {
			dest = filepath.Join(filepath.Dir(path), dest)
		}
		path = dest
	}
	return "", false
}

func (f *atomicFile) commit() error {
	if err := f.finish(); err != nil {
		return err
	}
	return f.place()
}

// finish syncs and closes the temporary file, which place then moves into place.
func (f *atomicFile) finish() error {
	if f.shared {
		return nil
	}
	if f.direct {
		if err := f.Close(); err != nil {
			return fmt.Errorf("write output %s: %w", f.path, err)
		}
		return nil
	}
	if err := f.Sync(); err != nil {
		f.abort()
		return fmt.Errorf("write output %s: %w", f.path, err)
	}
	if err := f.Close(); err != nil {
		f.abort()
		return fmt.Errorf("write output %s: %w", f.path, err)
	}
	// As a new file would get under the umask, or as the file it replaces had: every output was 0644,
	// which replaced a 0600 file of row data with one others can read (found by an exploratory helper).
	mode := 0o666 &^ umask
	if fi, err := os.Stat(f.target); err == nil && fi.Mode().IsRegular() {
		mode = fi.Mode().Perm()
		keepOwner(f.Name(), fi) // where rowdiff may (as root): root's file took the place of another's
	}
	if err := os.Chmod(f.Name(), mode); err != nil {
		f.abort()
		return fmt.Errorf("write output %s: %w", f.path, err)
	}
	return nil
}

func (f *atomicFile) place() error {
	if f.direct {
		return nil
	}
	if err := os.Rename(f.Name(), f.target); err != nil {
		f.abort()
		return fmt.Errorf("write output %s: %w", f.path, err)
	}
	return nil
}

func (f *atomicFile) abort() {
	if f.shared {
		return
	}
	f.Close()
	if !f.direct {
		os.Remove(f.Name())
	}
}

// Place puts the finished file from at path as every output is put in place (see createAtomic): through
// a symbolic link, into a device or a pipe, with the mode of the file it replaces. from is removed. A
// rename alone, as a recheck of several rounds placed its last round's file, replaced a named pipe and
// gave a 0600 file 0644 (found by an exploratory helper).
func Place(from, path string) error {
	src, err := os.Open(from)
	if err != nil {
		return fmt.Errorf("write output %s: %w", path, err)
	}
	defer os.Remove(from)
	defer src.Close()
	f, err := createAtomic(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, src); err != nil {
		f.abort()
		return fmt.Errorf("write output %s: %w", path, err)
	}
	return f.commit()
}

// Format names an output format.
type Format string

const (
	FormatJSONLines Format = "jsonl"
	FormatParquet   Format = "parquet"
	// FormatParquetDir is a directory of Parquet files, one per table (ParquetDir).
	FormatParquetDir Format = "parquet directory"
)

// dirPath reports whether path ends in / or names a directory: an output of Parquet files, one per table.
func dirPath(path string) bool {
	fi, err := os.Stat(path)
	return strings.HasSuffix(path, "/") || err == nil && fi.IsDir()
}

// specialPath reports whether the clean path lies under /dev or /proc, where an output is a stream
// written in place (see createAtomic), whatever the file there is.
func specialPath(clean string) bool {
	return strings.HasPrefix(clean, "/dev/") || strings.HasPrefix(clean, "/proc/")
}

// FormatFor picks the format from --format, or else from the path's extension ("-" is JSON Lines); a
// path that ends in / or names a directory takes Parquet files, and one that is not a regular file or
// lies under /dev or /proc (a device, a pipe) JSON Lines.
func FormatFor(path, format string) (Format, error) {
	fi, err := os.Stat(path)
	dir := dirPath(path)
	switch strings.ToLower(format) {
	case "jsonl", "json", "jsonlines":
		if dir {
			return "", fmt.Errorf("--out %s is a directory, which takes Parquet files (one per table); give JSON Lines a file", path)
		}
		return FormatJSONLines, nil
	case "parquet":
		if dir {
			return FormatParquetDir, nil
		}
		return FormatParquet, nil
	case "":
	default:
		return "", fmt.Errorf("unknown --format %q (jsonl or parquet)", format)
	}
	lower := strings.ToLower(path)
	switch {
	case dir:
		return FormatParquetDir, nil
	case path == "-" || strings.HasSuffix(lower, ".jsonl") || strings.HasSuffix(lower, ".json"):
		return FormatJSONLines, nil
	case strings.HasSuffix(lower, ".parquet"):
		return FormatParquet, nil
	case err == nil && !fi.Mode().IsRegular(), specialPath(filepath.Clean(path)):
		// A stream, as "-" is: /dev/null, /dev/stdout, a named pipe, a shell's >(...). They failed
		// without --format, which README's own examples did not pass (found by an exploratory helper).
		return FormatJSONLines, nil
	}
	return "", fmt.Errorf("--out %s: cannot tell the format; end it in .jsonl, .parquet or / (a directory of Parquet files), or pass --format", path)
}

// stringBytes views s as bytes without copying, for readers that never write through them: parquet-go
// copies values into its column buffers (WriteRowValues), and json.Valid only reads.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// validUTF8 is s with each byte that is not part of valid UTF-8 replaced by U+FFFD, for the outputs,
// whose text is UTF-8: a SQL_ASCII node's text may be any bytes.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// NamesApart fails when two columns of t would be written under one name: a SQL_ASCII node's names may be
// any bytes, written with U+FFFD for each that is not UTF-8 (validUTF8). In JSON Lines a reader keeps one
// of the two keys, and a changed record showed no difference (found by an exploratory helper).
func NamesApart(t *schema.Table) error {
	written := map[string]string{}
	for _, c := range t.Columns {
		name := validUTF8(c.Name)
		if other, ok := written[name]; ok {
			return fmt.Errorf("columns %q and %q of %s are both written %q (a SQL_ASCII database's names that are not UTF-8): "+
				"leave one out with --exclude-columns", other, c.Name, t, name)
		}
		written[name] = c.Name
	}
	return nil
}
