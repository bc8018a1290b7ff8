// Package workflow runs the operator workflow of the README — diff, recheck, repair, apply the script with
// psql, diff again — with the rowdiff binary against two real PostgreSQL clusters. Every expectation is
// computed by PostgreSQL itself (postgres_fdw FULL JOINs in a separate database, counts, the data the test
// planted), never by rowdiff.
package workflow

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/launch"
	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

var (
	// rowdiffBin is the binary under test, built once from ./cmd/rowdiff (or $ROWDIFF_BIN when set).
	rowdiffBin string
	// clA runs with C.UTF-8 and TimeZone UTC; it also holds truthDB.
	clA *pgcluster.Cluster
	// clB runs with session defaults unlike rowdiff's pinned ones (TimeZone, DateStyle, IntervalStyle,
	// extra_float_digits, bytea_output), so both rowdiff and a repair script applied with a plain psql
	// session there must not depend on them.
	clB *pgcluster.Cluster
)

// truthDB is the database on clA that holds postgres_fdw and the foreign tables of every node. It is never
// diffed, so the extension cannot change what rowdiff sees.
const truthDB = "truth"

// runTimeout bounds one rowdiff or psql process; a hang is a failure, not a stuck suite.
const runTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testkit.Main(m, testkit.Setup{
		Name:     "workflow",
		Parallel: 6,
		Clusters: []pgcluster.Options{
			{Name: "wf-a", Locale: "C.UTF-8", TimeZone: "UTC"},
			{Name: "wf-b", TimeZone: "America/New_York", Settings: map[string]string{
				"datestyle": "SQL, DMY", "intervalstyle": "sql_standard", "extra_float_digits": "0", "bytea_output": "escape",
			}},
		},
		Started: func(ctx context.Context, bin string, clusters []*pgcluster.Cluster) error {
			rowdiffBin = bin
			clA, clB = clusters[0], clusters[1]
			return testkit.CreateTruthDB(ctx, clA, truthDB)
		},
	}))
}

var seq atomic.Int64

// uniq returns a process-unique number for database and server names.
func uniq() int64 { return seq.Add(1) }

// Node is one copy of the tables under test: a database on a cluster, named as rowdiff will name it.
type Node struct {
	Name string
	C    *pgcluster.Cluster
	DB   string
	// User, when set, is the role rowdiff and psql log in as instead of the superuser.
	User string
}

// DSN is what rowdiff and psql get for this node.
func (n Node) DSN() string {
	if n.User != "" {
		return n.C.DSN(n.DB) + " user=" + n.User
	}
	return n.C.DSN(n.DB)
}

// Arg is the --node flag value for this node.
func (n Node) Arg() string { return n.Name + "=" + n.DSN() }

// Exec runs sql (several statements allowed) in the node's database and fails the test on error.
func (n Node) Exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	if err := n.C.Exec(ctx, n.DB, sql); err != nil {
		t.Fatalf("node %s: %v\nSQL: %s", n.Name, err, abbrev(sql, 2000))
	}
}

