package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/testkit"
)

// Record is one parsed JSON Lines record.
type Record struct {
	Table string
	// Key holds the key columns in the order the record lists them.
	Key   []KeyCol
	Kind  string
	Nodes map[string]json.RawMessage
	Line  string
}

// KeyCol is one key column of a record: its name and text form (JSON numbers keep their literal).
type KeyCol struct{ Name, Value string }

// KeyString is the record's key in the truth's canonical form: the key columns' text forms joined by \x1f.
func (r Record) KeyString() string {
	parts := make([]string, len(r.Key))
	for i, k := range r.Key {
		parts[i] = k.Value
	}
	return strings.Join(parts, "\x1f")
}

// Summary mirrors the --summary JSON, with the per-table section.
type Summary struct {
	Table string `json:"table"`
	Nodes []struct {
		Name string `json:"name"`
		Rows int64  `json:"rows"`
	} `json:"nodes"`
	Differences   int64          `json:"differences"`
	Changed       int64          `json:"changed"`
	Missing       int64          `json:"missing"`
	Complete      bool           `json:"complete"`
	Error         string         `json:"error"`
	Tables        []TableSummary `json:"tables"`
	Skipped       []string       `json:"skipped"`
	Rounds        int            `json:"rounds"`
	Different     []string       `json:"different_definitions"`
	Unsupported   []string       `json:"unsupported_keys"`
	MissingTables []string       `json:"missing_tables"`
}

// TableSummary is one entry of the summary's "tables".
type TableSummary struct {
	Table        string  `json:"table"`
	Rows         []int64 `json:"rows"`
	RangesHashed *int64  `json:"ranges_hashed"`
	Differences  int64   `json:"differences"`
	Changed      int64   `json:"changed"`
	Missing      int64   `json:"missing"`
	KeyIndex     string  `json:"key_index"`
}

// Result is a diff or recheck run with its parsed output.
type Result struct {
	Proc
	Out     string // path of the JSON Lines output
	Records []Record
	Summary Summary
}

// diff runs `rowdiff diff` with --out (a fresh .jsonl) and --summary plus args (which name the tables and
// may add flags) and parses the output. Exit codes other than 0 and 1 fail the test.
func diff(t testing.TB, nodes []Node, args ...string) *Result {
	t.Helper()
	return runAndParse(t, "diff", nodes, args...)
}

// recheck runs `rowdiff recheck --in in` like diff.
func recheck(t testing.TB, nodes []Node, in string, args ...string) *Result {
	t.Helper()
	return runAndParse(t, "recheck", nodes, append([]string{"--in", in}, args...)...)
}

func runAndParse(t testing.TB, sub string, nodes []Node, args ...string) *Result {
	t.Helper()
	dir := t.TempDir()
	out, sum := filepath.Join(dir, sub+".jsonl"), filepath.Join(dir, "summary.json")
	all := append([]string{sub}, nodeArgs(nodes...)...)
	all = append(append(all, "--out", out, "--summary", sum), args...)
	p := rowdiff(t, all...)
	if p.Code != 0 && p.Code != 1 {
		t.Fatalf("%s\nexit %d, want 0 or 1\nstderr:\n%s", p, p.Code, p.Stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s\nexit %d but no output file: %v\nstderr:\n%s", p, p.Code, err, p.Stderr)
	}
	r := &Result{Proc: p, Out: out, Records: parseJSONL(t, string(data))}
	sdata, err := os.ReadFile(sum)
	if err != nil {
		t.Fatalf("%s: no summary file: %v\nstderr:\n%s", p, err, p.Stderr)
	}
	if err := json.Unmarshal(sdata, &r.Summary); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, sdata)
	}
	return r
}

