package tests

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

// settingsSetup makes date and time data whose text forms depend on TimeZone and DateStyle. Every
// literal is unambiguous under any DateStyle and carries its offset, so all nodes store the same.
const settingsSetup = `CREATE TABLE t (k timestamptz PRIMARY KEY, d date, ts timestamp, iv interval, tz2 timestamptz,
  tm time, ttz timetz, arr timestamptz[], dr daterange, n numeric);
INSERT INTO t
SELECT '2020-03-04 05:06:07.123456+00'::timestamptz + i * interval '7 hours 13 minutes 1.5 seconds',
       '2020-03-04'::date + i * 3,
       '1999-12-31 23:00:00'::timestamp + i * interval '1 day 1 second',
       make_interval(months => i % 14, days => i % 40, secs => i * 61.25::float8) * (CASE WHEN i % 5 = 0 THEN -1 ELSE 1 END),
       '2020-10-31 12:00:00-04'::timestamptz + i * interval '1 hour',
       '00:00:01'::time + i * interval '13 minutes',
       ('10:00:00' || CASE WHEN i % 2 = 0 THEN '+05:30' ELSE '-04' END)::timetz,
       ARRAY['2021-03-14 01:30:00-05'::timestamptz + i * interval '1 hour', 'infinity'],
       daterange('2020-01-01'::date + i, '2020-02-01'::date + i),
       i / 7.0
FROM generate_series(1, 500) i;
INSERT INTO t (k, d, ts, iv) VALUES ('infinity', 'infinity', '-infinity', '1 year 2 mons -3 days 04:05:06'),
  ('-infinity', '0044-03-15 BC', '0044-03-15 12:00:00 BC', '-00:00:00.000001'),
  ('2024-03-10 07:00:00+00', '2024-02-29', '2024-03-10 02:30:00', '1 day'),
  ('2024-11-03 05:30:00+00', '2024-11-03', '2024-11-03 01:30:00', '-1 day +24:00:00');
CREATE TABLE dk (d date PRIMARY KEY, v text);
INSERT INTO dk SELECT '2001-02-03'::date + i * 11, 'v' || i FROM generate_series(-300, 300) i;
INSERT INTO dk VALUES ('infinity', 'inf'), ('-infinity', '-inf'), ('0001-01-01 BC', 'bc');`

// TestSessionSettings diffs identical date/time data on three clusters whose TimeZone (UTC,
// America/New_York, Asia/Kolkata) and DateStyle (ISO vs "SQL, DMY" on b) differ: rowdiff pins its sessions,
// so there is nothing to report. A change planted afterwards on one node is reported with ISO/UTC text.
func TestSessionSettings(t *testing.T) {
	t.Parallel()
	nodes := []Node{newNode(t, "a", clA, settingsSetup), newNode(t, "b", clB, settingsSetup), newNode(t, "c", clC, settingsSetup)}
	for _, tbl := range []struct {
		name string
		key  string
	}{{"t", "k"}, {"dk", "d"}} {
		want := truth(t, nodes, Spec{Table: tbl.name, Key: []string{tbl.key}})
		if len(want) != 0 {
			t.Fatalf("test setup: the truth sees %d differences in identical data: %v", len(want), want)
		}
		for _, mode := range [][]string{nil, {"--block-rows", "32", "--leaf-rows", "2"}} {
			r := diff(t, tbl.name, nodes, mode...)
			check(t, r, want, []string{tbl.key}, "public."+tbl.name)
			if len(r.Records) != 0 {
				t.Errorf("identical data on nodes with different TimeZone/DateStyle: %d records, first: %s", len(r.Records), r.Records[0].Line)
			}
		}
	}

	// One planted change on c: reported once, with every node's values in ISO/UTC text forms.
	nodes[2].Exec(t, `UPDATE t SET n = n + 1 WHERE k = '2020-03-04 05:06:07.123456+00'::timestamptz + interval '7 hours 13 minutes 1.5 seconds';
UPDATE dk SET v = 'x' WHERE d = '2001-02-14'`)
	want := truth(t, nodes, Spec{Table: "t", Key: []string{"k"}})
	r := diff(t, "t", nodes)
	check(t, r, want, []string{"k"}, "public.t")
	rec := find(t, r, []string{"k"}, "2020-03-04 12:19:08.623456+00")
	row := rec.Row(t, "b")
	wantString(t, row, "k", "2020-03-04 12:19:08.623456+00")
	wantString(t, row, "d", "2020-03-07")
	wantString(t, row, "ts", "2000-01-01 23:00:01")
	wantString(t, row, "iv", "1 mon 1 day 00:01:01.25")
	wantString(t, row, "tz2", "2020-10-31 17:00:00+00")
	wantString(t, row, "ttz", "10:00:00-04")
	wantString(t, row, "arr", `{"2021-03-14 07:30:00+00",infinity}`)
	wantString(t, row, "dr", "[2020-01-02,2020-02-02)")
	for _, n := range []string{"a", "b", "c"} {
		wantString(t, rec.Row(t, n), "d", "2020-03-07")
	}
	r = diff(t, "dk", nodes)
	check(t, r, truth(t, nodes, Spec{Table: "dk", Key: []string{"d"}}), []string{"d"}, "public.dk")
	find(t, r, []string{"d"}, "2001-02-14")
}

