package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// These tests drive the concurrent core (queue, workers, sink writer, cancellation) on real clusters,
// under -race in CI, and check that no goroutine outlives a run.

var clusters [2]*pgcluster.Cluster

func TestMain(m *testing.M) {
	ctx := context.Background()
	if _, err := pgcluster.BinDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i, name := range []string{"pa", "pb"} {
		c, err := pgcluster.Start(ctx, pgcluster.Options{Name: name})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		clusters[i] = c
	}
	code := m.Run()
	for _, c := range clusters {
		c.Stop(ctx)
	}
	os.Exit(code)
}

var dbSeq struct {
	sync.Mutex
	n int
}

// load creates a fresh database on both clusters with n rows and runs plant on the second.
func load(t *testing.T, n int, plant ...string) []pipeline.Node {
	t.Helper()
	ctx := t.Context()
	dbSeq.Lock()
	dbSeq.n++
	db := fmt.Sprintf("p%d", dbSeq.n)
	dbSeq.Unlock()
	var nodes []pipeline.Node
	for i, c := range clusters {
		err := c.CreateDB(ctx, db,
			`CREATE TABLE t (id int8 PRIMARY KEY, v text, n numeric)`,
			fmt.Sprintf(`INSERT INTO t SELECT g, md5(g::text), g * 1.5 FROM generate_series(1, %d) g`, n),
		)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			for _, sql := range plant {
				if err := c.Exec(ctx, db, sql); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := c.Exec(ctx, db, "ANALYZE t"); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, pipeline.Node{Name: fmt.Sprintf("n%d", i), DSN: c.DSN(db)})
	}
	return nodes
}

func config(nodes []pipeline.Node) pipeline.Config {
	return pipeline.Config{
		Tables: []string{"t"}, Nodes: nodes, BlockRows: 2048, LeafRows: 4, Concurrency: 4,
		Timeouts: pipeline.Timeouts{Connect: 5 * time.Second, Statement: time.Minute, Lock: time.Second, IdleTransaction: time.Minute},
	}
}

// collect is a sink that keeps keys, for assertions.
type collect struct {
	mu        sync.Mutex
	keys      map[string]string
	committed bool
	aborted   bool
	// With hold set, the first Write closes written and then waits for release, so the run stays in
	// flight for as long as the test needs.
	hold              bool
	written, released chan struct{}
}

