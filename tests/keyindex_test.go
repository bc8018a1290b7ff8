package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rowdiff/rowdiff/internal/testkit"
)

// TestKeyIndexMissing diffs tables whose key no index serves on some node: the primary key exists on
// node a only, or the key named with --key has no index anywhere, or node b's only index on the key
// starts with an expression or uses text_pattern_ops (whose operators are not < and >). An index that
// merely includes other columns serves. Cut into key ranges, every range would cost such a node a sequential scan of
// its whole table; rowdiff reads those tables by key hash instead, a scan per node and one more for the
// differing rows, and says so in the summary. The differences are checked against PostgreSQL's own
// FULL JOIN, and the scans against the nodes' own statistics.
func TestKeyIndexMissing(t *testing.T) {
	t.Parallel()
	table := func(name, def string) string {
		return fmt.Sprintf(`CREATE TABLE %[1]s (id int8 NOT NULL, code text COLLATE "C" NOT NULL, v text%[2]s);
INSERT INTO %[1]s SELECT i, 'C-' || i, 'v' || i FROM generate_series(1, 20000) i; ANALYZE %[1]s;`, name, def)
	}
	plant := func(name string) string {
		return fmt.Sprintf(`UPDATE %[1]s SET v = 'x' WHERE id %% 997 = 1; DELETE FROM %[1]s WHERE id %% 1231 = 5;`, name)
	}
	a := newNode(t, "a", clA,
		table("pk_a_only", ", PRIMARY KEY (id)"),
		table("no_index", ""),
		table("expr_index", ", PRIMARY KEY (id)"),
		table("pattern_index", ", PRIMARY KEY (code)"),
		table("indexed", ", PRIMARY KEY (id)"),
		table("include_index", ", PRIMARY KEY (id)"),
		table("pk_include", ", PRIMARY KEY (id) INCLUDE (v)"),
		`DELETE FROM no_index WHERE id % 1500 = 7;`)
	b := newNode(t, "b", clB,
		table("pk_a_only", ""),
		table("no_index", ""),
		table("expr_index", ", PRIMARY KEY (id)")+`ALTER TABLE expr_index DROP CONSTRAINT expr_index_pkey;
CREATE INDEX ON expr_index ((id % 10), id); CREATE INDEX ON expr_index (v) INCLUDE (id);`,
		table("pattern_index", "")+`CREATE UNIQUE INDEX ON pattern_index (code text_pattern_ops);`,
		table("indexed", ", PRIMARY KEY (id)"),
		table("include_index", "")+`CREATE UNIQUE INDEX ON include_index (id) INCLUDE (v);`,
		table("pk_include", ", PRIMARY KEY (id) INCLUDE (v)"),
		plant("pk_a_only")+plant("no_index")+plant("expr_index")+plant("pattern_index")+plant("indexed")+plant("include_index")+plant("pk_include"))
	nodes := []Node{a, b}
	seqScans := func(n Node, tbl string) int64 { return seqScansOf(t, n, tbl) }
	for _, c := range []struct {
		table, key string
		// why is what the summary must say, "" for a table read by key ranges.
		why string
	}{
		{"pk_a_only", "id", "node b: no btree index starts with the key (id)"},
		{"no_index", "code", "node a: no btree index starts with the key (code)"},
		{"expr_index", "id", "node b: no btree index starts with the key (id)"},
		// Its unique index stands for the key; the reason names it, which read as a contradiction unsaid.
		{"pattern_index", "code", "node b: no btree index starts with the key (code) in the columns' own collation and operator class (index pattern_index_code_idx uses another)"},
		{"indexed", "id", ""},
		{"include_index", "id", ""},
	} {
		want := truth(t, nodes, Spec{Table: c.table, Key: []string{c.key}})
		before := []int64{seqScans(a, c.table), seqScans(b, c.table)}
		// Ranges of 512 rows: about forty of them, each a whole-table scan on a node without the index.
		r := diff(t, c.table, nodes, "--key", c.key, "--block-rows", "512", "--leaf-rows", "8")
		check(t, r, want, []string{c.key}, "public."+c.table)
		if len(r.Summary.Tables) != 1 || r.Summary.Tables[0].KeyScan != c.why {
			t.Errorf("%s: summary tables %+v, want key_scan %q", c.table, r.Summary.Tables, c.why)
		}
		if c.why != "" && !strings.Contains(r.Stderr, "read by key hash") {
			t.Errorf("%s: the summary on stderr does not say the table was read by key hash:\n%s", c.table, r.Stderr)
		}
		for i, n := range nodes {
			scans := seqScans(n, c.table) - before[i]
			if c.why != "" && scans > 2 {
				t.Errorf("%s: node %s scanned the table %d times, want at most 2 (the hash, then the differing rows)", c.table, n.Name, scans)
			}
			if c.why == "" && scans > 1 {
				t.Errorf("%s: node %s scanned the indexed table %d times, want at most 1", c.table, n.Name, scans)
			}
		}
		if c.why != "" {
			// Structured logs carry it as a warning record of its own.
			r := diff(t, c.table, nodes, "--key", c.key, "--log-format", "json")
			warned := false
			for _, line := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
				var rec struct{ Level, Msg, Table, Reason string }
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("%s: --log-format json wrote a line that is not JSON: %v: %s", c.table, err, line)
				}
				warned = warned || (rec.Level == "WARN" && rec.Msg == "table read by key hash" && rec.Table == "public."+c.table && rec.Reason == c.why)
			}
			if !warned {
				t.Errorf("%s: no warning record with reason %q among the structured logs:\n%s", c.table, c.why, r.Stderr)
			}
		}
	}
	// The key of a primary key with INCLUDE columns is its key columns alone: a changed v is a changed
	// row, not one key missing on each side.
	want := truth(t, nodes, Spec{Table: "pk_include", Key: []string{"id"}})
	check(t, diff(t, "pk_include", nodes), want, []string{"id"}, "public.pk_include")
}

