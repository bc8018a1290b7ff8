package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// smallSetup creates public.t with n rows of a few types; plantB makes rows 2, 3, 5 differ on the other
// node, row 4 missing and row n+1 extra.
const smallTable = `CREATE TABLE t (id int PRIMARY KEY, a text, n numeric, ts timestamptz);
INSERT INTO t SELECT g, 'row ' || g, g / 10.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 200) g;`

const plantB = `UPDATE t SET a = 'changed' WHERE id = 2;
UPDATE t SET n = n + 0.01 WHERE id = 3;
DELETE FROM t WHERE id = 4;
UPDATE t SET ts = ts + interval '1 second' WHERE id = 5;
INSERT INTO t VALUES (201, 'extra', 1, now());`

// truthKeys returns the ids whose rows of public.t differ between db on ca and db on cb, as PostgreSQL
// sees them: each row's jsonb form (so 1.0 and 1.00 would be equal, as numeric equality says; the tests
// here plant no such cases).
func truthKeys(t testing.TB, ca, cb *pgcluster.Cluster, db string) []int64 {
	t.Helper()
	return truthKeysOf(t, ca, cb, db, "SELECT id, to_jsonb(t)::text FROM public.t")
}

// negatedDB makes a database on both nodes whose table t (id, v) holds rows rows, negates v on clB where
// where holds, and returns it with the ids whose rows differ, read from both nodes: want of them.
func negatedDB(t testing.TB, prefix string, rows int, where string, want int) (string, []int64) {
	t.Helper()
	db := newDB(t, prefix, []*pgcluster.Cluster{clA, clB},
		fmt.Sprintf("CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, %d) g", rows))
	execSQL(t, clB, db, "UPDATE t SET v = -v WHERE "+where)
	keys := truthKeysOf(t, clA, clB, db, "SELECT id, v::text FROM t")
	if len(keys) != want {
		t.Fatalf("test setup: %d rows differ, want %d", len(keys), want)
	}
	return db, keys
}

// truthKeysOf returns the ids whose row (as sel renders it: id, then one text column) differs between db
// on ca and cb, or exists on one only.
func truthKeysOf(t testing.TB, ca, cb *pgcluster.Cluster, db, sel string) []int64 {
	t.Helper()
	read := func(c *pgcluster.Cluster) map[int64]string {
		conn := connect(t, c, db)
		rows, _ := conn.Query(context.Background(), sel)
		m := map[int64]string{}
		var id int64
		var j string
		if _, err := pgx.ForEachRow(rows, []any{&id, &j}, func() error { m[id] = j; return nil }); err != nil {
			t.Fatalf("cluster %s: %v", c.Name(), err)
		}
		return m
	}
	a, b := read(ca), read(cb)
	var keys []int64
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			keys = append(keys, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

// diffKeys runs a diff of public.t between the two DSNs and returns the reported ids (sorted, checked
// for duplicates), the exit status and the summary.
func diffKeys(t testing.TB, dsnA, dsnB string, extra ...string) ([]int64, *child, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "o.jsonl"), filepath.Join(dir, "s.json")
	args := append([]string{"diff", "--table", "public.t"}, nodeArg("a", dsnA)...)
	args = append(args, nodeArg("b", dsnB)...)
	args = append(args, "--out", out, "--summary", sum)
	ch := runRowdiff(t, append(args, extra...)...)
	if ch.code != 0 && ch.code != 1 {
		t.Fatalf("rowdiff %s: exit %d\nstderr:\n%s", shellArgs(ch.args), ch.code, ch.stderr.String())
	}
	var keys []int64
	for _, r := range readRecords(t, out) {
		keys = append(keys, r.intKey(t, "id"))
	}
	slices.Sort(keys)
	if c := slices.Compact(slices.Clone(keys)); len(c) != len(keys) {
		t.Errorf("a key is reported twice: %v", keys)
	}
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return keys, ch, s
}

// asRole creates a database of smallTable on clA and clB, with plantB on b, and the login role (cluster-wide,
// once), then runs setup on both (%[1]s is the database). It returns the database and the role's DSN for a
// cluster.
func asRole(t *testing.T, role, setup string) (string, func(*pgcluster.Cluster) string) {
	t.Helper()
	db := newDB(t, role, []*pgcluster.Cluster{clA, clB}, smallTable)
	execSQL(t, clB, db, plantB)
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		execSQL(t, c, db, fmt.Sprintf(`DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[2]s') THEN CREATE ROLE %[2]s LOGIN; END IF; END $$;`+setup,
			db, role))
	}
	return db, func(c *pgcluster.Cluster) string {
		return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", c.Port(), role, db)
	}
}

