package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// record is one parsed JSON Lines record.
type record struct {
	Table string                     `json:"table"`
	Key   map[string]json.RawMessage `json:"key"`
	Kind  string                     `json:"kind"`
	Nodes map[string]json.RawMessage `json:"nodes"`
	line  string
}

// readRecords parses a JSON Lines output file.
func readRecords(t testing.TB, path string) []record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no output file: %v", err)
	}
	var recs []record
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		var r record
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("not a record: %v: %s", err, abbrev(line, 500))
		}
		r.line = line
		recs = append(recs, r)
	}
	return recs
}

// intKey returns the record's single integer key column col.
func (r record) intKey(t testing.TB, col string) int64 {
	t.Helper()
	var k int64
	if err := json.Unmarshal(r.Key[col], &k); err != nil || len(r.Key) != 1 {
		t.Fatalf("record key is not {%q: integer}: %s", col, abbrev(r.line, 500))
	}
	return k
}

// row decodes node's row (nil when the key is absent there), numbers kept as json.Number.
func (r record) row(t testing.TB, node string) map[string]any {
	t.Helper()
	raw, ok := r.Nodes[node]
	if !ok {
		t.Fatalf("record has no node %q: %s", node, abbrev(r.line, 500))
	}
	if string(raw) == "null" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("node %s row is not an object: %v: %s", node, err, abbrev(r.line, 500))
	}
	return m
}

