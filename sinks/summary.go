package sinks

import (
	"errors"
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
		if o == "-" && path == "-" {
			return nil, errors.New("--summary - and --out - both write to stdout: give one of them a file")
		}
		if SamePath(path, o) {
			return nil, fmt.Errorf("--summary %s is also the run's --out or --in", path)
		}
	}
	if path == "-" {
		return &Summary{}, nil
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

// SamePath says whether a and b name the same file: the same existing regular file, or the same absolute
// path. "-" and "" name no file, and a device or a pipe (/dev/null) takes any number of outputs.
func SamePath(a, b string) bool {
	if a == "" || b == "" || a == "-" || b == "-" {
		return false
	}
	fa, erra := os.Stat(a)
	fb, errb := os.Stat(b)
	if erra == nil && errb == nil {
		return fa.Mode().IsRegular() && os.SameFile(fa, fb)
	}
	absA, erra := filepath.Abs(a)
	absB, errb := filepath.Abs(b)
	return erra == nil && errb == nil && absA == absB
}