// TestReadOnlyRole diffs as a role that may do nothing but connect, look up the schema and select from
// the table: rowdiff must need no other privilege (no temp tables, no functions of its own).
func TestReadOnlyRole(t *testing.T) {
	db, ro := asRole(t, "ro", `
REVOKE ALL ON DATABASE %[1]s FROM PUBLIC;
GRANT CONNECT ON DATABASE %[1]s TO ro;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO ro;
GRANT SELECT ON t TO ro;`)
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		// The privileges really are that narrow (checked by the server, not assumed).
		if n := queryInt(t, c, db, `SELECT count(*) FROM (VALUES
  (has_database_privilege('ro', current_database(), 'CREATE')),
  (has_database_privilege('ro', current_database(), 'TEMPORARY')),
  (has_schema_privilege('ro', 'public', 'CREATE')),
  (has_table_privilege('ro', 'public.t', 'INSERT')),
  (has_table_privilege('ro', 'public.t', 'UPDATE')),
  (has_table_privilege('ro', 'public.t', 'DELETE')),
  (has_table_privilege('ro', 'public.t', 'TRUNCATE')),
  (has_table_privilege('ro', 'public.t', 'TRIGGER')),
  (has_table_privilege('ro', 'public.t', 'REFERENCES')),
  ((SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = 'ro'))
) p(granted) WHERE granted`); n != 0 {
			t.Fatalf("cluster %s: role ro has %d privileges too many", c.Name(), n)
		}
	}
	want := truthKeys(t, clA, clB, db)
	got, ch, _ := diffKeys(t, ro(clA), ro(clB))
	if ch.code != 1 || !slices.Equal(got, want) {
		t.Errorf("as role ro: exit %d, keys %v; want exit 1, keys %v\nstderr:\n%s", ch.code, got, want, ch.stderr.String())
	}
}

