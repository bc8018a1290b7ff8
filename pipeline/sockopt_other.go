//go:build !linux

package pipeline

import (
	"syscall"
	"time"
)

// userTimeout leaves the socket as it is: TCP_USER_TIMEOUT is Linux's; keepalive still applies.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }

// unsent cannot tell: a read waits for the stall bound from the end of its query's write.
func unsent(syscall.Conn) int { return 0 }

// peerClosed cannot tell: a node that goes away is noticed when its connection is next read.
func peerClosed(syscall.Conn) (bool, []byte) { return false, nil }