// TestHostileIdentifiers feeds SQL through every identifier flag. Identifiers must be treated as names,
// never as SQL: each run fails with exit 2 and the table is still there with every row.
func TestHostileIdentifiers(t *testing.T) {
	const rows = 100
	db := newDB(t, "hostile", []*pgcluster.Cluster{clA, clB},
		fmt.Sprintf("CREATE TABLE t (id int PRIMARY KEY, a int, b int); INSERT INTO t SELECT g, g, g FROM generate_series(1, %d) g", rows))
	execSQL(t, clB, db, "UPDATE t SET a = -7 WHERE id = 7")
	nodes := append(nodeArg("a", clA.DSN(db)), nodeArg("b", clB.DSN(db))...)

	for _, flags := range [][]string{
		{"--table", "public.t; drop table t"},
		{"--table", `t"; drop table t; --`},
		{"--table", `public."t; drop table t"`},
		{"--table", "t", "--key", "id; drop table t"},
		{"--table", "t", "--key", `id"; drop table t; --`},
		{"--table", "t", "--columns", "a,b) from t; --"},
		{"--table", "t", "--columns", `a,"b"" from t; drop table t; --"`},
		{"--table", "t", "--exclude-columns", "b; drop table t"},
		{"--schema", "public; drop table t"},
		{"--schema", `public"; drop table t; --`},
	} {
		t.Run(strings.Join(flags, " "), func(t *testing.T) {
			dir := t.TempDir()
			args := append(append([]string{"diff"}, flags...), nodes...)
			args = append(args, "--out", filepath.Join(dir, "o.jsonl"))
			ch := runRowdiff(t, args...)
			if ch.code != 2 {
				t.Errorf("exit %d, want 2\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			checkNoOutput(t, dir)
			checkTableIntact(t, db, rows)
		})
	}
}

// checkTableIntact fails the test unless public.t exists with n rows on clA and clB.
func checkTableIntact(t testing.TB, db string, n int64) {
	t.Helper()
	for _, c := range []*pgcluster.Cluster{clA, clB} {
		if got := queryInt(t, c, db, "SELECT count(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('public.t')"); got != 1 {
			t.Fatalf("cluster %s: table public.t is gone", c.Name())
		}
		if got := queryInt(t, c, db, "SELECT count(*) FROM public.t"); got != n {
			t.Fatalf("cluster %s: public.t has %d rows, want %d", c.Name(), got, n)
		}
	}
}

// TestOddIdentifiers diffs a table whose schema, table and column names need quoting in every way: a dot
// in the schema name, a space, a non-ASCII letter and a double quote in the table name, mixed case with
// a space and a reserved word as column names. The planted differences must be found exactly.
func TestOddIdentifiers(t *testing.T) {
	setup := `
CREATE SCHEMA "Sch.ema";
CREATE TABLE "Sch.ema"."Tä ble""x" (id int PRIMARY KEY, "Mixed Case" text, "select" int);
INSERT INTO "Sch.ema"."Tä ble""x" SELECT g, 'row ' || g, g FROM generate_series(1, 50) g;`
	db := newDB(t, "odd", []*pgcluster.Cluster{clA, clB}, setup)
	execSQL(t, clB, db, `
UPDATE "Sch.ema"."Tä ble""x" SET "Mixed Case" = 'changed' WHERE id = 2;
UPDATE "Sch.ema"."Tä ble""x" SET "select" = -3 WHERE id = 3;
DELETE FROM "Sch.ema"."Tä ble""x" WHERE id = 4;
INSERT INTO "Sch.ema"."Tä ble""x" VALUES (51, 'only on b', 51);`)
	nodes := append(nodeArg("a", clA.DSN(db)), nodeArg("b", clB.DSN(db))...)
	const qualified = `"Sch.ema"."Tä ble""x"`

	for _, tc := range []struct {
		name  string
		flags []string
		cols  []string // compared columns besides id
	}{
		{"table", []string{"--table", qualified}, []string{"Mixed Case", "select"}},
		{"schema", []string{"--schema", `"Sch.ema"`}, []string{"Mixed Case", "select"}},
		{"key and columns", []string{"--table", qualified, "--key", `"id"`, "--columns", `"select"`}, []string{"select"}},
		{"exclude", []string{"--table", qualified, "--exclude-columns", `"select"`}, []string{"Mixed Case"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := oddTruth(t, db, qualified, tc.cols)
			dir := t.TempDir()
			out := filepath.Join(dir, "o.jsonl")
			args := append(append([]string{"diff"}, tc.flags...), nodes...)
			ch := runRowdiff(t, append(args, "--out", out)...)
			if ch.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			recs := readRecords(t, out)
			var got []int64
			for _, r := range recs {
				k := r.intKey(t, "id")
				got = append(got, k)
				w, ok := want[k]
				if !ok {
					t.Errorf("key %d reported but does not differ: %s", k, r.line)
					continue
				}
				if !strings.Contains(r.Table, "Tä ble") {
					t.Errorf("record names table %q", r.Table)
				}
				for _, node := range []string{"a", "b"} {
					row := r.row(t, node)
					if (row == nil) != (w[node] == nil) {
						t.Errorf("key %d node %s: row %v, want %v", k, node, row, w[node])
						continue
					}
					for col, v := range w[node] {
						if fmt.Sprint(row[col]) != v {
							t.Errorf("key %d node %s column %q: %v, want %s (%s)", k, node, col, row[col], v, r.line)
						}
					}
				}
			}
			var keys []int64
			for k := range want {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			slices.Sort(got)
			if !slices.Equal(got, keys) {
				t.Errorf("reported keys %v, want %v", got, keys)
			}
		})
	}
}

// oddTruth reads the table from both nodes and returns, per differing id, each node's values of cols
// (text form; nil for a missing row). Only cols are compared.
func oddTruth(t testing.TB, db, qualified string, cols []string) map[int64]map[string]map[string]string {
	t.Helper()
	sel := "id::text"
	for _, c := range cols {
		sel += ", " + pgx.Identifier{c}.Sanitize() + "::text"
	}
	read := func(c *pgcluster.Cluster) map[int64][]string {
		conn := connect(t, c, db)
		rows, _ := conn.Query(context.Background(), "SELECT "+sel+" FROM "+qualified)
		m := map[int64][]string{}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			var id int64
			fmt.Sscan(vals[0].(string), &id)
			var vs []string
			for _, v := range vals[1:] {
				vs = append(vs, fmt.Sprint(v))
			}
			m[id] = vs
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := read(clA), read(clB)
	out := map[int64]map[string]map[string]string{}
	ids := map[int64]bool{}
	for k := range a {
		ids[k] = true
	}
	for k := range b {
		ids[k] = true
	}
	asRow := func(vs []string, ok bool) map[string]string {
		if !ok {
			return nil
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = vs[i]
		}
		return m
	}
	for k := range ids {
		va, okA := a[k]
		vb, okB := b[k]
		if okA && okB && slices.Equal(va, vb) {
			continue
		}
		out[k] = map[string]map[string]string{"a": asRow(va, okA), "b": asRow(vb, okB)}
	}
	if len(out) == 0 {
		t.Fatal("truth: no differences planted")
	}
	return out
}

// TestWhereReadOnly checks that --where runs inside a read-only transaction: a filter that only reads
// (even one taking an advisory lock) works, while filters that try to write, or to switch the
// transaction to read-write first, fail with exit 2 and change nothing.
func TestWhereReadOnly(t *testing.T) {
	const rows = 100
	db := newDB(t, "where", []*pgcluster.Cluster{clA, clB},
		fmt.Sprintf("CREATE TABLE t (id int PRIMARY KEY, a int, b int); INSERT INTO t SELECT g, g, g FROM generate_series(1, %d) g", rows),
		// A volatile function that writes: the most direct way a filter can try to modify data.
		`CREATE FUNCTION zap() RETURNS int LANGUAGE plpgsql AS $$ BEGIN DELETE FROM t; RETURN 1; END $$`,
		// zap_in_hash writes only when called from a bucket hash query, which only workers run: it proves
		// the workers' sessions read-only too, not just the coordinator's.
		`CREATE FUNCTION zap_in_hash() RETURNS int LANGUAGE plpgsql AS $$ BEGIN
		   IF pg_catalog.current_query() LIKE '%bit_xor%' THEN DELETE FROM t; END IF; RETURN 1; END $$`,
		`CREATE SEQUENCE s`,
		`ANALYZE t`)
	execSQL(t, clB, db, "UPDATE t SET a = -7 WHERE id = 7")
	nodes := append(nodeArg("a", clA.DSN(db)), nodeArg("b", clB.DSN(db))...)

	// A filter that takes an exclusive transaction-level lock blocks rowdiff's own sessions: each holds
	// the lock until its snapshot transaction ends, so the next session times out. README documents
	// that --where must only read; the failure must be a clean exit 2 naming the lock timeout.
	t.Run("exclusive xact lock", func(t *testing.T) {
		dir := t.TempDir()
		args := append([]string{"diff", "--table", "t", "--where", "id > 0 AND (SELECT pg_catalog.pg_advisory_xact_lock(1)) IS NOT NULL", "--lock-timeout", "1s"}, nodes...)
		ch := runRowdiff(t, append(args, "--out", filepath.Join(dir, "o.jsonl"))...)
		if ch.code != 2 || !strings.Contains(ch.stderr.String(), "lock timeout") {
			t.Errorf("exit %d, want 2 with a lock timeout\nstderr:\n%s", ch.code, ch.stderr.String())
		}
		checkNoOutput(t, dir)
	})
	// Filters that only read work, even with a shared lock.
	for _, where := range []string{
		"id > 0 AND (SELECT pg_catalog.pg_advisory_xact_lock_shared(1)) IS NOT NULL",
	} {
		t.Run(where, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "o.jsonl")
			// A short lock timeout: a filter waiting on a lock fails after 1 s instead of the default 5 s.
			args := append([]string{"diff", "--table", "t", "--where", where, "--lock-timeout", "1s"}, nodes...)
			ch := runRowdiff(t, append(args, "--out", out)...)
			if ch.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			var keys []int64
			for _, r := range readRecords(t, out) {
				keys = append(keys, r.intKey(t, "id"))
			}
			if !slices.Equal(keys, []int64{7}) {
				t.Errorf("reported keys %v, want [7]", keys)
			}
		})
	}

	for _, tc := range []struct {
		where string
		// cause is a fragment stderr must contain besides "read-only transaction", or "" when any error
		// will do.
		cause string
	}{
		{"id IN (SELECT 1 FROM pg_catalog.pg_class) AND 1=(WITH x AS (DELETE FROM t RETURNING 1) SELECT 1)", ""},
		{"id > 0 AND public.zap() = 1", "read-only transaction"},
		{"public.zap_in_hash() = 1", "hash range"},
		{"id > 0 AND pg_catalog.nextval('public.s') > 0", "read-only transaction"},
		{"id > 0 AND pg_catalog.set_config('transaction_read_only', 'off', true) IS NOT NULL AND public.zap() = 1", ""},
		{"true); DELETE FROM t; SELECT (true", ""},
	} {
		t.Run(tc.where, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"diff", "--table", "t", "--where", tc.where}, nodes...)
			ch := runRowdiff(t, append(args, "--out", filepath.Join(dir, "o.jsonl"))...)
			if ch.code != 2 {
				t.Errorf("exit %d, want 2\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			if !strings.Contains(ch.stderr.String(), tc.cause) || (tc.cause != "" && !strings.Contains(ch.stderr.String(), "read-only transaction")) {
				t.Errorf("stderr does not say %q:\n%s", tc.cause, ch.stderr.String())
			}
			t.Logf("stderr: %s", lastLine(ch.stderr.String()))
			checkNoOutput(t, dir)
			checkTableIntact(t, db, rows)
			for _, c := range []*pgcluster.Cluster{clA, clB} {
				if n := queryInt(t, c, db, "SELECT count(*) FROM pg_catalog.pg_sequences WHERE sequencename = 's' AND last_value IS NOT NULL"); n != 0 {
					t.Errorf("cluster %s: sequence s was advanced", c.Name())
				}
			}
		})
	}
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