// TestRowLevelSecurity diffs as a role under a row-level security policy that hides every planted
// difference: the rows it may see are identical. Reading through the policy would report the tables
// equal; rowdiff must fail instead, naming row-level security, and write nothing.
func TestRowLevelSecurity(t *testing.T) {
	db, dsn := asRole(t, "tenant", `
GRANT CONNECT ON DATABASE %[1]s TO tenant;
GRANT SELECT ON t TO tenant;
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON t FOR SELECT TO tenant USING (id = 1 OR id BETWEEN 6 AND 200);`)
	if want := truthKeys(t, clA, clB, db); len(want) != 5 {
		t.Fatalf("test setup: %d differences planted, want 5", len(want))
	}
	// The policy really hides them: what the role sees is the same on both nodes.
	seen := func(c *pgcluster.Cluster) string {
		conn, err := pgx.Connect(t.Context(), dsn(c))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		var s string
		if err := conn.QueryRow(t.Context(), "SELECT string_agg(to_jsonb(t)::text, ',' ORDER BY id) FROM t").Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if seen(clA) != seen(clB) {
		t.Fatal("test setup: the policy leaves differences visible to the role")
	}
	dir := t.TempDir()
	args := append([]string{"diff", "--table", "t"}, nodeArg("a", dsn(clA))...)
	args = append(args, nodeArg("b", dsn(clB))...)
	ch := runRowdiff(t, append(args, "--out", filepath.Join(dir, "o.jsonl"))...)
	if ch.code != 2 || !strings.Contains(ch.stderr.String(), "row-level security") || !strings.Contains(ch.stderr.String(), "BYPASSRLS") {
		t.Errorf("as a role under a policy: exit %d, want 2 naming row-level security\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	// Nothing printed before the error may read like a verdict. (The run now fails as it locks the table
	// at lookup, before any summary: planning a read of it meets the policy.)
	if msg := ch.stderr.String(); strings.Contains(msg, "  differences: 0") {
		t.Errorf("the failed run's stderr states 0 differences, like a verdict:\n%s", msg)
	}
	checkNoOutput(t, dir)
}

// otherLanguage is a locale whose PostgreSQL messages are not English: CI's machine generates it (.ci/run),
// as TestMonetaryLocale needs it too.
const otherLanguage = "de_DE.utf8"

// inOtherLanguage sets lc_messages to otherLanguage for role in db on both clusters (as a superuser: a role
// cannot set it itself) and checks that the server's messages to the role are not English.
func inOtherLanguage(t *testing.T, db, role string, dsn func(*pgcluster.Cluster) string) {
	t.Helper()
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		ctx, cancel := setupContext()
		err := c.Exec(ctx, db, fmt.Sprintf("ALTER ROLE %s IN DATABASE %s SET lc_messages = '%s'", role, db, otherLanguage))
		cancel()
		if err != nil {
			t.Fatalf("cluster %s: lc_messages %s: %v\nThe test needs that locale on this machine, generated before the test's "+
				"clusters start: as root, `localedef -i de_DE -f UTF-8 de_DE.UTF-8` (Debian package locales; .ci/run does this)",
				c.Name(), otherLanguage, err)
		}
		conn, err := pgx.Connect(t.Context(), dsn(c))
		if err != nil {
			t.Fatal(err)
		}
		_, err = conn.Exec(t.Context(), "SELECT 1/0")
		conn.Close(context.Background())
		if err == nil || strings.Contains(err.Error(), "division by zero") {
			t.Fatalf("test setup: cluster %s: the role's messages are in English under lc_messages %s (%v): PostgreSQL's "+
				"German translations (postgres-15.mo) are missing", c.Name(), otherLanguage, err)
		}
	}
}

// TestHintsInAnotherLanguage: rowdiff's hints were chosen by the English text of the server's messages, and
// vanished for a role whose lc_messages is another language (found by a tester). Under German messages a
// row-level security policy and rowdiff's own statement timeout must still be named, with what to do.
func TestHintsInAnotherLanguage(t *testing.T) {
	run := func(dsn func(*pgcluster.Cluster) string, extra ...string) *child {
		dir := t.TempDir()
		args := append([]string{"diff", "--table", "t"}, nodeArg("a", dsn(clA))...)
		args = append(args, nodeArg("b", dsn(clB))...)
		ch := runRowdiff(t, append(append(args, "--out", filepath.Join(dir, "o.jsonl")), extra...)...)
		checkNoOutput(t, dir)
		return ch
	}
	t.Run("row-level security", func(t *testing.T) {
		db, dsn := asRole(t, "deutsch", `
GRANT CONNECT ON DATABASE %[1]s TO deutsch;
GRANT SELECT ON t TO deutsch;
ALTER TABLE t ENABLE ROW LEVEL SECURITY;
CREATE POLICY some_rows ON t FOR SELECT TO deutsch USING (id > 100);`)
		inOtherLanguage(t, db, "deutsch", dsn)
		ch := run(dsn)
		if msg := ch.stderr.String(); ch.code != 2 || !strings.Contains(msg, "row-level security") || !strings.Contains(msg, "BYPASSRLS") {
			t.Errorf("exit %d, want 2 naming row-level security and BYPASSRLS\nstderr:\n%s", ch.code, msg)
		}
	})
	t.Run("statement timeout", func(t *testing.T) {
		db, dsn := asRole(t, "deutsch", `
GRANT CONNECT ON DATABASE %[1]s TO deutsch;
GRANT SELECT ON t TO deutsch;`)
		inOtherLanguage(t, db, "deutsch", dsn)
		// 200 rows of 10 ms each: the one hash of the table takes 2 s, and the setup statements far less than 300 ms.
		ch := run(dsn, "--statement-timeout", "300ms", "--where", "pg_catalog.pg_sleep(0.01) IS NOT NULL")
		if msg := ch.stderr.String(); ch.code != 2 || !strings.Contains(msg, "57014") || !strings.Contains(msg, "raise --statement-timeout") {
			t.Errorf("exit %d, want 2 (SQLSTATE 57014) saying to raise --statement-timeout\nstderr:\n%s", ch.code, msg)
		}
	})
}

// TestColumnPrivileges diffs as a role granted SELECT on some columns of the table only, no table-level
// SELECT: comparing the granted columns must work (LOCK TABLE needs the table's SELECT, and a compare's
// SELECT * every column's; both refused it), and a run that needs a column the role may not read on one
// node must fail with exit 2 naming that node, the table, the column and missing column privileges.
func TestColumnPrivileges(t *testing.T) {
	db, dsn := asRole(t, "colsel", `
GRANT CONNECT ON DATABASE %[1]s TO colsel;
GRANT SELECT (id, a, n) ON t TO colsel;`)
	// More rows, alike on both nodes, so that compares read several closed key ranges at once.
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		execSQL(t, c, db, "INSERT INTO t SELECT g, 'row ' || g, g, timestamptz '2024-06-01 00:00:00+00' FROM generate_series(1000, 3999) g")
	}
	execSQL(t, clB, db, "UPDATE t SET a = 'changed' WHERE id % 100 = 7; UPDATE t SET ts = ts - interval '1 day' WHERE id % 400 = 9")
	// ts is granted on node a alone: the role reads every column there, and only a and n on node b.
	execSQL(t, clA, db, "GRANT SELECT (ts) ON t TO colsel")
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		if n := queryInt(t, c, db, "SELECT count(*) FROM (VALUES (has_table_privilege('colsel', 'public.t', 'SELECT')), "+
			"(has_table_privilege('colsel', 'public.t', 'UPDATE'))) p(granted) WHERE granted"); n != 0 {
			t.Fatalf("test setup: cluster %s: role colsel has a table privilege", c.Name())
		}
	}
	// The truth, read as the tables' owner: the ids whose key or compared columns differ (a full join by key).
	want := truthKeysOf(t, clA, clB, db, "SELECT id, jsonb_build_array(a, n)::text FROM public.t")
	if len(want) < 8 {
		t.Fatalf("test setup: %d differences in (a, n), want at least 8: %v", len(want), want)
	}
	if all := truthKeys(t, clA, clB, db); len(all) <= len(want) {
		t.Fatalf("test setup: ts differs in no row where a and n are alike (%d against %d)", len(all), len(want))
	}
	// Unanalyzed, the key is cut by sampling, its ranges' buckets read back by number; analyzed, it is cut
	// arithmetically, and the compares of several closed ranges join their bounds to the table.
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			for _, c := range []*pgcluster.Cluster{clA, clB} {
				execSQL(t, c, db, "ANALYZE t")
			}
		}
		for _, cols := range [][]string{{"--columns", "a,n"}, {"--exclude-columns", "ts"}, {"--columns", "a,n", "--leaf-rows", "4"}} {
			got, ch, _ := diffKeys(t, dsn(clA), dsn(clB), cols...)
			if ch.code != 1 || !slices.Equal(got, want) {
				t.Errorf("as role colsel with %v (analyzed: %v): exit %d, keys %v; want exit 1, keys %v\nstderr:\n%s",
					cols, analyzed, ch.code, got, want, ch.stderr.String())
			}
		}
	}

	// All columns: ts is needed, and node b does not grant it.
	dir := t.TempDir()
	args := append([]string{"diff", "--table", "t"}, nodeArg("a", dsn(clA))...)
	args = append(args, nodeArg("b", dsn(clB))...)
	ch := runRowdiff(t, append(args, "--out", filepath.Join(dir, "o.jsonl"))...)
	msg := ch.stderr.String()
	if ch.code != 2 || !strings.Contains(msg, "node b: table public.t: column privileges missing") || !strings.Contains(msg, `column "ts"`) ||
		strings.Contains(msg, "node a") {
		t.Errorf("as role colsel, every column: exit %d, want 2 naming node b, public.t, column privileges and column ts\nstderr:\n%s", ch.code, msg)
	}
	checkNoOutput(t, dir)
}

