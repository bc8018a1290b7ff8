// Package faults runs the rowdiff binary against real PostgreSQL clusters while things go wrong: nodes
// die or never answer, the process is interrupted, identifiers and filters are hostile, and other
// sessions write during the run. Every expectation is checked against what PostgreSQL itself reports
// (pg_stat_activity, pg_locks, row counts, snapshots), never against rowdiff's own account.
//
// The tests and their subtests run one after another, never in parallel: several count rowdiff's
// backends in pg_stat_activity, which would also see the sessions of a concurrent test, and every run's
// cleanup terminates the rowdiff sessions left on the shared clusters.
package faults

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

// Shared fixtures, set up once by TestMain.
var (
	// rowdiffBin is the binary under test, built once from ./cmd/rowdiff (or $ROWDIFF_BIN when set).
	rowdiffBin string
	// clA and clB hold bigDB. clA also lets role pwRole log in only with a SCRAM password.
	// TestNodeDiesMidRun crashes clB and restarts it (crash recovery) before the next test.
	clA, clB *pgcluster.Cluster
)

const (
	// bigDB holds bigTable on clA and clB: large enough that a diff runs for seconds, so a test can act
	// while rowdiff's queries are in flight.
	bigDB    = "big"
	bigTable = "public.big"
	// bigRows rows; on clB every row with id % 10 < 3 differs from clA's, so the compare phase streams
	// hundreds of thousands of rows.
	bigRows = 1_000_000

	// pwRole may log in to clA only with pwSecret (SCRAM), so a wrong password is refused.
	pwRole   = "pw"
	pwSecret = "sekrit-pass-123"
)

// bigSetup creates bigTable, and a view of it for a second table of the same rows; differ says whether
// 30% of the rows get another v than on clA. VACUUM is a
// statement of its own because it cannot run in the implicit transaction of a multi-statement string.
func bigSetup(differ bool) []string {
	v := "id"
	if differ {
		v = "id + (id % 10 < 3)::int"
	}
	// The primary key is added after loading (one index build instead of a million insertions), and pad is
	// cheap to compute: both keep the shared setup short.
	return []string{fmt.Sprintf(`
CREATE TABLE big (id int8 NOT NULL, v int8 NOT NULL, pad text NOT NULL);
INSERT INTO big SELECT id, %s, lpad(id::text, 32, '.') FROM generate_series(1, %d) id;
ALTER TABLE big ADD PRIMARY KEY (id);
CREATE VIEW big_again AS SELECT * FROM big;`, v, bigRows),
		"VACUUM ANALYZE big"}
}

func TestMain(m *testing.M) {
	// Per cluster: statements for bigDB, then statements for the postgres database.
	setups := [][2][]string{
		{bigSetup(false), {fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pwRole, pwSecret)}},
		{bigSetup(true), nil},
	}
	os.Exit(testkit.Main(m, testkit.Setup{
		Name: "faults",
		Clusters: []pgcluster.Options{
			// The HBA line comes before pgcluster's trust lines, so only pwRole needs a password.
			{Name: "a", HBA: []string{"host all " + pwRole + " 127.0.0.1/32 scram-sha-256"}},
			{Name: "b"},
		},
		Ready: func(ctx context.Context, i int, c *pgcluster.Cluster) error {
			if err := c.CreateDB(ctx, bigDB, setups[i][0]...); err != nil {
				return err
			}
			for _, s := range setups[i][1] {
				if err := c.Exec(ctx, "postgres", s); err != nil {
					return err
				}
			}
			return nil
		},
		Started: func(_ context.Context, bin string, clusters []*pgcluster.Cluster) error {
			rowdiffBin = bin
			clA, clB = clusters[0], clusters[1]
			return nil
		},
	}))
}

