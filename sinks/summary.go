package sinks

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Summary is --summary's file. It is started with the run, so that a path that cannot be written fails
// the run before anything is read: written at the end, such a path failed the run after its differences
// had already replaced --out. "-" is stdout.
type Summary struct {
	file *atomicFile // nil for stdout
}

// NewSummary starts the summary at path, which must not be the same file as any of others (the run's
// --out and --in): the summary took the place of the differences there.
// No path is no summary: a nil *Summary, whose methods do nothing.
func NewSummary(path string, others ...string) (*Summary, error) {
	if path == "" {
		return nil, nil
	}
	for _, o := range others {
		// A --out directory's files are the run's: a summary named like one took its place.
		if dirPath(o) {
			if r, dir := resolved(path), resolved(o); r == dir || filepath.Dir(r) == dir {
				return nil, fmt.Errorf("--summary %s is in the --out directory %s, whose files are the run's", path, o)
			}
		}
		if isStdout(o) && isStdout(path) {
			return nil, fmt.Errorf("--summary %s and --out %s both write to stdout: give one of them a file", path, o)
		}
		if SamePath(path, o) {
			return nil, fmt.Errorf("--summary %s is also the run's --out or --in", path)
		}
	}
	if path == "-" {
		return &Summary{}, nil
	}
	if dirPath(path) {
		// Found only as the summary took its place, after the run had replaced --out (found by an
		// exploratory helper), with "file exists" for its cause.
		return nil, fmt.Errorf("--summary %s is a directory: give the summary a file's path, such as %s", path, filepath.Join(path, "summary.json"))
	}
	f, err := createAtomic(path)
	if err != nil {
		return nil, fmt.Errorf("--summary: %w", err)
	}
	return &Summary{file: f}, nil
}

// Commit writes the summary with write and moves it into place.
func (s *Summary) Commit(write func(io.Writer) error) error {
	if s == nil {
		return nil
	}
	if s.file == nil {
		return write(os.Stdout)
	}
	if err := write(s.file); err != nil {
		s.file.abort()
		return fmt.Errorf("write summary %s: %w", s.file.path, err)
	}
	if err := s.file.commit(); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// Abort removes the temporary file.
func (s *Summary) Abort() {
	if s != nil && s.file != nil {
		s.file.abort()
	}
}

// SamePath says whether a and b name the same file: the process's stdout ("-" or a path to it), the same
// existing regular file, or the same path once the links of its directory are followed (a file not there
// yet, named through a linked directory, took the place of the differences). "" names no file, and a
// device or a pipe (/dev/null) takes any number of outputs.
func SamePath(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if isStdout(a) && isStdout(b) {
		return true
	}
	if a == "-" || b == "-" {
		return false
	}
	fa, erra := os.Stat(a)
	fb, errb := os.Stat(b)
	if erra == nil && errb == nil {
		return fa.Mode().IsRegular() && os.SameFile(fa, fb)
	}
	return resolved(a) == resolved(b)
}

// isStdout says whether path is "-" or names the file that is the process's stdout (/dev/stdout).
func isStdout(path string) bool {
	if path == "-" {
		return true
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	so, err := os.Stdout.Stat()
	return err == nil && os.SameFile(fi, so)
}

// resolved is path made absolute, with its symbolic links followed, also to a file not there yet.
func resolved(path string) string {
	abs, err := filepath.Abs(linkTarget(path))
	if err != nil {
		return path
	}
	dir, base := filepath.Split(abs)
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(real, base)
	}
	return abs
}