// TestHotStandby diffs a streaming replica, where nothing can be written and a snapshot must be exported
// during recovery: against another node (planted differences found) and against its own primary after
// a replayed write (no differences).
func TestHotStandby(t *testing.T) {
	db := newDB(t, "standby", []*pgcluster.Cluster{clA, clB}, smallTable)
	execSQL(t, clB, db, plantB)
	sb := standbyOfA(t, pgcluster.Options{Name: "a-standby"})
	if queryInt(t, sb, db, "SELECT pg_is_in_recovery()::int") != 1 {
		t.Fatal("the standby is not in recovery")
	}

	want := truthKeys(t, sb, clB, db)
	got, ch, _ := diffKeys(t, sb.DSN(db), clB.DSN(db))
	if ch.code != 1 || !slices.Equal(got, want) {
		t.Errorf("standby vs b: exit %d, keys %v; want exit 1, keys %v\nstderr:\n%s", ch.code, got, want, ch.stderr.String())
	}

	execSQL(t, clA, db, "UPDATE t SET a = 'written on the primary' WHERE id = 10; INSERT INTO t VALUES (500, 'new', 5, now())")
	waitReplay(t, sb, clA)
	if n := queryInt(t, sb, db, "SELECT count(*) FROM t WHERE id = 500 OR a = 'written on the primary'"); n != 2 {
		t.Fatalf("the standby shows %d of the 2 replayed rows", n)
	}
	if w := truthKeys(t, sb, clA, db); len(w) != 0 {
		t.Fatalf("truth: standby and primary differ in %v after replay", w)
	}
	rows := queryInt(t, clA, db, "SELECT count(*) FROM t")
	got, ch, sum := diffKeys(t, sb.DSN(db), clA.DSN(db))
	if ch.code != 0 || len(got) != 0 {
		t.Errorf("standby vs its primary: exit %d, keys %v; want exit 0, none\nstderr:\n%s", ch.code, got, ch.stderr.String())
	}
	nodes, _ := sum["nodes"].([]any)
	for _, n := range nodes {
		m, _ := n.(map[string]any)
		if r, _ := m["rows"].(float64); int64(r) != rows {
			t.Errorf("summary: node %v read %v rows, want %d", m["name"], m["rows"], rows)
		}
	}
}

