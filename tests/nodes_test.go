package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestThreeNodes diffs three nodes (UTC, New York, Kolkata): keys missing on one or two of the three,
// rows changed on one of the three, and a row present on one node only. Every record lists all three.
// tk's composite key is cut into ranges at the first node's keys and hashed in buckets of a key hash.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	schema := `CREATE TABLE t (id int PRIMARY KEY, v text, ts timestamptz);
INSERT INTO t SELECT i, 'v' || i, '2020-01-01 00:00:00+00'::timestamptz + i * interval '1 hour' FROM generate_series(1, 600) i;
CREATE TABLE tt (k text PRIMARY KEY, v int);
INSERT INTO tt SELECT 'k' || i, i FROM generate_series(1, 600) i;
CREATE TABLE tk (g text COLLATE "C", n int, v int, PRIMARY KEY (g, n));
INSERT INTO tk SELECT 'g' || i % 7, i, i FROM generate_series(1, 600) i;`
	a := newNode(t, "a", clA, schema, `DELETE FROM t WHERE id % 11 = 1; UPDATE t SET v = 'a' WHERE id % 29 = 6;
DELETE FROM t WHERE id % 31 = 7; DELETE FROM tt WHERE v % 11 = 1; UPDATE tt SET v = -v WHERE v % 29 = 6;
DELETE FROM tk WHERE v % 11 = 1; UPDATE tk SET v = -v WHERE v % 29 = 6;`)
	b := newNode(t, "b", clB, schema, `DELETE FROM t WHERE id % 13 = 2; UPDATE t SET v = 'b' WHERE id % 19 = 4;
DELETE FROM t WHERE id % 31 = 7; DELETE FROM tt WHERE v % 13 = 2; UPDATE tt SET v = -v WHERE v % 19 = 4;
DELETE FROM tk WHERE v % 13 = 2 OR v % 31 = 7; UPDATE tk SET v = -v WHERE v % 19 = 4;`)
	c := newNode(t, "c", clC, schema, `DELETE FROM t WHERE id % 17 = 3; UPDATE t SET ts = ts + interval '1 second' WHERE id % 23 = 5;
INSERT INTO t VALUES (1001, 'only c', NULL); DELETE FROM tt WHERE v % 17 = 3; UPDATE tt SET v = -v WHERE v % 23 = 5;
INSERT INTO tt VALUES ('only c', 0);
DELETE FROM tk WHERE v % 17 = 3; UPDATE tk SET v = 0 WHERE v % 23 = 5; INSERT INTO tk VALUES ('only c', 0, 0);`)
	for _, nodes := range [][]Node{{a, b, c}, {c, a, b}} {
		for _, tbl := range []struct {
			name string
			key  []string
		}{{"t", []string{"id"}}, {"tt", []string{"k"}}, {"tk", []string{"g", "n"}}} {
			want := truth(t, nodes, Spec{Table: tbl.name, Key: tbl.key})
			for _, mode := range [][]string{nil, {"--block-rows", "32", "--leaf-rows", "2"}} {
				r := diff(t, tbl.name, nodes, mode...)
				check(t, r, want, tbl.key, "public."+tbl.name)
			}
		}
	}
	r := diff(t, "t", []Node{a, b, c})
	rec := find(t, r, []string{"id"}, "12") // 12 % 11 = 1: missing on a only
	if rec.Kind != "missing" || rec.Row(t, "a") != nil || rec.Row(t, "b") == nil || rec.Row(t, "c") == nil {
		t.Errorf("id 12: want missing with only a null: %s", rec.Line)
	}
	rec = find(t, r, []string{"id"}, "38") // 38 % 31 = 7: missing on a and b
	if rec.Kind != "missing" || rec.Row(t, "a") != nil || rec.Row(t, "b") != nil || rec.Row(t, "c") == nil {
		t.Errorf("id 38: want missing with a and b null: %s", rec.Line)
	}
	rec = find(t, r, []string{"id"}, "1001")
	if rec.Kind != "missing" || rec.Row(t, "c") == nil {
		t.Errorf("id 1001: want missing, present on c: %s", rec.Line)
	}
	rec = find(t, r, []string{"id"}, "5") // changed on c only
	wantString(t, rec.Row(t, "a"), "ts", "2020-01-01 05:00:00+00")
	wantString(t, rec.Row(t, "c"), "ts", "2020-01-01 05:00:01+00")
	if rec.Kind != "changed" {
		t.Errorf("id 5: want changed: %s", rec.Line)
	}
}

// TestThreeNodesMostlyDifferent diffs three nodes where nearly every row differs, so the rows are read
// whole and decided by their text (see TestMostlyDifferent). The rows left equal under the type's
// equality differ in text only in a numeric column on one or two nodes, sometimes with the first node
// agreeing in text with one of them; those must not be reported, while a real numeric change on one node
// and a row missing on one node must be.
func TestThreeNodesMostlyDifferent(t *testing.T) {
	t.Parallel()
	const rows = 80_000
	schema := fmt.Sprintf(`CREATE TABLE tm (id int8 PRIMARY KEY, v int, num numeric);