// TestColumnOrder diffs tables whose columns were created in different orders (and one with a dropped
// column): columns match by name, so identical data gives no differences, and a planted change reports
// each node's values under the right column names.
func TestColumnOrder(t *testing.T) {
	t.Parallel()
	a := newNode(t, "a", clA, `CREATE TABLE t (id int PRIMARY KEY, junk text, x text, y int, z numeric, w jsonb, amount numeric(12,2), flag bool);
ALTER TABLE t DROP COLUMN junk;`)
	b := newNode(t, "b", clB, `CREATE TABLE t (flag bool, w jsonb, z numeric, amount numeric(12,2), y int, id int PRIMARY KEY, x text);`)
	fill := `INSERT INTO t (id, x, y, z, w, amount, flag)
SELECT i, 'x' || i, i * 10, i / 4.0, jsonb_build_object('i', i), i + 0.5, i % 2 = 0 FROM generate_series(1, 300) i;`
	a.Exec(t, fill)
	b.Exec(t, fill)
	nodes := []Node{a, b}
	want := truth(t, nodes, Spec{Table: "t", Key: []string{"id"}})
	check(t, diff(t, "t", nodes), want, []string{"id"}, "public.t")
	check(t, diff(t, "t", []Node{b, a}), want, []string{"id"}, "public.t")

	b.Exec(t, `UPDATE t SET y = 71 WHERE id = 7; UPDATE t SET x = 'changed' WHERE id = 9;`)
	want = truth(t, nodes, Spec{Table: "t", Key: []string{"id"}})
	if len(want) != 2 {
		t.Fatalf("truth: %v, want keys 7 and 9", want)
	}
	for _, nodes := range [][]Node{{a, b}, {b, a}} {
		r := diff(t, "t", nodes, "--block-rows", "16", "--leaf-rows", "2")
		check(t, r, want, []string{"id"}, "public.t")
		rec := find(t, r, []string{"id"}, "7")
		ra, rb := rec.Row(t, "a"), rec.Row(t, "b")
		wantJSON(t, ra, "y", "70")
		wantJSON(t, rb, "y", "71")
		wantString(t, rb, "x", "x7")
		wantString(t, rb, "z", "1.7500000000000000")
		wantJSON(t, rb, "w", `{"i": 7}`)
		wantString(t, rb, "amount", "7.50")
		wantJSON(t, rb, "flag", "false")
		wantJSON(t, rb, "id", "7")
		if _, ok := ra["junk"]; ok {
			t.Errorf("dropped column appears in the output: %s", rec.Line)
		}
		rec = find(t, r, []string{"id"}, "9")
		wantString(t, rec.Row(t, "a"), "x", "x9")
		wantString(t, rec.Row(t, "b"), "x", "changed")
	}
}