func (c *collect) Write(d schema.Diff) error {
	if c.hold {
		c.hold = false
		close(c.written)
		<-c.released
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys[strings.Join(d.Key, ",")] = d.Kind
	return nil
}
func (c *collect) Commit(sinks.Meta) error { c.committed = true; return nil }
func (c *collect) Abort() error            { c.aborted = true; return nil }

func opener(c *collect) pipeline.Opener {
	return func([]*schema.Table, []string, time.Time) (pipeline.Sink, error) {
		c.keys = map[string]string{}
		return c, nil
	}
}

func TestRunFindsPlantedDifferences(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := load(t, 50000,
		`UPDATE t SET v = 'x' WHERE id % 997 = 0`,                   // 50 changed
		`DELETE FROM t WHERE id % 1999 = 1`,                         // 26 missing
		`INSERT INTO t VALUES (-5, 'neg', 0), (99999999, 'far', 1)`, // 2 missing
	)
	var c collect
	sum, err := pipeline.Run(t.Context(), config(nodes), opener(&c))
	if err != nil {
		t.Fatal(err)
	}
	changed, missing := 0, 0
	for _, k := range c.keys {
		if k == schema.Missing {
			missing++
		} else {
			changed++
		}
	}
	if changed != 50 || missing != 28 || sum.Differences != 78 || !sum.Complete || !c.committed {
		t.Fatalf("changed %d missing %d; summary %+v", changed, missing, sum)
	}
	if sum.RangesSplit == 0 {
		t.Errorf("expected splits with --leaf-rows 4, got summary %+v", sum)
	}
	if sum.Nodes[0].Rows != 50000 || sum.Nodes[1].Rows != 50000-26+2 {
		t.Errorf("rows per node %+v", sum.Nodes)
	}
	// The digest fingerprints the set of differences, whatever order other settings find them in.
	cfg := config(nodes)
	cfg.Concurrency, cfg.BlockRows, cfg.LeafRows = 1, 1<<20, 32
	var c2 collect
	sum2, err := pipeline.Run(t.Context(), cfg, opener(&c2))
	if err != nil {
		t.Fatal(err)
	}
	if sum.Tables[0].Digest == "" || sum.Tables[0].Digest != sum2.Tables[0].Digest || len(c2.keys) != 78 {
		t.Errorf("digests %q and %q differ for the same differences", sum.Tables[0].Digest, sum2.Tables[0].Digest)
	}
	// With the shortest idle timeout (1 s), the keepalive pings waiting sessions every 250 ms throughout
	// the run (under -race too), which rows that sleep stretch to about 3 s a pass; a copy of the table (a
	// table named twice is diffed once) makes the coordinators wait a whole pass.
	for _, n := range nodes {
		conn, err := pgx.Connect(t.Context(), n.DSN)
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), "CREATE TABLE t2 AS SELECT * FROM t; ALTER TABLE t2 ADD PRIMARY KEY (id); ANALYZE t2")
		conn.Close(t.Context())
		if err != nil {
			t.Fatal(err)
		}
	}
	cfg = config(nodes)
	cfg.Tables = []string{"t", "t2"}
	cfg.Where = "id % 2500 <> 0 OR pg_catalog.pg_sleep(0.15) IS NOT NULL"
	cfg.Timeouts.IdleTransaction = time.Second
	var c3 collect
	sum3, err := pipeline.Run(t.Context(), cfg, opener(&c3))
	if err != nil {
		t.Fatal(err)
	}
	if sum3.Differences != 2*78 || len(c3.keys) != 78 {
		t.Errorf("with pings: %d differences, %d keys; want 156 and 78", sum3.Differences, len(c3.keys))
	}
}

func TestRunStopsAtMaxDiffs(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := load(t, 20000, `UPDATE t SET v = 'x' WHERE id % 10 = 0`)
	cfg := config(nodes)
	cfg.MaxDiffs = 7
	var c collect
	sum, err := pipeline.Run(t.Context(), cfg, opener(&c))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.keys) != 7 || sum.Differences != 7 || sum.Complete || !c.committed {
		t.Fatalf("got %d keys, summary %+v", len(c.keys), sum)
	}
}

// panicky is a sink whose Write panics, standing for a bug.
type panicky struct{ collect }

func (p *panicky) Write(schema.Diff) error { panic("sink bug") }

// TestRunSurvivesAPanic: a goroutine of the run that panics fails the run with an error saying so, the
// sink aborted. The sink's writer stopped without draining, and the workers waited to hand it their
// differences: the run never ended.
func TestRunSurvivesAPanic(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := load(t, 20000, `UPDATE t SET v = 'x' WHERE id % 10 = 0`)
	p := &panicky{}
	done := make(chan error, 1)
	go func() {
		_, err := pipeline.Run(t.Context(), config(nodes), func([]*schema.Table, []string, time.Time) (pipeline.Sink, error) {
			return p, nil
		})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "panic: sink bug") {
			t.Errorf("Run: %v, want the sink's panic as an internal error", err)
		}
		if !p.aborted || p.committed {
			t.Errorf("sink aborted=%v committed=%v, want aborted only", p.aborted, p.committed)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30 s after the sink panicked")
	}
}