// QueryStrings runs a query whose columns are all text and returns its rows.
func (n Node) QueryStrings(t testing.TB, sql string, args ...any) [][]string {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN())
	if err != nil {
		t.Fatalf("node %s: %v", n.Name, err)
	}
	defer conn.Close(context.Background())
	// Built-in names first, as a node's search_path may shadow them (TestRepairShadowedNames).
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.set_config('search_path', 'pg_catalog, ' || pg_catalog.current_setting('search_path'), false)`); err != nil {
		t.Fatalf("node %s: %v", n.Name, err)
	}
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("node %s: %s: %v", n.Name, sql, err)
	}
	var out [][]string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("node %s: %s: %v", n.Name, sql, err)
		}
		row := make([]string, len(vals))
		for i, v := range vals {
			row[i] = fmt.Sprint(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("node %s: %s: %v", n.Name, sql, err)
	}
	return out
}

// QueryInt runs a query returning one integer.
func (n Node) QueryInt(t testing.TB, sql string) int64 {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	conn, err := pgx.Connect(ctx, n.DSN())
	if err != nil {
		t.Fatalf("node %s: %v", n.Name, err)
	}
	defer conn.Close(context.Background())
	var v int64
	if err := conn.QueryRow(ctx, sql).Scan(&v); err != nil {
		t.Fatalf("node %s: %s: %v", n.Name, sql, err)
	}
	return v
}

// setupContext bounds one setup or check statement.
func setupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// newNode creates a fresh database on c and runs setup in it.
func newNode(t testing.TB, name string, c *pgcluster.Cluster, setup ...string) Node {
	t.Helper()
	db := fmt.Sprintf("w%d_%s", uniq(), name)
	ctx, cancel := setupContext()
	defer cancel()
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+ident(db)); err != nil {
		t.Fatalf("create database for node %s on cluster %s: %v", name, c.Name(), err)
	}
	n := Node{Name: name, C: c, DB: db}
	for _, s := range setup {
		if s != "" {
			n.Exec(t, s)
		}
	}
	return n
}

// pair creates node "a" on clA and "b" on clB, runs common on both and then each node's own statements.
func pair(t testing.TB, common, onlyA, onlyB string) (Node, Node) {
	t.Helper()
	return newNode(t, "a", clA, common, onlyA), newNode(t, "b", clB, common, onlyB)
}

// Proc is a finished child process.
type Proc struct {
	Args           []string
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
	PeakRSS        int64 // bytes, the kernel's accounting of the process (ru_maxrss), read by the launcher
}

// String renders the command for failure messages so a reader can rerun it.
func (p Proc) String() string { return shellArgs(p.Args) }

// run runs a program and waits for it (at most runTimeout). The working directory is a fresh temporary
// one, so a relative path cannot land in the source tree. The program starts from testkit.Launcher, which
// reports its own peak RSS.
func run(t testing.TB, name string, args ...string) Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	dir := t.TempDir()
	report := filepath.Join(dir, "launcher.json")
	cmd := exec.CommandContext(ctx, testkit.Launcher(), append([]string{report, name}, args...)...)
	cmd.Dir = dir
	// A hung process gets SIGQUIT (passed on by the launcher) so a Go program dumps its goroutines into stderr.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	p := Proc{Args: append([]string{filepath.Base(name)}, args...), Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after %v (killed with SIGQUIT)\nstderr:\n%s", p, runTimeout, p.Stderr)
	}
	if err != nil {
		t.Fatalf("%s: launcher: %v\nstderr:\n%s", p, err, p.Stderr)
	}
	rep, err := launch.Read(report)
	if err == nil && rep.Err != "" {
		err = errors.New(rep.Err)
	}
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", p, err, p.Stderr)
	}
	p.Code, p.Elapsed, p.PeakRSS = rep.Exit, time.Duration(rep.WallNS), rep.MaxRSSKiB<<10
	return p
}

// rowdiff runs the binary under test.
func rowdiff(t testing.TB, args ...string) Proc {
	t.Helper()
	return run(t, rowdiffBin, args...)
}

// wantCode fails the test unless p exited with code.
func wantCode(t testing.TB, p Proc, code int) {
	t.Helper()
	if p.Code != code {
		t.Fatalf("%s\nexit %d, want %d\nstderr:\n%s", p, p.Code, code, abbrev(p.Stderr, 4000))
	}
}

// nodeArgs returns --node NAME=DSN for each node.
func nodeArgs(nodes ...Node) []string {
	var args []string
	for _, n := range nodes {
		args = append(args, "--node", n.Arg())
	}
	return args
}

// psqlPath finds psql; the repair workflow is only complete once its script has run where operators run it.
func psqlPath(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/bin/psql"); err == nil {
		return "/usr/bin/psql"
	}
	t.Fatal("psql not found on PATH nor at /usr/bin/psql: install the PostgreSQL client (apt-get install -y postgresql-client)")
	return ""
}

// applyScript runs a repair script on node n exactly as the README tells operators to.
func applyScript(t testing.TB, script string, n Node) Proc {
	t.Helper()
	p := run(t, psqlPath(t), "-v", "ON_ERROR_STOP=1", "-f", script, n.DSN())
	if p.Code != 0 {
		body, _ := os.ReadFile(script)
		t.Fatalf("%s\nexit %d, want 0\nstderr:\n%s\nscript:\n%s", p, p.Code, p.Stderr, abbrev(string(body), 6000))
	}
	return p
}

// shellArgs renders args so they can be pasted into a shell.
func shellArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
