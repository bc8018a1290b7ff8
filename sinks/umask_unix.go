//go:build unix

package sinks

import (
	"os"
	"syscall"
)

// umask is the process's file mode creation mask, read once as the process starts, before any file is
// written: reading it means setting it.
var umask = func() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}()