// TestThroughPgBouncer diffs through a PgBouncer in transaction pooling mode, which refuses a connection
// that sends a startup parameter it does not track, and passes a server connection on to the next client
// when a transaction ends. rowdiff pins its settings inside its transactions instead: node b's cluster
// (America/New_York, DateStyle "SQL, DMY") gives no false differences, and clients that take over the
// server connections rowdiff used see the cluster's own settings again.
func TestThroughPgBouncer(t *testing.T) {
	t.Parallel()
	a, b := newNode(t, "a", clA, settingsSetup), newNode(t, "b", clB, settingsSetup)
	b.Exec(t, "UPDATE t SET n = n + 1 WHERE d = '2020-03-07'; DELETE FROM dk WHERE v = 'v5';")
	ctx, cancel := setupContext()
	defer cancel()
	// Room for every connection rowdiff keeps in a transaction at once (TestSmallPool has less).
	pb, err := pgcluster.StartBouncer(ctx, map[string]pgcluster.Target{"a": {C: clA, DB: a.DB}, "b": {C: clB, DB: b.DB}}, 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pb.Stop)
	a.DSN, b.DSN = pb.DSN("a"), pb.DSN("b")
	nodes := []Node{a, b}
	for _, tbl := range []struct{ name, key string }{{"t", "k"}, {"dk", "d"}} {
		want := truth(t, nodes, Spec{Table: tbl.name, Key: []string{tbl.key}})
		if len(want) != 1 {
			t.Fatalf("test setup: the truth has %d differences in %s, want 1", len(want), tbl.name)
		}
		for _, mode := range [][]string{nil, {"--block-rows", "32", "--leaf-rows", "2"}} {
			check(t, diff(t, tbl.name, nodes, mode...), want, []string{tbl.key}, "public."+tbl.name)
		}
	}

	// rowdiff ends its transactions before it leaves: PgBouncer closes a server connection its client
	// left inside a transaction, and the pool's next clients waited for new backends.
	kept := b.QueryInt(t, "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid()")
	if kept == 0 {
		t.Errorf("node b: PgBouncer kept no server connection after rowdiff's runs, want the pool's")
	}

	// As many clients as rowdiff held connections, each in a transaction, so they take over every
	// server connection it used.
	for i := range 5 {
		conn, err := pgx.Connect(ctx, pb.DSN("b"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		for setting, want := range map[string]string{"TimeZone": "America/New_York", "DateStyle": "SQL, DMY",
			"statement_timeout": "0", "plan_cache_mode": "auto", "transaction_read_only": "off"} {
			var got string
			if err := tx.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("client %d through the bouncer after rowdiff: %s = %q, want node b's own %q", i, setting, got, want)
			}
		}
	}
}

// TestSmallPool diffs through poolers with fewer server connections than rowdiff opens (5 per node by
// default, each in a transaction for the whole run). With room for the coordinator and one worker per node,
// the run must go on with the sessions that started, say so, and find what PostgreSQL finds; with room for
// the coordinator only, fail within the connect timeout and say what to change. Without the bound, each
// waited for PgBouncer's query_wait_timeout (120 s) and failed with only "query_wait_timeout".
func TestSmallPool(t *testing.T) {
	t.Parallel()
	a, b := newNode(t, "a", clA, settingsSetup), newNode(t, "b", clB, settingsSetup)
	b.Exec(t, "UPDATE t SET n = n + 1 WHERE d = '2020-03-07'; DELETE FROM t WHERE d = '2020-03-10';")
	want := truth(t, []Node{a, b}, Spec{Table: "t", Key: []string{"k"}})
	if len(want) != 2 {
		t.Fatalf("test setup: the truth has %d differences, want 2", len(want))
	}
	// Straight to the servers, --connect-timeout 0 still means no limit, for the transaction's start too.
	check(t, diff(t, "t", []Node{a, b}, "--connect-timeout", "0"), want, []string{"k"}, "public.t")
	for _, pool := range []int{2, 1} {
		ctx, cancel := setupContext()
		defer cancel()
		pb, err := pgcluster.StartBouncer(ctx, map[string]pgcluster.Target{"a": {C: clA, DB: a.DB}, "b": {C: clB, DB: b.DB}}, pool)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pb.Stop)
		pa, pbn := a, b
		pa.DSN, pbn.DSN = pb.DSN("a"), pb.DSN("b")
		nodes := []Node{pa, pbn}
		const bound = 30 * time.Second // the 2 s connect timeout below, and then the run
		if pool == 2 {
			r := diff(t, "t", nodes, "--connect-timeout", "2s", "--block-rows", "32", "--leaf-rows", "2")
			check(t, r, want, []string{"k"}, "public.t")
			for _, s := range []string{"node a started 1 of 4 worker transactions", "node b started 1 of 4 worker transactions"} {
				if r.Summary.Workers != 1 || !strings.Contains(r.Summary.FewerWorkers, s) || !strings.Contains(r.Stderr, s) {
					t.Errorf("pool of 2: workers %d (want 1), fewer_workers %q, want it and stderr to say %q\nstderr:\n%s",
						r.Summary.Workers, r.Summary.FewerWorkers, s, r.Stderr)
				}
			}
			if r.Elapsed > bound {
				t.Errorf("pool of 2: took %s, want under %s", r.Elapsed, bound)
			}
			continue
		}
		out := filepath.Join(t.TempDir(), "o.jsonl")
		p := runRowdiff(t, append(append([]string{"diff", "--table", "t"}, nodeArgs(nodes)...), "--out", out, "--connect-timeout", "2s")...)
		for _, s := range []string{"waited 2s (--connect-timeout)", "connection pooler", "--max-connections"} {
			if p.Code != 2 || !strings.Contains(p.Stderr, s) {
				t.Errorf("pool of 1: exit %d, want 2 saying %q\nstderr:\n%s", p.Code, s, p.Stderr)
			}
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("pool of 1: %s exists after the failed run (%v)", out, err)
		}
		if p.Elapsed > bound {
			t.Errorf("pool of 1: took %s, want under %s", p.Elapsed, bound)
		}
	}
}

