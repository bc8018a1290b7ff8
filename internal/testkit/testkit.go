// Package testkit is the setup the integration test packages share: the rowdiff binary under test and
// the throwaway clusters it runs against.
package testkit

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// Setup is what an integration test package needs before its tests run.
type Setup struct {
	// Name prefixes the temporary directory and the setup errors printed to stderr.
	Name string
	// Parallel is the default for -test.parallel (0 keeps go test's); an explicit -parallel wins. The
	// tests mostly wait on PostgreSQL and on child processes, so more of them than cores can run at once.
	Parallel int
	Clusters []pgcluster.Options
	// Ready, if set, runs on each cluster as soon as it is up, while the others still start.
	Ready func(ctx context.Context, i int, c *pgcluster.Cluster) error
	// Started, if set, runs once the binary is built and every cluster is up, before the tests.
	Started func(ctx context.Context, bin string, clusters []*pgcluster.Cluster) error
}

// Main sets s up, runs the package's tests and returns the exit status for os.Exit, after stopping the
// clusters and removing the temporary directory. A setup that fails is an exit status of 1 with the
// reason on stderr, never skipped tests.
func Main(m *testing.M, s Setup) int {
	flag.Parse()
	if s.Parallel > 0 {
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
		if !explicit {
			_ = flag.Set("test.parallel", strconv.Itoa(s.Parallel))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "rowdiff-"+s.Name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, s.Name+":", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, clusters, stop, err := start(ctx, dir, s.Clusters, s.Ready)
	defer stop()
	if err == nil && s.Started != nil {
		err = s.Started(ctx, bin, clusters)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, s.Name+": setup failed:", err)
		return 1
	}
	return m.Run()
}

// CaseInsensitive is the definition of the nondeterministic collation the tests declare columns with, by
// the name CaseInsensitiveName; the truth database has it too, so that its foreign tables compare alike.
const (
	CaseInsensitiveName = "rowdiff_ci"
	CaseInsensitive     = `CREATE COLLATION rowdiff_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`
)

// Composites are the composite types the tests declare columns with; the truth database has them too.
const Composites = `CREATE TYPE rowdiff_amt AS (v numeric, cur text); CREATE TYPE rowdiff_nest AS (a rowdiff_amt, n int8); CREATE TYPE rowdiff_nmr AS (a int, r nummultirange)`

// BaseType is a LATERAL subquery, for a FROM list, that names the type a domain is over, as alias(oid, typmod):
// it walks a domain over a domain down to the type under both, whose typmod is the innermost domain's. typ and
// typmod are SQL expressions of the outer query; for a type that is no domain, alias is typ itself. The truth
// database has no domains, so the truth reads a domain's column as that type.
func BaseType(typ, typmod, alias string) string {
	return fmt.Sprintf(`LEFT JOIN LATERAL (WITH RECURSIVE ch(oid, typmod, depth) AS (
    SELECT %s, %s, 0
    UNION ALL
    SELECT d.typbasetype, d.typtypmod, ch.depth + 1 FROM ch JOIN pg_catalog.pg_type d ON d.oid = ch.oid AND d.typtype = 'd')
  SELECT oid, typmod FROM ch ORDER BY depth DESC LIMIT 1) %s ON true`, typ, typmod, alias)
}

// CreateTruthDB creates database name on c with postgres_fdw, which the truth queries join the nodes'
// tables through, citext, CaseInsensitive and Composites.
func CreateTruthDB(ctx context.Context, c *pgcluster.Cluster, name string) error {
	if err := c.CreateDB(ctx, name, "CREATE EXTENSION postgres_fdw", "CREATE EXTENSION citext", CaseInsensitive, Composites); err != nil {
		return fmt.Errorf("the truth database needs postgres_fdw and citext (apt-get install -y postgresql-contrib, or a postgresql package that ships contrib) and ICU collations (a PostgreSQL built with ICU, as Debian's is): %w", err)
	}
	return nil
}

// launcher is the path of bench/launcher, built by Main before the tests run.
var launcher string

// Launcher returns the path of bench/launcher, for a test that reads a program's peak RSS: a program it
// starts directly reports at least the test process's own peak as its own (see bench/launcher).
func Launcher() string { return launcher }

// start builds bench/launcher and the rowdiff binary into dir (or takes $ROWDIFF_BIN, a prebuilt binary such
// as one of another revision) while it starts one cluster per option, all at once. ready, if set, runs on
// each cluster as soon as it is up. stop stops every cluster that started, whatever failed, and reports
// errors to stderr; the caller defers it even when err is set.
func start(ctx context.Context, dir string, opts []pgcluster.Options, ready func(ctx context.Context, i int, c *pgcluster.Cluster) error) (bin string, clusters []*pgcluster.Cluster, stop func(), err error) {
	clusters = make([]*pgcluster.Cluster, len(opts))
	stop = func() {
		for _, c := range clusters {
			if c != nil {
				if err := c.Stop(context.Background()); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
			}
		}
	}
	if _, err := pgcluster.BinDir(); err != nil {
		return "", clusters, stop, err
	}
	var wg sync.WaitGroup
	errs := make([]error, len(opts)+2) // the clusters', rowdiff's build, the launcher's
	wg.Go(func() {
		bin := filepath.Join(dir, "launcher")
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rowdiff/rowdiff/bench/launcher").CombinedOutput()
		if err != nil {
			errs[len(opts)+1] = fmt.Errorf("go build ./bench/launcher: %v\n%s", err, out)
		}
		launcher = bin
	})
	if bin = os.Getenv("ROWDIFF_BIN"); bin == "" {
		bin = filepath.Join(dir, "rowdiff")
		wg.Go(func() {
			out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/rowdiff/rowdiff/cmd/rowdiff").CombinedOutput()
			if err != nil {
				errs[len(opts)] = fmt.Errorf("go build ./cmd/rowdiff: %v\n%s", err, out)
			}
		})
	}
	for i, o := range opts {
		wg.Go(func() {
			c, err := pgcluster.Start(ctx, o)
			clusters[i] = c
			if err == nil && ready != nil {
				err = ready(ctx, i, c)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return bin, clusters, stop, errors.Join(errs...)
}

// KeyText is the SQL that selects key column ident (already quoted), of type localType (format_type's
// name), as the text rowdiff writes for it: its cast to text, except for char(n), whose cast drops the
// padding that PostgreSQL prints and rowdiff's key keeps.
func KeyText(ident, localType string) string {
	if strings.HasPrefix(localType, "character(") {
		return "format('%s', " + ident + ")"
	}
	return ident + "::text"
}

// KeyKinds runs a truth query whose columns are the nkeys key columns (as text) and then the kind of
// difference, and returns kind by key, the key's columns joined by "\x1f".
func KeyKinds(ctx context.Context, conn *pgx.Conn, query string, nkeys int) (map[string]string, error) {
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	want := map[string]string{}
	vals := make([]string, nkeys+1)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		want[strings.Join(vals[:nkeys], "\x1f")] = vals[nkeys]
	}
	return want, rows.Err()
}

// KindProblems compares the kind of difference rowdiff reported per key (got) with the truth (want) and
// returns "" when they agree, else a count and a sorted list of every disagreement (the first 30).
func KindProblems(got, want map[string]string) string {
	var problems []string
	for k, kind := range want {
		if g, ok := got[k]; !ok {
			problems = append(problems, fmt.Sprintf("not reported: key %q (%s)", k, kind))
		} else if g != kind {
			problems = append(problems, fmt.Sprintf("key %q: kind %s, want %s", k, g, kind))
		}
	}
	for k, kind := range got {
		if _, ok := want[k]; !ok {
			problems = append(problems, fmt.Sprintf("false difference: key %q (%s)", k, kind))
		}
	}
	if len(problems) == 0 {
		return ""
	}
	slices.Sort(problems)
	n := len(problems)
	if n > 30 {
		problems = append(problems[:30], fmt.Sprintf("... and %d more", n-30))
	}
	return fmt.Sprintf("(%d expected, %d reported, %d problems):\n  %s", len(want), len(got), n, strings.Join(problems, "\n  "))
}

// Blackhole returns the loopback port of a listener that accepts TCP connections and never sends a byte,
// like a server whose process hangs or a firewall that completes the handshake: only a timeout gets a
// client out. It is closed with the test.
func Blackhole(t testing.TB) int {
	t.Helper()
	l, h := listenHeld(t)
	go func() { // ends when the listener is closed
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.keep(c) // held open, never read or written
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// held keeps connections open until the test ends.
type held struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (h *held) keep(c net.Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns = append(h.conns, c)
}

// listenHeld listens on a loopback port; the listener and the connections kept are closed with the test.
func listenHeld(t testing.TB) (net.Listener, *held) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &held{}
	t.Cleanup(func() {
		l.Close()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.conns {
			c.Close()
		}
	})
	return l, h
}

// Freezable is a TCP proxy on loopback to a server, relaying both ways until Freeze: then it stops, and
// every connection through it, old or new, stays open with nothing coming back, as from a node whose host
// hangs. It is closed with the test.
type Freezable struct {
	Port   int
	frozen chan struct{}
	once   sync.Once
	// on, where set (FreezeOn), is what a client sends that freezes the proxy before it reaches the server.
	on atomic.Pointer[[][]byte]
}

// FreezeOn freezes the proxy when a client sends text holding every one of parts (a query), before the
// server sees it.
func (p *Freezable) FreezeOn(parts ...string) {
	var bs [][]byte
	for _, s := range parts {
		bs = append(bs, []byte(s))
	}
	p.on.Store(&bs)
}

// NewFreezable starts a proxy to addr (host:port).
func NewFreezable(t testing.TB, addr string) *Freezable {
	t.Helper()
	return newProxy(t, func(int) string { return addr })
}

// NewSwitching starts a proxy that relays its first connection to first and every later one to then, as
// an address that balances over several servers may send one client's sessions.
func NewSwitching(t testing.TB, first, then string) *Freezable {
	t.Helper()
	return newProxy(t, func(n int) string {
		if n == 0 {
			return first
		}
		return then
	})
}

// newProxy starts a proxy that relays its nth connection (from 0) to target(n).
func newProxy(t testing.TB, target func(n int) string) *Freezable {
	t.Helper()
	l, h := listenHeld(t)
	p := &Freezable{Port: l.Addr().(*net.TCPAddr).Port, frozen: make(chan struct{})}
	relay := func(dst, src net.Conn) { // ends when either connection is closed, or stays once frozen
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if on := p.on.Load(); on != nil && !slices.ContainsFunc(*on, func(b []byte) bool { return !bytes.Contains(buf[:n], b) }) {
				p.Freeze()
			}
			select {
			case <-p.frozen:
				return // what came in is dropped; the connections stay open
			default:
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() { // ends when the listener is closed
		for n := 0; ; n++ {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.keep(c)
			select {
			case <-p.frozen:
				continue
			default:
			}
			s, err := net.Dial("tcp", target(n))
			if err != nil {
				c.Close()
				continue
			}
			h.keep(s)
			go relay(s, c)
			go relay(c, s)
		}
	}()
	return p
}

// Freeze stops the relaying for good.
func (p *Freezable) Freeze() { p.once.Do(func() { close(p.frozen) }) }

// ClosedPort returns a loopback port nothing listens on (it was free a moment ago).
func ClosedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// SeqScans returns how many sequential scans of table the statistics of database dsn count, once the
// count has held still for half a second (up to 5 s): a backend reports its scans when it exits, a moment
// after its client has disconnected.
func SeqScans(ctx context.Context, dsn, table string) (int64, error) {
	read := func() (int64, error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0, err
		}
		defer conn.Close(context.Background())
		var n int64
		err = conn.QueryRow(ctx, "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = $1", table).Scan(&n)
		return n, err
	}
	last, err := read()
	for same, end := 0, time.Now().Add(5*time.Second); err == nil && same < 3 && time.Now().Before(end); {
		time.Sleep(150 * time.Millisecond)
		var n int64
		if n, err = read(); n == last {
			same++
		} else {
			last, same = n, 0
		}
	}
	return last, err
}
