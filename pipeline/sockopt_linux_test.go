package pipeline

import (
	"context"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDeadPeerSocketOptions checks what the node's dialer sets on every connection: a node that vanishes
// without closing its connections cannot be made here (that needs dropped packets), so the test reads the
// socket options that bound how long rowdiff waits for one.
func TestDeadPeerSocketOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	n := &node{Node: Node{Name: "a", DSN: "host=127.0.0.1 user=x dbname=x"}}
	if err := n.configure(Timeouts{Connect: 1e9}); err != nil {
		t.Fatal(err)
	}
	c, err := n.cfg.DialFunc(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	raw, err := c.(*nodeConn).Conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ opt, level, value int }{
		"SO_KEEPALIVE":     {unix.SO_KEEPALIVE, unix.SOL_SOCKET, 1},
		"TCP_KEEPIDLE":     {unix.TCP_KEEPIDLE, unix.IPPROTO_TCP, 15},
		"TCP_KEEPINTVL":    {unix.TCP_KEEPINTVL, unix.IPPROTO_TCP, 5},
		"TCP_KEEPCNT":      {unix.TCP_KEEPCNT, unix.IPPROTO_TCP, 4},
		"TCP_USER_TIMEOUT": {unix.TCP_USER_TIMEOUT, unix.IPPROTO_TCP, int(deadPeer.Milliseconds())},
	}
	for name, w := range want {
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), w.level, w.opt) }); err != nil || gerr != nil {
			t.Fatalf("%s: %v %v", name, err, gerr)
		}
		if got != w.value {
			t.Errorf("%s = %d, want %d", name, got, w.value)
		}
	}
}