// TestStandbyConflict diffs a standby that must cancel rowdiff's snapshot: while a slow diff of the
// standby runs, the primary deletes and vacuums rows that snapshot still sees, and the standby (no delay
// for replay, no feedback to the primary) cancels the queries that could need them. rowdiff must fail
// (exit 2) with the server's reason and what to change on the standby, and write nothing.
func TestStandbyConflict(t *testing.T) {
	db := newDB(t, "conflict", []*pgcluster.Cluster{clA, clB}, smallTable)
	sb := standbyOfA(t, pgcluster.Options{Name: "a-standby-strict",
		// The whole query text, --where last, in pg_stat_activity: rowdiff's hash query, its functions and
		// operators named in pg_catalog, runs past the default 1,024 bytes.
		Settings: map[string]string{"max_standby_streaming_delay": "0", "hot_standby_feedback": "off", "track_activity_query_size": "16384"}})

	dir := t.TempDir()
	// 200 rows at 50 ms each: each query that reads the whole table runs for 10 s.
	args := []string{"diff", "--table", "t", "--where", "pg_catalog.pg_sleep(0.05) IS NOT NULL", "--out", filepath.Join(dir, "o.jsonl")}
	args = append(append(args, nodeArg("standby", sb.DSN(db))...), nodeArg("b", clB.DSN(db))...)
	ch := startRowdiff(t, dir, args...)
	waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"standby": monitor(t, sb)}, func(b backend) bool {
		return b.State == "active" && strings.Contains(b.Query, "pg_sleep")
	}, 1)
	execSQL(t, clA, db, "DELETE FROM t WHERE id > 100")
	execSQL(t, clA, db, "VACUUM t")
	waitReplay(t, sb, clA)
	ch.wait(t, 30*time.Second)
	msg := ch.stderr.String()
	if ch.code != 2 || !strings.Contains(msg, "conflict with recovery") || !strings.Contains(msg, "hot_standby_feedback") {
		t.Errorf("exit %d, want 2 naming the recovery conflict and hot_standby_feedback\nstderr:\n%s", ch.code, msg)
	}
	t.Logf("rowdiff ran %v; stderr: %s", ch.elapsed.Round(time.Millisecond), lastLine(msg))
	checkNoOutput(t, dir)
}

// standbyOfA starts a streaming standby of clA, stopped when the test ends, and waits until it has replayed
// what clA has written.
func standbyOfA(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	sb, err := pgcluster.StartStandby(ctx, clA, opts)
	if err != nil {
		t.Fatalf("start a standby of node a: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Stop(context.Background()); err != nil {
			t.Errorf("stop standby: %v", err)
		}
	})
	waitReplay(t, sb, clA)
	return sb
}