INSERT INTO tm SELECT i, i, i / 4.0 FROM generate_series(1, %d) i;
ANALYZE tm;`, rows)
	a := newNode(t, "a", clA, schema)
	b := newNode(t, "b", clB, schema, `UPDATE tm SET v = -v WHERE id % 100 <> 0;
UPDATE tm SET num = round(num, 5) WHERE id % 200 = 0;`)
	c := newNode(t, "c", clC, schema, `UPDATE tm SET num = round(num, 3) WHERE id % 100 = 0;
UPDATE tm SET num = num + 1 WHERE id % 300 = 0; DELETE FROM tm WHERE id % 700 = 0; ANALYZE tm;`)
	for _, nodes := range [][]Node{{a, b, c}, {c, a, b}} {
		want := truth(t, nodes, Spec{Table: "tm", Key: []string{"id"}})
		// Rows 100, 200, ...: changed where id % 300 = 0, missing where id % 700 = 0 (some are both).
		wantN := rows - rows/100 + rows/300 + rows/700 - rows/2100
		if len(want) != wantN {
			t.Fatalf("test setup: %d differences, want %d", len(want), wantN)
		}
		r := diff(t, "tm", nodes)
		check(t, r, want, []string{"id"}, "public.tm")
		if s := r.Summary; s.RangesHashed > 2 || s.RowsCompared < rows {
			t.Errorf("summary: %d ranges hashed, %d rows compared: the table was not read in full compares", s.RangesHashed, s.RowsCompared)
		}
	}
}

// TestThreeNodesTypesApart: over three nodes whose declared types differ, every node's values are compared
// in one common type, and where two nodes alone would compare in a type with another equality no digest
// serves both. Two varchar nodes beside a char(n) one were compared as bpchar ('ab' and 'ab  ' equal),
// two json nodes beside a jsonb one as jsonb (key order lost), and the run exited 0. Such a column is
// refused, naming the pair; types whose conversion keeps every value apart (int against bigint, varchar
// against text) still compare, as PostgreSQL says.
func TestThreeNodesTypesApart(t *testing.T) {
	t.Parallel()
	fill := `INSERT INTO ta SELECT i, 'v' || i, '{"a": 1, "b": 2}', i FROM generate_series(1, 50) i;`
	a := newNode(t, "a", clA, `CREATE TABLE ta (id int PRIMARY KEY, s varchar(5), j json, n int, w varchar(9));`+fill+
		`UPDATE ta SET w = 'x' || id; UPDATE ta SET w = 'x  ' WHERE id = 4; UPDATE ta SET n = 0 WHERE id = 5;`)
	b := newNode(t, "b", clB, `CREATE TABLE ta (id int PRIMARY KEY, s varchar(5), j json, n bigint, w text);`+fill+
		`UPDATE ta SET s = 'v1  ' WHERE id = 1; UPDATE ta SET j = '{"b": 2, "a": 1}' WHERE id = 2;