// parseJSONL parses JSON Lines output, keeping each record's key columns in order.
func parseJSONL(t testing.TB, data string) []Record {
	t.Helper()
	if data == "" {
		return nil
	}
	var recs []Record
	for i, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		var top struct {
			Table string                     `json:"table"`
			Key   json.RawMessage            `json:"key"`
			Kind  string                     `json:"kind"`
			Nodes map[string]json.RawMessage `json:"nodes"`
		}
		if err := json.Unmarshal([]byte(line), &top); err != nil {
			t.Fatalf("output line %d is not a JSON object: %v\n%s", i+1, err, abbrev(line, 1000))
		}
		r := Record{Table: top.Table, Kind: top.Kind, Nodes: top.Nodes, Line: line}
		d := json.NewDecoder(bytes.NewReader(top.Key))
		d.UseNumber()
		if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("output line %d: key is not an object: %s", i+1, abbrev(line, 1000))
		}
		for d.More() {
			tok, err := d.Token()
			if err != nil {
				t.Fatalf("output line %d: %v", i+1, err)
			}
			var v any
			if err := d.Decode(&v); err != nil {
				t.Fatalf("output line %d: %v", i+1, err)
			}
			var s string
			switch x := v.(type) {
			case json.Number:
				s = x.String()
			case string:
				s = x
			default:
				t.Fatalf("output line %d: key value %v is neither a number nor a string", i+1, v)
			}
			r.Key = append(r.Key, KeyCol{Name: tok.(string), Value: s})
		}
		recs = append(recs, r)
	}
	return recs
}

// keysOf maps each record's canonical key to its kind, failing on a key reported twice.
func keysOf(t testing.TB, recs []Record) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, r := range recs {
		k := r.KeyString()
		if _, dup := m[k]; dup {
			t.Errorf("key %q reported twice", k)
		}
		m[k] = r.Kind
	}
	return m
}

// sameKeys reports every disagreement between the keys rowdiff reported and the expected ones.
func sameKeys(t testing.TB, what string, got, want map[string]string) {
	t.Helper()
	if p := testkit.KindProblems(got, want); p != "" {
		t.Errorf("%s disagrees with the truth %s", what, p)
	}
}

// Spec names a table for the truth: exact names, not SQL.
type Spec struct {
	Schema, Table string
	Key           []string
	// Read, when set, is the relation of the schema the truth reads in Table's place on each node: a view
	// of a parent's own rows (FROM ONLY), since postgres_fdw reads a table with its inheritance children.
	Read string
}

// read is the relation the truth reads.
func (s Spec) read() string {
	if s.Read != "" {
		return s.Read
	}
	return s.Table
}

func (s Spec) schema() string {
	if s.Schema == "" {
		return "public"
	}
	return s.Schema
}

// truth computes by PostgreSQL alone the keys that differ between a and b: both tables become foreign
// tables in truthDB, they are FULL JOINed on the key, and a key differs when it is absent on one side or
// some column is distinct. byText compares every column's text form instead of its type's equality (json
// always compares by text: it has no equality operator). It returns canonical key -> "changed"|"missing".
func truth(t testing.TB, a, b Node, s Spec, byText bool) map[string]string {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	cfg, err := pgx.ParseConfig(clA.DSN(truthDB))
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	// The text forms rowdiff promises, so keys compare as strings.
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
		"extra_float_digits": "3", "bytea_output": "hex"} {
		cfg.RuntimeParams[k] = v
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("truth: connect: %v", err)
	}
	defer conn.Close(context.Background())
	id := uniq()
	var cols []fcol
	for i, n := range []Node{a, b} {
		c := remoteColumns(t, n, s.schema(), s.read())
		if i == 0 {
			cols = c
		}
		srv, sch := fmt.Sprintf("srv%d_%d", id, i), fmt.Sprintf("f%d_%d", id, i)
		defs := make([]string, len(c))
		for j, col := range c {
			defs[j] = ident(col.name) + " " + col.localType
		}
		sql := fmt.Sprintf(`CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d', dbname %s);
CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (user 'postgres');
CREATE SCHEMA %s;
CREATE FOREIGN TABLE %s.t (%s) SERVER %s OPTIONS (schema_name %s, table_name %s);`,
			srv, n.C.Port(), literal(n.DB), srv, sch, sch, strings.Join(defs, ", "), srv, literal(s.schema()), literal(s.read()))
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("truth: foreign table for node %s: %v\n%s", n.Name, err, sql)
		}
	}
	var keyList, keySel, same []string
	for _, k := range s.Key {
		keyList = append(keyList, ident(k))
		i := slices.IndexFunc(cols, func(c fcol) bool { return c.name == k })
		if i < 0 {
			t.Fatalf("truth: key column %q is not in the table", k)
		}
		keySel = append(keySel, testkit.KeyText(ident(k), cols[i].localType))
	}
	same = append(same, "true")
	for _, c := range cols {
		if slices.Contains(s.Key, c.name) {
			continue
		}
		l, r := "n0."+ident(c.name), "n1."+ident(c.name)
		if byText || c.byText {
			l, r = l+"::text", r+"::text"
		}
		same = append(same, fmt.Sprintf("%s IS NOT DISTINCT FROM %s", l, r))
	}
	absent := fmt.Sprintf("n0.%s IS NULL OR n1.%s IS NULL", ident(s.Key[0]), ident(s.Key[0]))
	q := fmt.Sprintf(`SELECT %s, CASE WHEN %s THEN 'missing' ELSE 'changed' END
FROM f%d_0.t n0 FULL JOIN f%d_1.t n1 USING (%s) WHERE %s OR NOT (%s)`,
		strings.Join(keySel, ", "), absent, id, id, strings.Join(keyList, ", "), absent, strings.Join(same, " AND "))
	want, err := testkit.KeyKinds(ctx, conn, q, len(s.Key))
	if err != nil {
		t.Fatalf("truth query: %v\n%s", err, q)
	}
	return want
}

