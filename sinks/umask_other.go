//go:build !unix

package sinks

import "os"

// umask is the usual one where the system has none.
var umask os.FileMode = 0o022

// keepOwner does nothing where files have no Unix owner.
func keepOwner(string, os.FileInfo) {}
