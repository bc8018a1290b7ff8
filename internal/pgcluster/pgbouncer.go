package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bouncer is a PgBouncer in transaction pooling mode in front of databases of clusters, as production
// deployments put it between clients and PostgreSQL: it refuses a connection that sends a startup
// parameter it does not track, and hands a server connection to the next client when a transaction ends.
type Bouncer struct {
	dir, log string
	port     int
	cmd      *exec.Cmd
	exited   chan struct{}
}

// Target is one database a Bouncer serves.
type Target struct {
	C  *Cluster
	DB string
}

// StartBouncer starts pgbouncer (from PATH or /usr/sbin) on a free loopback port, in transaction pooling
// mode with at most poolSize server connections per target, serving each target under its alias, and
// returns once it accepts connections. The caller must call Stop.
func StartBouncer(ctx context.Context, targets map[string]Target, poolSize int) (*Bouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/pgbouncer"); serr != nil {
			return nil, errors.New("pgbouncer not found on PATH or in /usr/sbin: install it (apt-get install -y pgbouncer)")
		}
		bin = "/usr/sbin/pgbouncer"
	}
	u, err := serverUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempParent(u), "rowdiff-pgbouncer-")
	if err != nil {
		return nil, err
	}
	port, err := reservePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	b := &Bouncer{dir: dir, log: filepath.Join(dir, "pgbouncer.log"), port: port, exited: make(chan struct{})}
	var conf strings.Builder
	conf.WriteString("[databases]\n")
	for alias, t := range targets {
		fmt.Fprintf(&conf, "%s = host=127.0.0.1 port=%d dbname=%s\n", alias, t.C.Port(), t.DB)
	}
	fmt.Fprintf(&conf, `[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 200
logfile = %s
`, port, filepath.Join(dir, "users.txt"), poolSize, b.log)
	files := map[string]string{"pgbouncer.ini": conf.String(), "users.txt": fmt.Sprintf("%q \"\"\n", Superuser)}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			b.remove()
			return nil, err
		}
	}
	if err := u.chownTree(dir); err != nil {
		b.remove()
		return nil, err
	}
	// Not tied to ctx: the bouncer outlives the start-up context, until Stop.
	b.cmd = u.command(context.Background(), dir, bin, filepath.Join(dir, "pgbouncer.ini"))
	if err := b.cmd.Start(); err != nil {
		b.remove()
		return nil, fmt.Errorf("start pgbouncer: %w", err)
	}
	go func() {
		b.cmd.Wait()
		close(b.exited)
	}()
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.exited:
			defer b.remove()
			return nil, fmt.Errorf("pgbouncer exited at start:\n%s", readFrom(b.log, 0))
		case <-ctx.Done():
			b.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DSN is a connection string to the target served under alias, through the bouncer.
func (b *Bouncer) DSN(alias string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", b.port, Superuser, alias)
}

// Stop ends the bouncer, waits for it to exit and removes its files.
func (b *Bouncer) Stop() {
	b.cmd.Process.Signal(syscall.SIGTERM) // immediate shutdown; SIGINT waits for clients
	select {
	case <-b.exited:
	case <-time.After(5 * time.Second):
		b.cmd.Process.Kill()
		<-b.exited
	}
	b.remove()
}

func (b *Bouncer) remove() {
	releasePort(b.port)
	os.RemoveAll(b.dir)
}