// TestTextKeyInCDatabase diffs and rechecks text keys in databases created with LOCALE 'C', where the
// default collation orders by bytes but is not the collation named "C": an index on such a column serves
// no condition written with COLLATE "C". A recheck that wrote them so read the whole table once per 256
// keys (168 s for 29,913 keys of a 10M-row table, 0.84 s with the index), and a diff by key ranges once
// per compare (260 s for a 1M-row table, 3.8 s with it). Node b names COLLATE "C" on tk's key, which
// follows the table's order and is read by key ranges; tk2's key has two text columns, the first in no
// order, so it is read by key hash. Both diffs and rechecks are checked against PostgreSQL's own FULL JOIN,
// and the scans against the nodes' own statistics: the recheck reads no table whole, nor does tk's diff.
func TestTextKeyInCDatabase(t *testing.T) {
	t.Parallel()
	tables := func(coll string) string {
		return fmt.Sprintf(`CREATE TABLE tk (k text%[1]s PRIMARY KEY, v int);
INSERT INTO tk SELECT lpad(i::text, 6, '0') || '-' || md5(i::text), i FROM generate_series(1, 20000) i;
CREATE TABLE tk2 (tenant varchar(8), name text, v int, PRIMARY KEY (tenant, name));
INSERT INTO tk2 SELECT (ARRAY['B', 'a', '_', 'é'])[1 + i %% 4], md5(i::text), i FROM generate_series(1, 20000) i;
ANALYZE;`, coll)
	}
	a := newNodeWith(t, "a", clA, "LOCALE 'C' TEMPLATE template0", tables(""),
		`UPDATE tk SET v = -v WHERE v % 997 = 1; DELETE FROM tk2 WHERE v % 1231 = 5;`)
	b := newNodeWith(t, "b", clB, "LOCALE 'C' TEMPLATE template0", tables(` COLLATE "C"`),
		`DELETE FROM tk WHERE v % 1499 = 3; UPDATE tk2 SET v = 0 WHERE v % 883 = 2;`)
	nodes := []Node{a, b}
	scans := func(tbl string) (n [2]int64) {
		for i, node := range nodes {
			n[i] = seqScansOf(t, node, tbl)
		}
		return n
	}
	for _, c := range []struct {
		table, key string
		diffScans  bool // whether to check the diff's scans
	}{{"tk", "k", true}, {"tk2", "tenant,name", false}} {
		keys := strings.Split(c.key, ",")
		want := truth(t, nodes, Spec{Table: c.table, Key: keys})
		if len(want) < 30 {
			t.Fatalf("%s: planted %d differences, want at least 30", c.table, len(want))
		}
		before := scans(c.table)
		// Ranges of 2,048 rows: one range of the whole table would be read by a scan, as it should be.
		r := diff(t, c.table, nodes, "--block-rows", "2048", "--leaf-rows", "8")
		check(t, r, want, keys, "public."+c.table)
		if r.Summary.Tables[0].KeyScan != "" {
			t.Errorf("%s: the summary says no index serves the key: %s", c.table, r.Summary.Tables[0].KeyScan)
		}
		after := scans(c.table)
		for i, n := range nodes {
			if d := after[i] - before[i]; c.diffScans && d > 1 {
				t.Errorf("%s: the diff scanned node %s's table %d times, want at most once: its key index went unused", c.table, n.Name, d)
			}
		}
		rc := recheckOf(t, r, nodes)
		check(t, rc, want, keys, "public."+c.table)
		for i, n := range nodes {
			if d := scans(c.table)[i] - after[i]; d > 0 {
				t.Errorf("%s: the recheck of %d keys scanned node %s's table %d times, want none: its key index went unused", c.table, len(want), n.Name, d)
			}
		}
	}
}

// recheckOf runs `rowdiff recheck` on the keys of r's output and parses its output like diff.
func recheckOf(t *testing.T, r *Result, nodes []Node) *Result {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in.jsonl")
	var lines []string
	for _, rec := range r.Records {
		lines = append(lines, rec.Line)
	}
	if err := os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "summary.json")
	p := runRowdiff(t, append([]string{"recheck", "--in", in, "--out", out, "--summary", sum, "--quiet"}, nodeArgs(nodes)...)...)
	if p.Code != 1 {
		t.Fatalf("recheck: exit %d, want 1\nstderr:\n%s", p.Code, p.Stderr)
	}
	rc := &Result{Proc: p, Nodes: r.Nodes}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	rc.Records = parseJSONL(t, string(data), r.Nodes)
	if data, err = os.ReadFile(sum); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rc.Summary); err != nil {
		t.Fatalf("recheck summary is not JSON: %v", err)
	}
	return rc
}

// seqScansOf is n's count of sequential scans of tbl, once it settles.
func seqScansOf(t *testing.T, n Node, tbl string) int64 {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	scans, err := testkit.SeqScans(ctx, n.dsn(), tbl)
	if err != nil {
		t.Fatalf("node %s: sequential scans of %s: %v", n.Name, tbl, err)
	}
	return scans
}