// identical asserts, by PostgreSQL alone, that a and b hold the same rows: no key on one side only and no
// column distinct, neither by the types' equality nor by text form.
func identical(t testing.TB, a, b Node, s Spec) {
	t.Helper()
	for _, byText := range []bool{false, true} {
		if d := truth(t, a, b, s, byText); len(d) > 0 {
			var keys []string
			for k, kind := range d {
				keys = append(keys, fmt.Sprintf("%q (%s)", k, kind))
			}
			sort.Strings(keys)
			t.Errorf("%s.%s still differs between %s and %s (compared by text: %v) for %d keys: %s",
				s.schema(), s.Table, a.Name, b.Name, byText, len(keys), abbrev(strings.Join(keys, ", "), 3000))
		}
	}
}

// fcol is one column of a node's table as the truth database declares it.
type fcol struct {
	name, localType string
	byText          bool // json: no equality operator
}

// remoteColumns reads the table's columns on node n. The truth database has none of the node's enums and
// domains: enums (and arrays of them) become text, which compares labels as the contract asks, and
// domains become their base type.
func remoteColumns(t testing.TB, n Node, schemaName, table string) []fcol {
	t.Helper()
	rows := n.QueryStrings(t, `
SELECT a.attname::text,
       CASE WHEN ty.typtype = 'e' THEN 'text'
            WHEN et.typtype = 'e' THEN 'text[]'
            WHEN ty.typtype = 'd' THEN format_type(b.oid, b.typmod)
            ELSE format_type(a.atttypid, a.atttypmod) END,
       bt.typname::text
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
JOIN pg_type ty ON ty.oid = a.atttypid
`+testkit.BaseType("a.atttypid", "a.atttypmod", "b")+`
JOIN pg_type bt ON bt.oid = b.oid
LEFT JOIN pg_type et ON et.oid = ty.typelem AND ty.typcategory = 'A'
WHERE ns.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, schemaName, table)
	if len(rows) == 0 {
		t.Fatalf("truth: node %s has no table %s.%s", n.Name, schemaName, table)
	}
	var cols []fcol
	for _, r := range rows {
		cols = append(cols, fcol{name: r[0], localType: r[1], byText: r[2] == "json" || r[2] == "_json"})
	}
	return cols
}

// kinds counts changed and missing among keys.
func kinds(m map[string]string) (changed, missing int64) {
	for _, k := range m {
		if k == "missing" {
			missing++
		} else {
			changed++
		}
	}
	return
}