// TestStatementTimeoutLongRun diffs a table with a text key, whose ranges are cut at keys read from the
// first node, for longer than --statement-timeout, while each of its statements takes far less. The
// range bounds were read by one statement that lasted the whole run, which the server cancelled.
func TestStatementTimeoutLongRun(t *testing.T) {
	t.Parallel()
	// In "C", so that its index serves rowdiff's ranges.
	a, b := pair(t, `CREATE TABLE t (k text COLLATE "C" PRIMARY KEY, v int);
INSERT INTO t SELECT lpad(i::text, 6, '0'), i FROM generate_series(1, 40000) i;
ANALYZE t;`, "", "UPDATE t SET v = -v WHERE v % 997 = 0;")
	// Every 1000th row costs 0.1 s wherever it is read: 4 s for the whole key range, and a moment for a
	// range (512 rows: 256 buckets of 2) or the statement reading its bound.
	// It keeps every row (pg_sleep's void is not null), so the truth needs no filter, nor the sleeps.
	where := "v % 1000 <> 0 OR pg_catalog.pg_sleep(0.1) IS NOT NULL"
	want := truth(t, []Node{a, b}, Spec{Table: "t", Key: []string{"k"}})
	if len(want) != 40 {
		t.Fatalf("test setup: the truth has %d differences, want 40", len(want))
	}
	r := diff(t, "t", []Node{a, b}, "--where", where, "--block-rows", "512", "--leaf-rows", "2", "--statement-timeout", "2s")
	check(t, r, want, []string{"k"}, "public.t")
	if r.Summary.ElapsedSeconds < 2 {
		t.Errorf("the diff took %.2f s, not longer than --statement-timeout: the test shows nothing", r.Summary.ElapsedSeconds)
	}
}

// TestSearchPathShadowing: rowdiff's queries call built-in functions by name, and a schema before
// pg_catalog in a session's search_path (a role's, a database's, or PGOPTIONS') could put its own function of
// the same name in their place. With evil.hashtextextended returning its seed, the text column hashed
// alike on every row, and changed rows went unreported. rowdiff puts pg_catalog first.
func TestSearchPathShadowing(t *testing.T) {
	t.Parallel()
	setup := `CREATE SCHEMA evil;
CREATE FUNCTION evil.hashtextextended(text, bigint) RETURNS bigint LANGUAGE sql IMMUTABLE AS 'SELECT $2';
CREATE FUNCTION evil.cat(text, text) RETURNS text LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'rowdiff called evil.||'; END$$;
CREATE OPERATOR evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.cat);
CREATE TABLE sp (id int PRIMARY KEY, v text, n int);
INSERT INTO sp SELECT i, 'v' || i, i FROM generate_series(1, 300) i;`
	a, b := pair(t, setup, "", `UPDATE sp SET v = 'changed' WHERE id % 50 = 7; UPDATE sp SET n = -n WHERE id = 100; DELETE FROM sp WHERE id = 3;`)
	nodes := []Node{a, b}
	want := truth(t, nodes, Spec{Table: "sp", Key: []string{"id"}})
	if len(want) != 8 {
		t.Fatalf("test setup: the truth has %d differences, want 8", len(want))
	}
	for i := range nodes {
		nodes[i].DSN = nodes[i].C.DSN(nodes[i].DB) + " search_path=evil,pg_catalog,public"
	}
	for _, mode := range [][]string{nil, {"--block-rows", "16", "--leaf-rows", "2"}} {
		check(t, diff(t, "sp", nodes, mode...), want, []string{"id"}, "public.sp")
	}
}