// setupContext bounds one setup or check statement; it is not the test's context, so checks also work
// in cleanups.
func setupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// connect opens a connection to db on c as the superuser; it is closed when the test ends.
func connect(t testing.TB, c *pgcluster.Cluster, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatalf("cluster %s db %s: %v", c.Name(), db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// execSQL runs sql (several statements allowed) in db on c.
func execSQL(t testing.TB, c *pgcluster.Cluster, db, sql string) {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	if err := c.Exec(ctx, db, sql); err != nil {
		t.Fatalf("%v\nSQL: %s", err, abbrev(sql, 2000))
	}
}

// queryInt runs a query returning one int8 in db on c.
func queryInt(t testing.TB, c *pgcluster.Cluster, db, sql string, args ...any) int64 {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatalf("cluster %s: %v", c.Name(), err)
	}
	defer conn.Close(context.Background())
	var v int64
	if err := conn.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		t.Fatalf("cluster %s db %s: %s: %v", c.Name(), db, sql, err)
	}
	return v
}

var dbSeq struct {
	sync.Mutex
	n int
}

// newDB creates a fresh database on every cluster in cs (one name for all) and runs setup in each.
func newDB(t testing.TB, prefix string, cs []*pgcluster.Cluster, setup ...string) string {
	t.Helper()
	dbSeq.Lock()
	dbSeq.n++
	name := fmt.Sprintf("%s_%d", prefix, dbSeq.n)
	dbSeq.Unlock()
	for _, c := range cs {
		execSQL(t, c, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		for _, s := range setup {
			execSQL(t, c, name, s)
		}
	}
	return name
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}

// shellArgs renders args for failure messages so a reader can rerun the command.
func shellArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// syncBuffer is a bytes.Buffer safe for a child's writer goroutine and the test reading it meanwhile.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// child is a running rowdiff process.
type child struct {
	args           []string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	start          time.Time
	done           chan struct{}
	// Set once done is closed.
	code    int
	elapsed time.Duration
	exited  time.Time
	waitErr error
}

// maxChildLife bounds every rowdiff process: one still running then is killed with SIGQUIT (the Go
// runtime then dumps its goroutines into stderr, showing where it hangs) and the test fails.
const maxChildLife = 90 * time.Second

// startRowdiff starts the binary with args in dir (a fresh temp dir when empty). The process is killed
// when the test ends, so a failing test cannot leak it.
func startRowdiff(t testing.TB, dir string, args ...string) *child {
	t.Helper()
	return startRowdiffTo(t, dir, nil, args...)
}

// startRowdiffTo is startRowdiff with the child's stdout going to stdout (child.stdout stays empty)
// instead of child.stdout, when not nil.
func startRowdiffTo(t testing.TB, dir string, stdout *os.File, args ...string) *child {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ch := &child{args: args, done: make(chan struct{})}
	ch.cmd = exec.Command(rowdiffBin, args...)
	ch.cmd.Dir = dir
	ch.cmd.Stdout, ch.cmd.Stderr = &ch.stdout, &ch.stderr
	if stdout != nil {
		ch.cmd.Stdout = stdout
	}
	ch.start = time.Now()
	if err := ch.cmd.Start(); err != nil {
		t.Fatalf("start rowdiff: %v", err)
	}
	timer := time.AfterFunc(maxChildLife, func() { _ = ch.cmd.Process.Signal(syscall.SIGQUIT) })
	go func() {
		err := ch.cmd.Wait()
		timer.Stop()
		ch.exited = time.Now()
		ch.elapsed = ch.exited.Sub(ch.start)
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee) && ee.Exited():
			ch.code = ee.ExitCode()
		case errors.As(err, &ee):
			ch.code = -1
			ch.waitErr = err
		default:
			ch.code = -1
			ch.waitErr = err
		}
		close(ch.done)
	}()
	t.Cleanup(func() {
		select {
		case <-ch.done:
		default:
			_ = ch.cmd.Process.Kill()
			<-ch.done
		}
		// A run whose queries were not cancelled (a failure this package reports) must not slow down or
		// confuse the next test.
		terminateRowdiffSessions()
	})
	return ch
}

