//go:build !linux

package pipeline

import (
	"syscall"
	"time"
)

// userTimeout leaves the socket as it is: TCP_USER_TIMEOUT is Linux's; keepalive still applies.
func userTimeout(time.Duration) func(network, address string, c syscall.RawConn) error { return nil }