func TestRunFailsCleanlyWhenANodeDies(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := t.Context()
	victim, err := pgcluster.Start(ctx, pgcluster.Options{Name: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	defer victim.Stop(context.WithoutCancel(ctx))
	const rows = 400000
	fill := fmt.Sprintf(`INSERT INTO t SELECT g, md5(g::text), g FROM generate_series(1, %d) g`, rows)
	if err := victim.CreateDB(ctx, "d", `CREATE TABLE t (id int8 PRIMARY KEY, v text, n numeric)`, fill, `UPDATE t SET v = 'y' WHERE id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	if err := clusters[0].CreateDB(ctx, "victimpeer", `CREATE TABLE t (id int8 PRIMARY KEY, v text, n numeric)`, fill); err != nil {
		t.Fatal(err)
	}
	cfg := config([]pipeline.Node{{Name: "peer", DSN: clusters[0].DSN("victimpeer")}, {Name: "victim", DSN: victim.DSN("d")}})
	cfg.BlockRows, cfg.LeafRows = 65536, 32
	// The sink holds the first difference until the node is down: the workers then wait to hand over
	// theirs, their queries still streaming, and the run cannot finish before the node dies.
	h := startHeld(ctx, t, cfg)
	err = victim.StopImmediate(ctx)
	close(h.c.released)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of the node dying")
	}
	if h.err == nil {
		t.Fatalf("run succeeded after its node died: %+v", h.sum)
	}
	if !strings.Contains(h.err.Error(), "victim") {
		t.Errorf("error does not name the node: %v", h.err)
	}
	if !h.c.aborted || h.c.committed {
		t.Errorf("sink committed=%v aborted=%v after an error", h.c.committed, h.c.aborted)
	}
	t.Logf("stopped %.1fs after the node died: %v", time.Since(stopped).Seconds(), h.err)
}

// heldRun is a run whose sink holds its first difference until c.released is closed.
type heldRun struct {
	c    collect
	done chan struct{} // closed when the run has returned sum and err
	sum  *pipeline.Summary
	err  error
}

// startHeld starts a run of cfg whose sink holds its first difference, and returns once that difference
// is in the sink; the test fails if the run ends first or no difference comes within 30s.
func startHeld(ctx context.Context, t *testing.T, cfg pipeline.Config) *heldRun {
	t.Helper()
	h := &heldRun{c: collect{hold: true, written: make(chan struct{}), released: make(chan struct{})}, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		h.sum, h.err = pipeline.Run(ctx, cfg, opener(&h.c))
	}()
	select {
	case <-h.c.written:
	case <-h.done:
		t.Fatalf("run ended before its first difference: %v", h.err)
	case <-time.After(30 * time.Second):
		t.Fatal("no difference within 30s")
	}
	return h
}

// TestRunHoldsFewWideRows: with the sink stalled at its first difference, a run over rows of 1 MiB that all
// differ keeps a few of them alive, not every one it has read: the differences waiting for the sink are
// bounded in bytes as well as in number, and a row read is not kept alive by the rows read before or
// after it.
func TestRunHoldsFewWideRows(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const rows, width = 96, 1 << 20
	nodes := load(t, rows, fmt.Sprintf(`UPDATE t SET v = repeat(v, %d)`, width/32)) // md5 text is 32 bytes
	live := func() int64 {
		runtime.GC()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		return int64(s[0].Value.Uint64())
	}
	base := live()
	h := startHeld(t.Context(), t, config(nodes))
	// The workers read on until the queue to the sink is full: the most the heap holds over a while.
	var held int64
	for range 15 {
		time.Sleep(200 * time.Millisecond)
		held = max(held, live()-base)
	}
	close(h.c.released)
	<-h.done
	if h.err != nil {
		t.Fatal(h.err)
	}
	if len(h.c.keys) != rows || h.sum.Differences != rows {
		t.Fatalf("%d keys found, summary %+v; want all %d rows changed", len(h.c.keys), h.sum, rows)
	}
	t.Logf("heap held with the sink stalled: %.1f MiB (rows of %d MiB, %d of them)", float64(held)/(1<<20), width>>20, rows)
	if limit := int64(40 << 20); held > limit {
		t.Errorf("with the sink stalled the run held %.1f MiB of heap, over %d MiB: it keeps rows it has read (%d MiB in all)",
			float64(held)/(1<<20), limit>>20, rows*width>>20)
	}
}

func TestJSONLinesLeavesNoFileOnError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := load(t, 100)
	nodes[1].DSN = "host=127.0.0.1 port=1 user=postgres dbname=x connect_timeout=2"
	out := filepath.Join(t.TempDir(), "d.jsonl")
	_, err := pipeline.Run(t.Context(), config(nodes), func(_ []*schema.Table, names []string, _ time.Time) (pipeline.Sink, error) {
		return sinks.NewJSONLines(out, names)
	})
	if err == nil || !strings.Contains(err.Error(), "node n1") {
		t.Fatalf("want an error naming node n1, got %v", err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 0 {
		t.Errorf("files left behind: %v", entries)
	}
	if errors.Is(err, pipeline.ErrLimit) {
		t.Error("wrong error")
	}
}

func TestRunDiffsEverySchemaTableInOneSnapshot(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	nodes := load(t, 1000, `UPDATE t SET v = 'x' WHERE id <= 3`)
	for i, c := range clusters {
		var db string
		for _, f := range strings.Fields(nodes[i].DSN) {
			if v, ok := strings.CutPrefix(f, "dbname="); ok {
				db = v
			}
		}
		extra := []string{
			`CREATE TABLE u (a text, b int, PRIMARY KEY (a, b))`,
			`INSERT INTO u SELECT 'k' || g, g FROM generate_series(1, 500) g`,
			`CREATE TABLE nokey (x int)`,
		}
		if i == 1 {
			extra = append(extra, `DELETE FROM u WHERE b = 7`)
		}
		for _, sql := range extra {
			if err := c.Exec(t.Context(), db, sql); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := config(nodes)
	cfg.Tables, cfg.Schemas = nil, []string{"public"}
	var c collect
	sum, err := pipeline.Run(t.Context(), cfg, opener(&c))
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Tables) != 2 || sum.Differences != 4 || len(sum.Skipped) != 1 || sum.Skipped[0] != "public.nokey" {
		t.Fatalf("summary %+v", sum)
	}
	if c.keys["k7,7"] != schema.Missing || c.keys["1"] != schema.Changed {
		t.Errorf("keys %v", c.keys)
	}
}

// TestRewrittenAfterSnapshot: a table truncated, or a materialized view refreshed, between a run's snapshot
// and its lock on the relation would look empty to the snapshot. The lock that every relation now gets at
// the start leaves a moment for that, and the check after it must say so; without the DDL it passes, and
// the lock then keeps the DDL waiting (LOCK TABLE refuses a materialized view, which used to be left
// unlocked until its first read, open to a REFRESH).
func TestRewrittenAfterSnapshot(t *testing.T) {
	nodes := load(t, 100)
	ctx := t.Context()
	setup, err := pgx.Connect(ctx, nodes[0].DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close(ctx)
	if _, err := setup.Exec(ctx, "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t"); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ rel, ddl string }{
		{"t", "BEGIN; CREATE TEMP TABLE keep AS SELECT * FROM t; TRUNCATE t; INSERT INTO t SELECT * FROM keep; COMMIT"},
		{"mv", "REFRESH MATERIALIZED VIEW mv"},
	}
	for _, c := range cases {
		for _, rewrite := range []bool{false, true} {
			run, err := pgx.Connect(ctx, nodes[0].DSN)
			if err != nil {
				t.Fatal(err)
			}
			other, err := pgx.Connect(ctx, nodes[0].DSN)
			if err != nil {
				t.Fatal(err)
			}
			// The snapshot is taken by the first query of the transaction, before the DDL commits.
			if _, err := run.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1"); err != nil {
				t.Fatal(err)
			}
			if rewrite {
				if _, err := other.Exec(ctx, c.ddl); err != nil {
					t.Fatal(err)
				}
			}
			err = pipeline.LockTable(ctx, run, c.rel)
			if got := err != nil && strings.Contains(err.Error(), "was rewritten"); got != rewrite {
				t.Errorf("%s: %q after the snapshot %v: lock and check said %v", c.rel, c.ddl, rewrite, err)
			}
			if !rewrite {
				_, err := other.Exec(ctx, "SET lock_timeout = '200ms'; "+c.ddl)
				if err == nil || !strings.Contains(err.Error(), "lock timeout") {
					t.Errorf("%s: %q while the run holds its lock: %v, want it to wait until its lock_timeout", c.rel, c.ddl, err)
				}
			}
			run.Close(ctx)
			other.Close(ctx)
		}
	}
}

// TestWorkerLocks: a worker session takes, as the run starts, the locks its reads of a relation will need,
// its indexes' among them: DDL that comes later waits for the run (here, until its lock_timeout), where a
// REINDEX or a REFRESH went through, or got in between a worker and its first read. DDL that began
// waiting after the coordinator's lock and before the worker's fails the worker's at once, saying so,
// where it waited behind the DDL until the run's lock timeout, or for ever.
func TestWorkerLocks(t *testing.T) {
	nodes := load(t, 100)
	ctx := t.Context()
	open := func() *pgx.Conn {
		c, err := pgx.Connect(ctx, nodes[0].DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	ddl := open()
	if _, err := ddl.Exec(ctx, "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t; CREATE UNIQUE INDEX ON mv (id)"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ rel, ddl string }{{"t", "REINDEX INDEX t_pkey"}, {"mv", "REFRESH MATERIALIZED VIEW mv"}} {
		worker := open()
		if _, err := worker.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			t.Fatal(err)
		}
		if err := pipeline.LockBeside(ctx, worker, c.rel); err != nil {
			t.Fatalf("%s: %v", c.rel, err)
		}
		_, err := ddl.Exec(ctx, "SET lock_timeout = '300ms'; "+c.ddl)
		if err == nil || !strings.Contains(err.Error(), "lock timeout") {
			t.Errorf("%s while a worker holds its locks: %v, want it to wait until its lock_timeout", c.ddl, err)
		}
		worker.Close(ctx)
	}

	coord, worker := open(), open()
	for _, c := range []*pgx.Conn{coord, worker} {
		if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"); err != nil {
			t.Fatal(err)
		}
	}
	if err := pipeline.LockTable(ctx, coord, "t"); err != nil {
		t.Fatal(err)
	}
	queued := make(chan error, 1)
	go func() {
		_, err := ddl.Exec(context.Background(), "SET lock_timeout = '5s'; ALTER TABLE t ADD COLUMN z int")
		queued <- err
	}()
	time.Sleep(300 * time.Millisecond) // the ALTER waits for coord's lock
	start := time.Now()
	err := pipeline.LockBeside(ctx, worker, "t")
	if err == nil || !strings.Contains(err.Error(), "began waiting for this run's lock") || time.Since(start) > time.Second {
		t.Errorf("a worker's lock behind a waiting ALTER TABLE: %v after %v, want at once an error that says so", err, time.Since(start))
	}
	coord.Close(ctx)
	worker.Close(ctx)
	if err := <-queued; err != nil {
		t.Errorf("ALTER TABLE after the run's sessions ended: %v", err)
	}
}

// TestStartCancelledByWhichTimeout: a statement that starts a transaction cancelled after rowdiff's own
// SET LOCAL statement_timeout was blamed on a statement_timeout set for the role or database (a
// --statement-timeout of 1 ms cancelled the SET statements after it, found by a tester). Which statement
// failed tells the two apart, in any lc_messages; here a sleep stands in for the cancelled statement.
func TestStartCancelledByWhichTimeout(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name, session, sql string
		timeoutAt          int
		want, not          string
	}{
		// The session's statement_timeout stands for the role's: in force until rowdiff's SET, the third statement.
		{"the role's", "SET statement_timeout = 100", "BEGIN; SELECT pg_catalog.pg_sleep(1); SET LOCAL statement_timeout = 0", 3,
			"ALTER ROLE ... SET statement_timeout", "own --statement-timeout"},
		{"rowdiff's own", "SET statement_timeout = 0", "BEGIN; SET LOCAL statement_timeout = 100; SELECT pg_catalog.pg_sleep(1)", 2,
			"under rowdiff's own --statement-timeout", "ALTER ROLE"},
	} {
		conn, err := pgx.Connect(ctx, clusters[0].DSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, tc.session); err != nil {
			t.Fatal(err)
		}
		err = pipeline.BeginHinted(ctx, conn, tc.sql, tc.timeoutAt)
		if err == nil || !strings.Contains(err.Error(), "57014") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.not) {
			t.Errorf("%s statement_timeout: %v; want SQLSTATE 57014 and %q in it, not %q", tc.name, err, tc.want, tc.not)
		}
		conn.Close(context.Background())
	}
}