// terminateRowdiffSessions ends every rowdiff session on the shared clusters; errors (a crashed cluster)
// are ignored, this is only cleanup.
func terminateRowdiffSessions() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		_ = c.Exec(ctx, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'rowdiff'")
	}
}

// wait waits at most d for the process to exit and fails the test if it does not.
func (ch *child) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-ch.done:
	case <-time.After(d):
		_ = ch.cmd.Process.Signal(syscall.SIGQUIT)
		<-ch.done
		t.Fatalf("rowdiff %s: still running %v after start (killed with SIGQUIT)\nstderr:\n%s",
			shellArgs(ch.args), time.Since(ch.start).Round(time.Millisecond), abbrev(ch.stderr.String(), 20000))
	}
	if ch.waitErr != nil {
		t.Fatalf("rowdiff %s: %v\nstderr:\n%s", shellArgs(ch.args), ch.waitErr, ch.stderr.String())
	}
}

// exitedWithin reports whether the process is done; it waits at most d.
func (ch *child) exitedWithin(d time.Duration) bool {
	select {
	case <-ch.done:
		return true
	case <-time.After(d):
		return false
	}
}

// runRowdiff runs the binary to completion in a fresh temp dir.
func runRowdiff(t testing.TB, args ...string) *child {
	t.Helper()
	ch := startRowdiff(t, "", args...)
	ch.wait(t, maxChildLife+10*time.Second)
	return ch
}

// nodeArg is one --node flag.
func nodeArg(name, dsn string) []string { return []string{"--node", name + "=" + dsn} }

// backend is one rowdiff backend as pg_stat_activity shows it.
type backend struct {
	PID   int32
	State string
	Query string
	Xmin  *string
	Xid   *string
	// Type is backend_type: "client backend" for a connection, "parallel worker" for a helper process
	// the server starts for one of its queries (which inherits its application_name).
	Type string
}

// rowdiffBackends lists the backends of the cluster whose application_name is "rowdiff" (every
// database), parallel workers included. The monitor connection itself has another application_name.
func rowdiffBackends(ctx context.Context, conn *pgx.Conn) ([]backend, error) {
	rows, _ := conn.Query(ctx, `
SELECT pid, coalesce(state, ''), coalesce(query, ''), backend_xmin::text, backend_xid::text, coalesce(backend_type, '')
FROM pg_catalog.pg_stat_activity
WHERE application_name = 'rowdiff' AND pid <> pg_backend_pid()`)
	var out []backend
	var b backend
	_, err := pgx.ForEachRow(rows, []any{&b.PID, &b.State, &b.Query, &b.Xmin, &b.Xid, &b.Type}, func() error {
		out = append(out, b)
		return nil
	})
	return out, err
}

// isRangeQuery says whether a backend runs one of rowdiff's data queries, which read the table itself,
// rather than the transaction setup (BEGIN, SET, snapshot export or import) or the catalog inspection:
// the run is then in full swing. rowdiff names tables as quoted identifiers (ONLY, but for a partitioned
// table); the catalog queries read only pg_catalog relations.
func isRangeQuery(b backend) bool {
	q := b.Query
	return b.State == "active" && (strings.Contains(q, ` FROM "`) || strings.Contains(q, ` FROM ONLY "`)) && !strings.Contains(q, "FROM pg_catalog.")
}

// monitor is a superuser connection to the postgres database of a cluster, for pg_stat_activity.
func monitor(t testing.TB, c *pgcluster.Cluster) *pgx.Conn {
	t.Helper()
	return connect(t, c, "postgres")
}

// isHashQuery says whether a backend runs one of rowdiff's bucket hash queries.
func isHashQuery(b backend) bool {
	return isRangeQuery(b) && strings.Contains(strings.ToLower(b.Query), "bit_xor")
}