UPDATE ta SET w = 'x' || id; UPDATE ta SET w = 'x' WHERE id = 4; UPDATE ta SET n = 3000000000 WHERE id = 6;`)
	c := newNode(t, "c", clC, `CREATE TABLE ta (id int PRIMARY KEY, s char(5), j jsonb, n numeric, w varchar(20));`+fill+
		`UPDATE ta SET w = 'x' || id;`)
	nodes := []Node{a, b, c}
	for _, tc := range []struct{ col, pair string }{
		{"s", `column "s" is character varying(5) on a and b, which compare as character varying(5)`},
		{"j", `column "j" is json on a and b, which compare as json`},
	} {
		p := runRowdiff(t, append(append([]string{"diff", "--table", "ta", "--columns", tc.col}, nodeArgs(nodes)...), "--out", filepath.Join(t.TempDir(), "o.jsonl"))...)
		if p.Code != 2 || !strings.Contains(p.Stderr, tc.pair) || !strings.Contains(p.Stderr, "diff a and b apart") {
			t.Errorf("--columns %s over a, b and c: exit %d, want 2 and %q\nstderr:\n%s", tc.col, p.Code, tc.pair, p.Stderr)
		}
	}
	// The same pairs alone compare as PostgreSQL compares them.
	want := truth(t, []Node{a, b}, Spec{Table: "ta", Key: []string{"id"}})
	if len(want) != 5 {
		t.Fatalf("test setup: the truth of a and b has %d differences, want 5 (ids 1, 2, 4, 5, 6)", len(want))
	}
	check(t, diff(t, "ta", []Node{a, b}), want, []string{"id"}, "public.ta")
	// n (int, bigint, numeric) and w (varchar(9), text, varchar(20)) keep every value apart in the common type.
	spec := Spec{Table: "ta", Key: []string{"id"}, Columns: []string{"n", "w"}}
	want = truth(t, nodes, spec)
	if len(want) != 3 {
		t.Fatalf("test setup: the truth of n and w on a, b and c has %d differences, want 3 (ids 4, 5, 6)", len(want))
	}
	check(t, diff(t, "ta", nodes, "--columns", "n,w"), want, []string{"id"}, "public.ta")
}

// TestOneDatabaseTwice: two --node values that reach one database, one by 127.0.0.1 and one by localhost
// (a DSN pasted twice, edited in the wrong place). Its diff with itself exited 0, "0 differences", as a
// replica in step would. Two databases of one server are still two nodes.
func TestOneDatabaseTwice(t *testing.T) {
	t.Parallel()
	const table = "CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT i, i FROM generate_series(1, 100) i;"
	a := newNode(t, "a", clA, table)
	twin := a
	twin.Name, twin.DSN = "b", strings.Replace(a.dsn(), "127.0.0.1", "localhost", 1)
	if twin.DSN == a.dsn() {
		t.Fatalf("test setup: node a's DSN %q names no 127.0.0.1 to replace", a.dsn())
	}
	out := filepath.Join(t.TempDir(), "o.jsonl")
	p := runRowdiff(t, append(append([]string{"diff", "--table", "t", "--out", out}, nodeArgs([]Node{a, twin})...), "--quiet")...)
	if p.Code != 2 || !strings.Contains(p.Stderr, "nodes a and b are one database") {
		t.Errorf("a and b on one database: exit %d, want 2 saying they are one database\nstderr:\n%s", p.Code, p.Stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s exists after the refused run (%v)", out, err)
	}
	b := newNode(t, "b", clA, table+" UPDATE t SET v = -v WHERE id = 7;")
	want := truth(t, []Node{a, b}, Spec{Table: "t", Key: []string{"id"}})
	if len(want) != 1 {
		t.Fatalf("test setup: the truth has %d differences, want 1", len(want))
	}
	check(t, diff(t, "t", []Node{a, b}), want, []string{"id"}, "public.t")
}