// waitReplay waits until standby has replayed everything primary has written. With synchronous_commit
// off (pgcluster's default) the WAL that pgcluster's WaitReplay waits for may sit unflushed in the
// primary's buffers until a background process happens to flush it, up to ~20 s on an idle primary; a
// synchronously committed transaction every 50 ms flushes it (and everything before it) at once.
func waitReplay(t testing.TB, standby, primary *pgcluster.Cluster) {
	t.Helper()
	nudger := connect(t, primary, "postgres")
	ctx, cancel := setupContext()
	defer cancel()
	if _, err := nudger.Exec(ctx, "SET synchronous_commit = on"); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
			// Assigning a transaction id makes the commit write (and flush) a commit record.
			_, _ = nudger.Exec(ctx, "SELECT pg_catalog.pg_current_xact_id()")
		}
	}()
	err := standby.WaitReplay(ctx, primary)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
}

// lockSample is one rowdiff lock as pg_locks shows it.
type lockSample struct {
	pid                      int32
	xid, locktype, mode, rel string
}

// TestLocksAndReadOnly samples pg_locks on both nodes throughout a diff of the big table: rowdiff may hold
// nothing stronger than AccessShareLock on any relation, and its sessions never get a transaction id
// (the server assigns one at a transaction's first write, so none means nothing was written). Another
// session's transaction_read_only cannot be read from SQL; TestWhereReadOnly proves read-only-ness by
// having the coordinator and the workers attempt writes.
func TestLocksAndReadOnly(t *testing.T) {
	mons := map[string]*pgx.Conn{"a": connect(t, clA, bigDB), "b": connect(t, clB, bigDB)}
	dir := t.TempDir()
	out := filepath.Join(dir, "o.jsonl")
	ch := startRowdiff(t, "", bigArgs("a", "b", out)...)

	var mu sync.Mutex
	var bad []string
	relLocks := map[string]int{}
	samples := map[string]int{}
	var wg sync.WaitGroup
	for name, mon := range mons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-ch.done:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				rows, _ := mon.Query(ctx, `
SELECT a.pid, coalesce(a.backend_xid::text, ''), l.locktype, l.mode,
       coalesce(l.relation::regclass::text, '')
FROM pg_catalog.pg_stat_activity a JOIN pg_catalog.pg_locks l ON l.pid = a.pid
WHERE a.application_name = 'rowdiff'`)
				var s lockSample
				var got []lockSample
				_, err := pgx.ForEachRow(rows, []any{&s.pid, &s.xid, &s.locktype, &s.mode, &s.rel}, func() error {
					got = append(got, s)
					return nil
				})
				cancel()
				mu.Lock()
				if err != nil {
					bad = append(bad, fmt.Sprintf("node %s: sampling pg_locks: %v", name, err))
				}
				samples[name]++
				for _, l := range got {
					switch {
					case l.xid != "":
						bad = append(bad, fmt.Sprintf("node %s: rowdiff backend %d has transaction id %s (it wrote)", name, l.pid, l.xid))
					case l.locktype == "relation" && l.mode != "AccessShareLock":
						bad = append(bad, fmt.Sprintf("node %s: rowdiff backend %d holds %s on %s", name, l.pid, l.mode, l.rel))
					case l.locktype == "transactionid":
						bad = append(bad, fmt.Sprintf("node %s: rowdiff backend %d holds a transactionid lock (%s)", name, l.pid, l.mode))
					case l.locktype == "relation":
						relLocks[name]++
					}
				}
				mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	ch.wait(t, maxChildLife)
	wg.Wait()
	if ch.code != 1 {
		t.Errorf("exit %d, want 1\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	slices.Sort(bad)
	bad = slices.Compact(bad)
	for _, b := range bad {
		t.Error(b)
	}
	for name := range mons {
		// Without seeing rowdiff's locks the check above proves nothing.
		if relLocks[name] == 0 {
			t.Errorf("node %s: %d samples never saw a rowdiff relation lock", name, samples[name])
		}
	}
	t.Logf("samples %v, relation locks seen %v", samples, relLocks)
}

// TestSessionTimeouts checks that the timeout flags reach every session: a tiny statement timeout cancels
// the big diff, a short lock timeout gives up on a table another session holds exclusively (long before
// the 5 s default), and a short idle-in-transaction timeout ends the sessions of a stopped rowdiff, but not
// those that wait for work while the others work.
func TestSessionTimeouts(t *testing.T) {
	t.Run("statement", func(t *testing.T) {
		dir := t.TempDir()
		// 300 ms passes every setup statement but no hash of the big table: a 1 ms timeout can also
		// fire between statements, which PostgreSQL 15 then reports as a cancel "due to user request".
		ch := runRowdiff(t, bigArgs("a", "b", filepath.Join(dir, "o.jsonl"), "--statement-timeout", "300ms", "--where", slowWhere)...)
		if ch.code != 2 || !strings.Contains(ch.stderr.String(), "statement timeout") || !strings.Contains(ch.stderr.String(), "raise --statement-timeout") {
			t.Errorf("exit %d, want 2 with a message about the statement timeout\nstderr:\n%s", ch.code, ch.stderr.String())
		}
		t.Logf("stderr: %s", lastLine(ch.stderr.String()))
		checkNoOutput(t, dir)
	})
	t.Run("lock", func(t *testing.T) {
		db := newDB(t, "locked", []*pgcluster.Cluster{clA, clB}, smallTable)
		holder := connect(t, clB, db)
		ctx, cancel := setupContext()
		defer cancel()
		tx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		args := append([]string{"diff", "--table", "t", "--lock-timeout", "300ms"}, nodeArg("a", clA.DSN(db))...)
		args = append(args, nodeArg("b", clB.DSN(db))...)
		ch := runRowdiff(t, append(args, "--out", filepath.Join(dir, "o.jsonl"))...)
		if ch.code != 2 || !strings.Contains(ch.stderr.String(), "lock timeout") || !strings.Contains(ch.stderr.String(), "another session holds a lock") {
			t.Errorf("exit %d, want 2 with a message about the lock timeout\nstderr:\n%s", ch.code, ch.stderr.String())
		}
		if ch.elapsed > 3*time.Second {
			t.Errorf("took %v with --lock-timeout 300ms", ch.elapsed)
		}
		checkNoOutput(t, dir)
	})
	// Both runs diff a slice of bigTable twice (it, then a view of it, so the second pass starts by using
	// the coordinators), in one range (--block-rows above the row count) whose hash takes at least 3 s
	// (twenty 150 ms sleeps): meanwhile the coordinators and the other sessions wait for work for far
	// longer than --idle-timeout 1s, the shortest it may be.
	idleArgs := func(dir string) []string {
		return bigArgs("a", "b", filepath.Join(dir, "o.jsonl"), "--table", "public.big_again", "--key", "id", "--idle-timeout", "1s", "--block-rows", "2000000",
			"--where", "id <= 20000 AND (id % 1000 <> 0 OR pg_catalog.pg_sleep(0.15) IS NOT NULL)")
	}
	t.Run("idle in transaction while working", func(t *testing.T) {
		// rowdiff pings the waiting sessions: before, the server ended them and the second pass failed.
		ch := runRowdiff(t, idleArgs(t.TempDir())...)
		// 30 % of the 20,000 rows differ, in each of the two passes.
		if msg := ch.stderr.String(); ch.code != 1 || !strings.Contains(msg, "differences: 12000 (12000 changed") {
			t.Errorf("exit %d, want 1 and 12000 differences\nstderr:\n%s", ch.code, msg)
		}
	})
	t.Run("idle in transaction when stopped", func(t *testing.T) {
		// A rowdiff that stops (here SIGSTOP for 2.5 s) sends no pings: the server ends its waiting
		// sessions after --idle-timeout, and the run fails when it next uses one.
		mons := map[string]*pgx.Conn{"a": monitor(t, clA), "b": monitor(t, clB)}
		dir := t.TempDir()
		ch := startRowdiff(t, dir, idleArgs(dir)...)
		waitQueriesN(t, ch, 30*time.Second, mons, isHashQuery, 1)
		if err := ch.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2500 * time.Millisecond)
		if err := ch.cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		ch.wait(t, maxChildLife)
		if msg := ch.stderr.String(); ch.code != 2 || !strings.Contains(msg, "idle-in-transaction") {
			t.Errorf("exit %d, want 2 with a message about the idle-in-transaction timeout\nstderr:\n%s", ch.code, msg)
		}
		t.Logf("stderr: %s", lastLine(ch.stderr.String()))
		checkNoOutput(t, dir)
	})
}
