package pipeline

import (
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeout sets TCP_USER_TIMEOUT: a connection whose sent data goes unacknowledged this long (a node
// gone without closing it) fails, instead of after Linux's 15 retransmissions (about 15 minutes). Only
// on TCP: a Unix socket refuses the option, which failed every connection through one.
func userTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(network, _ string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		if err != nil {
			return err
		}
		return serr
	}
}

// unsent is how many bytes c has written that the peer has not yet acknowledged (SIOCOUTQ): a query still
// on its way over a slow link, for which the server has not started its statement.
func unsent(c syscall.Conn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
	return n
}

// peerClosed reports whether the node has closed c (POLLRDHUP: it will send nothing more, though bytes it
// sent before may wait unread), and returns those bytes, peeked (up to 16 MiB): a server that ends a
// session sends its reason last. Neither takes the read lock a pgx read in progress holds.
func peerClosed(c syscall.Conn) (bool, []byte) {
	raw, err := c.SyscallConn()
	if err != nil {
		return false, nil
	}
	closed := false
	var pending []byte
	_ = raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		if n, err := unix.Poll(fds, 0); err != nil || n == 0 || fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP|unix.POLLERR) == 0 {
			return
		}
		closed = true
		// All of it: a session that waited for another node had 70 kB of its own results unread before
		// the server's FATAL, which a peek of 4 KiB missed (found by a re-test helper).
		size, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
		if err != nil || size <= 0 {
			return
		}
		b := make([]byte, min(size, 16<<20))
		if n, _, err := unix.Recvfrom(int(fd), b, unix.MSG_PEEK|unix.MSG_DONTWAIT); err == nil {
			pending = b[:n]
		}
	})
	return closed, pending
}
