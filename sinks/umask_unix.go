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

// keepOwner gives the file at path the owner and group of fi, where the process may.
func keepOwner(path string, fi os.FileInfo) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		os.Chown(path, int(st.Uid), int(st.Gid)) // refused unless root: the file stays the process's
	}
}