// isCompareQuery says whether a backend streams rows for the compare phase (ordered by key; the hash
// queries aggregate with bit_xor): killing a node then cuts a stream in the middle.
func isCompareQuery(b backend) bool {
	return isRangeQuery(b) && strings.Contains(b.Query, "ORDER BY") && !strings.Contains(strings.ToLower(b.Query), "bit_xor")
}

// waitQueries waits until every monitored cluster shows a rowdiff query for which match is true, and
// fails the test if ch exits first or nothing shows within d.
func waitQueries(t testing.TB, ch *child, d time.Duration, mons map[string]*pgx.Conn, match func(backend) bool) {
	t.Helper()
	waitQueriesN(t, ch, d, mons, match, 1)
}

// waitQueriesN is waitQueries for at least n matching queries at once on every node, each on a
// connection of its own (parallel workers helping one query are not counted).
func waitQueriesN(t testing.TB, ch *child, d time.Duration, mons map[string]*pgx.Conn, match func(backend) bool, n int) {
	t.Helper()
	deadline := time.Now().Add(d)
	seen := map[string]bool{}
	for {
		for name, conn := range mons {
			if seen[name] {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			bs, err := rowdiffBackends(ctx, conn)
			cancel()
			if err != nil {
				t.Fatalf("pg_stat_activity on %s: %v", name, err)
			}
			count := 0
			for _, b := range bs {
				if b.Type == "client backend" && match(b) {
					count++
				}
			}
			seen[name] = count >= n
		}
		all := true
		for name := range mons {
			all = all && seen[name]
		}
		if all {
			return
		}
		select {
		case <-ch.done:
			t.Fatalf("rowdiff exited (status %d after %v) before %d of the awaited queries showed on every node (seen: %v); the table is too small to act mid-run\nstderr:\n%s",
				ch.code, ch.elapsed, n, seen, ch.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the awaited rowdiff queries did not show in pg_stat_activity within %v (seen: %v)\nstderr:\n%s", n, d, seen, ch.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitNoActive polls until no rowdiff session is 'active' on the cluster behind conn and fails the test
// if one still is after d. Sessions that are gone or idle are fine: what matters is that the server is
// not still working for a run that has ended.
func waitNoActive(t testing.TB, name string, conn *pgx.Conn, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		bs, err := rowdiffBackends(ctx, conn)
		cancel()
		if err != nil {
			t.Fatalf("pg_stat_activity on %s: %v", name, err)
		}
		var active []backend
		for _, b := range bs {
			if b.State == "active" {
				active = append(active, b)
			}
		}
		if len(active) == 0 {
			return
		}
		if time.Now().After(deadline) {
			var desc []string
			for _, b := range active {
				desc = append(desc, fmt.Sprintf("pid %d: %s", b.PID, abbrev(b.Query, 200)))
			}
			t.Fatalf("node %s: %d rowdiff queries still active %v after rowdiff ended (not cancelled):\n%s",
				name, len(active), d, strings.Join(desc, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNoSessions waits until no rowdiff session at all is left on the cluster (a previous test's
// backends may take a moment to exit), so a test counting sessions starts from zero.
func waitNoSessions(t testing.TB, name string, conn *pgx.Conn, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		bs, err := rowdiffBackends(ctx, conn)
		cancel()
		if err != nil {
			t.Fatalf("pg_stat_activity on %s: %v", name, err)
		}
		if len(bs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %d rowdiff sessions left over from an earlier run after %v", name, len(bs), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dirEntries lists the names in dir.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// checkNoOutput fails the test if dir holds anything: neither the --out file nor a temporary file may
// survive a failed or interrupted run.
func checkNoOutput(t testing.TB, dir string) {
	t.Helper()
	if names := dirEntries(t, dir); len(names) > 0 {
		t.Errorf("output directory holds %v after a failed run; want it empty (no --out file, no temp file)", names)
	}
}