// TestUnixSocket diffs through a node's Unix socket, as psql connects by default: rowdiff set
// TCP_USER_TIMEOUT on every socket, which a Unix one refuses, and every such connection failed with
// "operation not supported" (found by an exploratory helper).
func TestUnixSocket(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "rdsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The server runs as another OS user, which must create its socket here.
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	sock, err := pgcluster.Start(ctx, pgcluster.Options{Name: "sock", Settings: map[string]string{"unix_socket_directories": dir}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sock.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	setup := "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 300) i;"
	a := newNode(t, "a", clA, setup, "")
	b := newNode(t, "b", sock, setup, "UPDATE t SET v = 'x' WHERE id % 50 = 7; DELETE FROM t WHERE id = 100;")
	nodes := []Node{a, b}
	want := truth(t, nodes, Spec{Table: "t", Key: []string{"id"}})
	if len(want) != 7 {
		t.Fatalf("planted %d differences, want 7", len(want))
	}
	for _, dsn := range []string{
		fmt.Sprintf("host=%s port=%d user=postgres dbname=%s", dir, sock.Port(), b.DB),
		fmt.Sprintf("postgres://postgres@%s:%d/%s", url.PathEscape(dir), sock.Port(), b.DB),
	} {
		b.DSN = dsn
		check(t, diff(t, "t", []Node{a, b}), want, []string{"id"}, "")
	}
}

// TestSessionsOnAnotherServer: every session of a node must reach the server that exported its
// snapshot. A DSN of several hosts whose first turned the workers away (a role's connection limit) sent
// them to the next, where the import failed with only "invalid snapshot identifier", or, where that
// server had exported a snapshot of the same identifier (another node of the run), succeeded, and a diff
// of differing tables exited 0 (found by an exploratory helper). Here a proxy sends node a's first
// connection to cluster a and the others to cluster b, which holds a database of the same name.
func TestSessionsOnAnotherServer(t *testing.T) {
	t.Parallel()
	ctx, cancel := setupContext()
	defer cancel()
	db := fmt.Sprintf("same%d", uniq())
	setup := "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 300) i;"
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+db); err != nil {
			t.Fatal(err)
		}
		if err := c.Exec(ctx, db, setup); err != nil {
			t.Fatal(err)
		}
	}
	proxy := testkit.NewSwitching(t, fmt.Sprintf("127.0.0.1:%d", clA.Port()), fmt.Sprintf("127.0.0.1:%d", clB.Port()))
	a := Node{Name: "a", C: clA, DB: db, DSN: fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", proxy.Port, db)}
	b := newNode(t, "b", clB, setup, "UPDATE t SET v = 'x' WHERE id % 50 = 7;")
	out := filepath.Join(t.TempDir(), "o.jsonl")
	p := runRowdiff(t, append(append([]string{"diff", "--table", "t"}, nodeArgs([]Node{a, b})...), "--out", out)...)
	const want = "every session of a node must reach the server that exported its snapshot"
	if p.Code != 2 || !strings.Contains(p.Stderr, "node a: import snapshot") || !strings.Contains(p.Stderr, want) {
		t.Errorf("exit %d, want 2 saying node a's sessions must reach one server (%q)\nstderr:\n%s", p.Code, want, p.Stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after the failed run (%v)", out, err)
	}
}

// TestRoleConnectionLimit: a role whose CONNECTION LIMIT is below --max-connections had its workers past
// the limit refused (SQLSTATE 53300), and the run failed (found by an exploratory helper). It goes on with
// the workers every node started, and says so, as through a small pool (TestSmallPool).
func TestRoleConnectionLimit(t *testing.T) {
	t.Parallel()
	role := fmt.Sprintf("lim%d", uniq())
	a, b := newNode(t, "a", clA, settingsSetup), newNode(t, "b", clB, settingsSetup)
	b.Exec(t, "UPDATE t SET n = n + 1 WHERE d = '2020-03-07'; DELETE FROM t WHERE d = '2020-03-10';")
	ctx, cancel := setupContext()
	defer cancel()
	if err := clA.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN CONNECTION LIMIT 2"); err != nil {
		t.Fatal(err)
	}
	a.Exec(t, "GRANT SELECT ON t TO "+role)
	want := truth(t, []Node{a, b}, Spec{Table: "t", Key: []string{"k"}})
	if len(want) != 2 {
		t.Fatalf("test setup: the truth has %d differences, want 2", len(want))
	}
	a.DSN = strings.Replace(clA.DSN(a.DB), "user=postgres", "user="+role, 1)
	r := diff(t, "t", []Node{a, b})
	check(t, r, want, []string{"k"}, "public.t")
	for _, s := range []string{"node a started 1 of 4 worker transactions", "lower --max-connections"} {
		if r.Summary.Workers != 1 || !strings.Contains(r.Summary.FewerWorkers, s) || !strings.Contains(r.Stderr, s) {
			t.Errorf("workers %d (want 1), fewer_workers %q, want it and stderr to say %q\nstderr:\n%s",
				r.Summary.Workers, r.Summary.FewerWorkers, s, r.Stderr)
		}
	}
}

// TestUserObjectsOnThePath: functions and operators in public, on the default search_path after
// pg_catalog, of exactly the argument types rowdiff's SQL passes where pg_catalog's own need a cast or
// are polymorphic. PostgreSQL prefers such an exact match wherever it lies on the path: public.<(numeric,
// int4) answering false hid a numeric's changed sign, public.hash_array_extended(date[], int8) returning
// its seed every changed date and timestamp (exit 0, found by an exploratory helper), and a user's code
// ran in rowdiff's sessions. Here every such object raises, so any call fails the run.
func TestUserObjectsOnThePath(t *testing.T) {
	t.Parallel()
	setup := `CREATE TABLE uo (id int PRIMARY KEY, n numeric, f float8, iv interval, d date, tz timestamptz, by bytea,
    nr numrange, ai int4[], ok bool);
INSERT INTO uo SELECT i, i / 7.0, i / 3.0, i * interval '1 hour', date '2020-01-01' + i, timestamptz '2020-01-01 00:00+00' + i * interval '1 min',
    int4send(i), numrange(i, i + 1.5), ARRAY[i, 1, 2], i % 2 = 0 FROM generate_series(1, 400) i;
CREATE TABLE uv (k varchar(10) PRIMARY KEY, v int);
INSERT INTO uv SELECT 'k' || lpad(i::text, 5, '0'), i FROM generate_series(1, 400) i;`
	a, b := pair(t, setup, "", `UPDATE uo SET n = -n WHERE id = 10; UPDATE uo SET f = f + 1 WHERE id = 20;
UPDATE uo SET iv = -iv WHERE id = 30; UPDATE uo SET d = d + 1 WHERE id = 40; UPDATE uo SET tz = tz + interval '1 microsecond' WHERE id = 50;
UPDATE uo SET by = '\x00' WHERE id = 60; UPDATE uo SET nr = numrange(1, 2) WHERE id = 70; UPDATE uo SET ai = ARRAY[1, 2, id] WHERE id = 80;
UPDATE uo SET ok = NOT ok WHERE id = 90; DELETE FROM uo WHERE id = 100;
UPDATE uv SET v = -v WHERE k = 'k00010'; DELETE FROM uv WHERE k = 'k00200'; INSERT INTO uv VALUES ('k00200x', 1);`)
	nodes := []Node{a, b}
	wantUO := truth(t, nodes, Spec{Table: "uo", Key: []string{"id"}})
	wantUV := truth(t, nodes, Spec{Table: "uv", Key: []string{"k"}})
	if len(wantUO) != 10 || len(wantUV) != 3 {
		t.Fatalf("test setup: the truth has %d and %d differences, want 10 and 3 %v", len(wantUO), len(wantUV), wantUO)
	}
	var traps strings.Builder
	trap := func(name, args, returns string) {
		fmt.Fprintf(&traps, "CREATE FUNCTION public.%s(%s) RETURNS %s LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'rowdiff called public.%s(%s)'; END$$;\n",
			name, args, returns, name, args)
	}
	for _, o := range []struct{ op, l, r, ret string }{
		{"<", "numeric", "int4", "bool"}, {">", "numeric", "int4", "bool"},
		{"=", "float8", "int4", "bool"}, {"*", "numeric", "int4", "numeric"}, {"=", "regtype", "regtype", "bool"},
		{"<", "varchar", "varchar", "bool"}, {">=", "varchar", "varchar", "bool"}, {"=", "varchar", "varchar", "bool"},
		{"=", "oid", "int4", "bool"}, {"<>", "oid", "int4", "bool"}, {"=", "oid", "regtype", "bool"},
		{"=", "oid", "regclass", "bool"}, {"=", "oid", "regnamespace", "bool"}, {"=", "int4", "int8", "bool"},
		{"->>", "jsonb", "jsonb", "text"}, {"||", "name", "text", "text"}, {"||", "name", "name", "text"},
		{"=", "regclass", "oid", "bool"},
	} {
		fn := fmt.Sprintf("trap_op_%d", traps.Len())
		trap(fn, o.l+", "+o.r, o.ret)
		fmt.Fprintf(&traps, "CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.%s);\n", o.op, o.l, o.r, fn)
	}
	for _, args := range []string{"date[], int8", "bytea[], int8", "bool[], int8"} {
		trap("hash_array_extended", args, "int8")
	}
	trap("unnest", "int8[]", "SETOF int8")
	trap("unnest", "int2[]", "SETOF int2")
	trap("unnest", "text[]", "SETOF text")
	trap("array_agg", "text", "text[]")
	trap("array_position", "name[], text", "int4")
	trap("pg_typeof", "timestamptz", "regtype")
	for _, f := range [][2]string{{"lower", "numeric"}, {"upper", "numeric"}, {"isempty", "bool"}, {"lower_inc", "bool"}, {"upper_inc", "bool"}} {
		trap(f[0], "numrange", f[1])
	}
	trap("array_dims", "int4[]", "text")
	for _, n := range nodes {
		n.Exec(t, traps.String())
	}
	for _, mode := range [][]string{nil, {"--block-rows", "16", "--leaf-rows", "2"}} {
		check(t, diff(t, "uo", nodes, mode...), wantUO, []string{"id"}, "public.uo")
		check(t, diff(t, "uv", nodes, mode...), wantUV, []string{"k"}, "public.uv")
	}
	// recheck and repair look their tables up, and repair their foreign keys, by catalog queries of their own.
	r := diff(t, "uo", nodes)
	out := filepath.Join(t.TempDir(), "recheck.jsonl")
	p := runRowdiff(t, append(append([]string{"recheck", "--in", r.Out}, nodeArgs(nodes)...), "--out", out)...)
	data, err := os.ReadFile(out)
	if p.Code != 1 || err != nil || strings.Count(string(data), "\n") != len(wantUO) {
		t.Errorf("recheck: exit %d, %v, %d records, want 1 and %d\nstderr:\n%s", p.Code, err, strings.Count(string(data), "\n"), len(wantUO), p.Stderr)
	}
	repairAndApply(t, nodes, r, a, b)
	if d := truth(t, nodes, Spec{Table: "uo", Key: []string{"id"}}); len(d) > 0 {
		t.Errorf("after the repair, %d keys still differ: %v", len(d), d)
	}
	// The script compares varchar keys, which pg_catalog compares as text, by pg_catalog's operators too.
	repairAndApply(t, nodes, diff(t, "uv", nodes), a, b)
	if d := truth(t, nodes, Spec{Table: "uv", Key: []string{"k"}}); len(d) > 0 {
		t.Errorf("after the repair of uv, %d keys still differ: %v", len(d), d)
	}
}
