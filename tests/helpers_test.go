// Package tests runs the rowdiff binary against real PostgreSQL clusters and checks every answer against
// a truth computed by PostgreSQL itself (postgres_fdw FULL JOINs in a separate database), never by rowdiff.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

// Shared fixtures, set up once by TestMain. Every test creates its own databases on them, so tests can run
// in parallel without seeing each other's tables.
var (
	// rowdiffBin is the binary under test, built once from ./cmd/rowdiff (or $ROWDIFF_BIN when set).
	rowdiffBin string
	// clA runs with C.UTF-8 and TimeZone UTC; it also holds truthDB.
	clA *pgcluster.Cluster
	// clB runs with TimeZone America/New_York and DateStyle "SQL, DMY", so a rowdiff that does not pin its
	// session settings sees different text forms there.
	clB *pgcluster.Cluster
	// clC runs with TimeZone Asia/Kolkata (a half-hour offset).
	clC *pgcluster.Cluster
)

// truthDB is the database on clA that holds postgres_fdw and the foreign tables of every node. It is never
// diffed, so the extension cannot change what rowdiff sees.
const truthDB = "truth"

// runTimeout bounds one rowdiff process; a hang is a failure, not a stuck suite.
const runTimeout = 90 * time.Second

func TestMain(m *testing.M) {
	os.Exit(testkit.Main(m, testkit.Setup{
		Name:     "tests",
		Parallel: 4,
		Clusters: []pgcluster.Options{
			{Name: "a", Locale: "C.UTF-8", TimeZone: "UTC"},
			{Name: "b", TimeZone: "America/New_York", Settings: map[string]string{"datestyle": "SQL, DMY"}},
			{Name: "c", TimeZone: "Asia/Kolkata"},
		},
		Started: func(ctx context.Context, bin string, clusters []*pgcluster.Cluster) error {
			rowdiffBin = bin
			clA, clB, clC = clusters[0], clusters[1], clusters[2]
			return testkit.CreateTruthDB(ctx, clA, truthDB)
		},
	}))
}

var seq atomic.Int64

// uniq returns a process-unique number for database, schema and server names.
func uniq() int64 { return seq.Add(1) }

// Node is one copy of the table under test: a database on a cluster, named as rowdiff will name it.
type Node struct {
	Name string
	C    *pgcluster.Cluster
	DB   string
	// DSN overrides C.DSN(DB) when set (other users, broken addresses).
	DSN string
}

// dsn is what rowdiff gets for this node.
func (n Node) dsn() string {
	if n.DSN != "" {
		return n.DSN
	}
	return n.C.DSN(n.DB)
}

// Exec runs sql (several statements allowed) in the node's database.
func (n Node) Exec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	if err := n.C.Exec(ctx, n.DB, sql); err != nil {
		t.Fatalf("node %s: %v\nSQL: %s", n.Name, err, abbrev(sql, 2000))
	}
}

// QueryInt runs a query returning one int8 in the node's database.
func (n Node) QueryInt(t testing.TB, sql string) int64 {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	conn, err := pgx.Connect(ctx, n.C.DSN(n.DB))
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

// setupContext bounds one setup or check statement. It is not the test's context, so checks can also run
// in cleanups, after that context is cancelled.
func setupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 2*time.Minute)
}

// newNodeWith creates a fresh database on c (CREATE DATABASE name <createOpts>) and runs setup in it.
func newNodeWith(t testing.TB, name string, c *pgcluster.Cluster, createOpts string, setup ...string) Node {
	t.Helper()
	db := fmt.Sprintf("d%d_%s", uniq(), name)
	ctx, cancel := setupContext()
	defer cancel()
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" "+createOpts); err != nil {
		t.Fatalf("create database for node %s on cluster %s: %v", name, c.Name(), err)
	}
	n := Node{Name: name, C: c, DB: db}
	for _, s := range setup {
		n.Exec(t, s)
	}
	return n
}

// newNode creates a fresh database with the cluster's defaults on c and runs setup in it.
func newNode(t testing.TB, name string, c *pgcluster.Cluster, setup ...string) Node {
	t.Helper()
	return newNodeWith(t, name, c, "", setup...)
}

// pair creates nodes "a" on clA and "b" on clB, runs common on both and then the node's own statements.
func pair(t testing.TB, common, onlyA, onlyB string) (Node, Node) {
	t.Helper()
	a := newNode(t, "a", clA, common)
	b := newNode(t, "b", clB, common)
	if onlyA != "" {
		a.Exec(t, onlyA)
	}
	if onlyB != "" {
		b.Exec(t, onlyB)
	}
	return a, b
}

func abbrev(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d bytes)", len(s))
}

// Proc is a finished rowdiff process.
type Proc struct {
	Args []string
	// Dir is the working directory the process ran in.
	Dir            string
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

// runRowdiff runs the binary with args and waits for it (at most runTimeout).
func runRowdiff(t testing.TB, args ...string) Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rowdiffBin, args...)
	// A directory of its own, so a relative path (or a file wrongly named "-") cannot land in the source tree.
	cmd.Dir = t.TempDir()
	// A hung rowdiff is sent SIGQUIT so the Go runtime dumps every goroutine into stderr: the failure
	// then shows where it hangs.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	p := Proc{Args: args, Dir: cmd.Dir, Stdout: stdout.String(), Stderr: stderr.String(), Elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("rowdiff %s: still running after %v (killed with SIGQUIT)\nstderr:\n%s", shellArgs(args), runTimeout, p.Stderr)
	case errors.As(err, &ee) && ee.Exited():
		p.Code = ee.ExitCode()
	default:
		t.Fatalf("rowdiff %s: %v\nstderr:\n%s", shellArgs(args), err, p.Stderr)
	}
	return p
}

// shellArgs renders args for failure messages so a reader can rerun the command.
func shellArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// nodeArgs returns --node NAME=DSN for each node.
func nodeArgs(nodes []Node) []string {
	var args []string
	for _, n := range nodes {
		args = append(args, "--node", n.Name+"="+n.dsn())
	}
	return args
}

// readSummary reads and parses the --summary file at path, and returns its bytes too.
func readSummary(t testing.TB, path string) (Summary, []byte) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no summary file: %v", err)
	}
	var s Summary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatalf("summary is not JSON: %v\n%s", err, data)
	}
	return s, data
}

// Summary mirrors the --summary JSON.
type Summary struct {
	Table string `json:"table"`
	Nodes []struct {
		Name          string `json:"name"`
		Rows          int64  `json:"rows"`
		BytesReceived int64  `json:"bytes_received"`
	} `json:"nodes"`
	RangesHashed   int64   `json:"ranges_hashed"`
	RangesSplit    int64   `json:"ranges_split"`
	RangesCompared int64   `json:"ranges_compared"`
	RowsCompared   int64   `json:"rows_compared"`
	Differences    int64   `json:"differences"`
	Changed        int64   `json:"changed"`
	Missing        int64   `json:"missing"`
	Complete       bool    `json:"complete"`
	Started        string  `json:"started"`
	Finished       string  `json:"finished"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Error          string  `json:"error"`
	Tables         []struct {
		Table       string   `json:"table"`
		KeyScan     string   `json:"key_scan"`
		Converted   []string `json:"converted"`
		Differences int64    `json:"differences"`
		NotCompared bool     `json:"not_compared"`
		Stopped     bool     `json:"stopped"`
		Failed      bool     `json:"failed"`
		Digest      string   `json:"digest"`
	} `json:"tables"`
	Workers      int    `json:"workers"`
	FewerWorkers string `json:"fewer_workers"`
}

// Record is one parsed JSON Lines record.
type Record struct {
	Table string
	Key   map[string]json.RawMessage
	Kind  string
	// Nodes holds each node's row as raw JSON: an object, or null where the key is absent.
	Nodes map[string]json.RawMessage
	Line  string
}

// Row returns node's row decoded column by column (numbers kept exact), or nil when the key is absent there.
func (r Record) Row(t testing.TB, node string) map[string]json.RawMessage {
	t.Helper()
	raw, ok := r.Nodes[node]
	if !ok {
		t.Fatalf("record has no node %q: %s", node, abbrev(r.Line, 500))
	}
	if string(raw) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("node %s row is not an object: %v: %s", node, err, abbrev(r.Line, 500))
	}
	return m
}

// Result is a rowdiff run with its parsed output.
type Result struct {
	Proc
	Records []Record
	Summary Summary
	// Nodes are the node names in command-line order.
	Nodes []string
	// Out is the output file.
	Out string
}

// diff runs `rowdiff diff --table table` (no --table for "") on nodes with --out (a fresh .jsonl file) and --summary plus
// extra, then parses and checks the output's shape. Exit 2 fails the test unless the caller expects it
// (use runRowdiff for error cases).
func diff(t testing.TB, table string, nodes []Node, extra ...string) *Result {
	t.Helper()
	dir := t.TempDir()
	out, sum := filepath.Join(dir, "out.jsonl"), filepath.Join(dir, "summary.json")
	args := []string{"diff"}
	if table != "" { // "": extra names the tables (--schema)
		args = append(args, "--table", table)
	}
	args = append(append(args, nodeArgs(nodes)...), "--out", out, "--summary", sum)
	args = append(args, extra...)
	p := runRowdiff(t, args...)
	if p.Code != 0 && p.Code != 1 {
		t.Fatalf("rowdiff %s: exit %d, want 0 or 1\nstderr:\n%s", shellArgs(args), p.Code, p.Stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("rowdiff %s: exit %d but no output file: %v\nstderr:\n%s", shellArgs(args), p.Code, err, p.Stderr)
	}
	r := &Result{Proc: p, Out: out}
	for _, n := range nodes {
		r.Nodes = append(r.Nodes, n.Name)
	}
	r.Records = parseJSONL(t, string(data), r.Nodes)
	var sdata []byte
	r.Summary, sdata = readSummary(t, sum)
	if err := checkSummaryShape(sdata, r.Nodes); err != nil {
		t.Errorf("summary %s: %v", sdata, err)
	}
	return r
}

// checkEveryWay diffs public.table between a and b in both node orders, with the default ranges and tiny
// ones (extra flags added to each run), and checks every run against want.
func checkEveryWay(t testing.TB, table string, a, b Node, want map[string]string, keyCols []string, extra ...string) {
	t.Helper()
	for _, nodes := range [][]Node{{a, b}, {b, a}} {
		for _, mode := range [][]string{nil, {"--block-rows", "16", "--leaf-rows", "2"}} {
			check(t, diff(t, table, nodes, append(slices.Clone(extra), mode...)...), want, keyCols, "public."+table)
		}
	}
}

// repairAndApply runs `rowdiff repair` for the keys of diff r, from source to target (extra flags
// added), and runs the script on target: through pgx's simple protocol, as one string, as psql -f would
// run it statement by statement in one transaction (tests/workflow applies scripts with psql itself).
func repairAndApply(t testing.TB, nodes []Node, r *Result, source, target Node, extra ...string) {
	t.Helper()
	script := filepath.Join(t.TempDir(), "repair.sql")
	args := append([]string{"repair", "--in", r.Out, "--source", source.Name, "--target", target.Name, "--out", script}, nodeArgs(nodes)...)
	p := runRowdiff(t, append(args, extra...)...)
	body, err := os.ReadFile(script)
	if p.Code != 0 || err != nil {
		t.Fatalf("repair %s from %s: exit %d, %v\nstderr:\n%s", target.Name, source.Name, p.Code, err, p.Stderr)
	}
	target.Exec(t, string(body))
}

// checkSummaryShape checks the summary's documented fields are all present.
func checkSummaryShape(data []byte, nodes []string) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	for _, k := range []string{"table", "nodes", "ranges_hashed", "ranges_split", "ranges_compared", "rows_compared",
		"differences", "changed", "missing", "complete", "started", "finished", "elapsed_seconds", "workers"} {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("field %q missing", k)
		}
	}
	var ns []struct{ Name string }
	if err := json.Unmarshal(m["nodes"], &ns); err != nil {
		return fmt.Errorf("nodes: %v", err)
	}
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	if !slices.Equal(names, nodes) {
		return fmt.Errorf("nodes %v, want %v", names, nodes)
	}
	return nil
}

// parseJSONL parses JSON Lines output and checks every record's shape: exactly the keys
// table/key/kind/nodes, one entry per node, every entry an object for "changed", and at least one null
// and one object for "missing".
func parseJSONL(t testing.TB, data string, nodes []string) []Record {
	t.Helper()
	if data == "" {
		return nil
	}
	if !strings.HasSuffix(data, "\n") {
		t.Errorf("JSON Lines output does not end in a newline: ...%q", data[max(0, len(data)-80):])
	}
	var recs []Record
	for i, line := range strings.Split(strings.TrimSuffix(data, "\n"), "\n") {
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("line %d: %s\n%s", i+1, fmt.Sprintf(format, args...), abbrev(line, 1000))
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &top); err != nil {
			fail("not a JSON object: %v", err)
		}
		keys := make([]string, 0, len(top))
		for k := range top {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !slices.Equal(keys, []string{"key", "kind", "nodes", "table"}) {
			fail("top-level keys %v, want exactly table/key/kind/nodes", keys)
		}
		r := Record{Line: line}
		if err := json.Unmarshal(top["table"], &r.Table); err != nil {
			fail("table: %v", err)
		}
		if err := json.Unmarshal(top["key"], &r.Key); err != nil || r.Key == nil {
			fail("key is not an object: %v", err)
		}
		if err := json.Unmarshal(top["kind"], &r.Kind); err != nil {
			fail("kind: %v", err)
		}
		if err := json.Unmarshal(top["nodes"], &r.Nodes); err != nil || r.Nodes == nil {
			fail("nodes is not an object: %v", err)
		}
		if len(r.Nodes) != len(nodes) {
			fail("nodes has %d entries, want %d (%v)", len(r.Nodes), len(nodes), nodes)
		}
		nulls, objects := 0, 0
		for _, n := range nodes {
			raw, ok := r.Nodes[n]
			switch {
			case !ok:
				fail("nodes has no entry for node %q", n)
			case string(raw) == "null":
				nulls++
			case len(raw) > 0 && raw[0] == '{':
				objects++
			default:
				fail("node %q entry is neither an object nor null: %s", n, abbrev(string(raw), 100))
			}
		}
		switch r.Kind {
		case "changed":
			if nulls > 0 {
				fail("changed record with a null node entry")
			}
		case "missing":
			if nulls == 0 || objects == 0 {
				fail("missing record needs at least one null and one object (%d nulls, %d objects)", nulls, objects)
			}
		default:
			fail("kind %q, want changed or missing", r.Kind)
		}
		recs = append(recs, r)
	}
	return recs
}

// keyString renders a record's key in the truth's canonical form: each key column's PostgreSQL text
// form, in key order. Integer keys arrive as JSON numbers and everything else as strings.
func keyString(t testing.TB, r Record, keyCols []string) string {
	t.Helper()
	if len(r.Key) != len(keyCols) {
		t.Fatalf("record key has %d columns, want %v: %s", len(r.Key), keyCols, abbrev(r.Line, 500))
	}
	parts := make([]string, len(keyCols))
	for i, c := range keyCols {
		raw, ok := r.Key[c]
		if !ok {
			t.Fatalf("record key has no column %q: %s", c, abbrev(r.Line, 500))
		}
		parts[i] = jsonScalar(t, raw)
	}
	return strings.Join(parts, "\x1f")
}

// jsonScalar returns a JSON number's literal or a JSON string's value.
func jsonScalar(t testing.TB, raw json.RawMessage) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad JSON value %s: %v", raw, err)
	}
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case string:
		return x
	}
	t.Fatalf("key value %s is neither a number nor a string", raw)
	return ""
}

// Spec says what the truth compares: the same thing the rowdiff run under test was asked for.
type Spec struct {
	// Schema and Table name the table on every node (exact names, not SQL). Schema defaults to "public".
	Schema, Table string
	// Key are the key columns (exact names).
	Key []string
	// Columns limits the compared non-key columns (like --columns); Exclude drops some (like
	// --exclude-columns). Nil Columns means every column of the first node.
	Columns, Exclude []string
	// Where filters each node's rows before the join (like --where).
	Where string
	// Exact compares every column's text form (like --exact).
	Exact bool
	// TimeZone is the truth session's TimeZone (UTC when empty), in which PostgreSQL compares a timestamp
	// with a timestamptz: as --timestamp-zone asks rowdiff to.
	TimeZone string
}

// truth computes the differing keys by PostgreSQL alone: every node's table becomes a foreign table in
// truthDB, the nodes are FULL JOINed on the key, and a key differs when it is absent somewhere or some
// compared column is distinct from the first node's. Columns compare with their type's equality (enum
// columns are imported as text, so they compare by label), except json, xml and point (no equality
// operator, so by text; jsonb by its text, as rowdiff defines it; json against another node's jsonb as
// jsonb's text) and every column under Exact. It returns canonical key (see keyString) -> kind.
func truth(t testing.TB, nodes []Node, s Spec) map[string]string {
	t.Helper()
	ctx := t.Context()
	if s.Schema == "" {
		s.Schema = "public"
	}
	cfg, err := pgx.ParseConfig(clA.DSN(truthDB))
	if err != nil {
		t.Fatalf("truth: %v", err)
	}
	// The same text forms rowdiff promises, so keys compare as strings.
	for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "postgres",
		"extra_float_digits": "3", "bytea_output": "hex"} {
		cfg.RuntimeParams[k] = v
	}
	if s.TimeZone != "" {
		cfg.RuntimeParams["TimeZone"] = s.TimeZone
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("truth: connect: %v", err)
	}
	defer conn.Close(context.Background())
	id := uniq()
	var firstCols []fcol
	// types are each column's types on the nodes: a column that is json on one and jsonb on another
	// compares as jsonb.
	types := map[string]map[string]bool{}
	for i, n := range nodes {
		cols := remoteColumns(t, n, s.Schema, s.Table)
		if i == 0 {
			firstCols = cols
		}
		for _, c := range cols {
			if types[c.name] == nil {
				types[c.name] = map[string]bool{}
			}
			types[c.name][c.localType] = true
		}
		srv, sch := fmt.Sprintf("srv%d_%d", id, i), fmt.Sprintf("f%d_%d", id, i)
		defs := make([]string, len(cols))
		for j, c := range cols {
			defs[j] = ident(c.name) + " " + c.localType
		}
		sql := fmt.Sprintf(`CREATE SERVER %s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d', dbname %s, fetch_size '20000');
CREATE USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (user 'postgres');
CREATE SCHEMA %s;
CREATE FOREIGN TABLE %s.t (%s) SERVER %s OPTIONS (schema_name %s, table_name %s);`,
			srv, n.C.Port(), literal(n.DB), srv, sch, sch, strings.Join(defs, ", "), srv, literal(s.Schema), literal(s.Table))
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("truth: foreign table for node %s: %v\n%s", n.Name, err, sql)
		}
	}

	var compared []fcol
	for _, c := range firstCols {
		switch {
		case slices.Contains(s.Key, c.name), s.Columns != nil && !slices.Contains(s.Columns, c.name),
			slices.Contains(s.Exclude, c.name):
			continue
		}
		compared = append(compared, c)
	}
	var keyList, keySel []string
	for _, k := range s.Key {
		keyList = append(keyList, ident(k))
		i := slices.IndexFunc(firstCols, func(c fcol) bool { return c.name == k })
		if i < 0 {
			t.Fatalf("truth: key column %q is not in the table", k)
		}
		keySel = append(keySel, testkit.KeyText(ident(k), firstCols[i].localType))
	}
	from, absent, same := "", []string{}, []string{"true"}
	for i := range nodes {
		alias := fmt.Sprintf("n%d", i)
		sub := fmt.Sprintf("(SELECT * FROM f%d_%d.t", id, i)
		if s.Where != "" {
			sub += " WHERE (" + s.Where + "\n)"
		}
		sub += ") " + alias
		if i == 0 {
			from = sub
		} else {
			from += " FULL JOIN " + sub + " USING (" + strings.Join(keyList, ", ") + ")"
		}
		absent = append(absent, alias+"."+ident(s.Key[0])+" IS NULL")
		if i == 0 {
			continue
		}
		for _, c := range compared {
			l, r := "n0."+ident(c.name), alias+"."+ident(c.name)
			switch {
			case types[c.name]["json"] && types[c.name]["jsonb"]:
				l, r = l+`::jsonb::text COLLATE "C"`, r+`::jsonb::text COLLATE "C"`
			case s.Exact:
				// The output function's text: a cast to text may say less (bpchar's drops the padding).
				out := func(x string) string {
					return fmt.Sprintf(`(CASE WHEN ROW(%s) IS NOT NULL THEN concat(%s) END) COLLATE "C"`, x, x)
				}
				l, r = out(l), out(r)
			case c.byText:
				l, r = l+`::text COLLATE "C"`, r+`::text COLLATE "C"`
			}
			same = append(same, fmt.Sprintf("%s IS NOT DISTINCT FROM %s", l, r))
		}
	}
	q := fmt.Sprintf("SELECT %s, CASE WHEN %s THEN 'missing' ELSE 'changed' END FROM %s WHERE %s OR NOT (%s)",
		strings.Join(keySel, ", "), strings.Join(absent, " OR "), from, strings.Join(absent, " OR "),
		strings.Join(same, " AND "))
	want, err := testkit.KeyKinds(ctx, conn, q, len(s.Key))
	if err != nil {
		t.Fatalf("truth query: %v\n%s", err, q)
	}
	return want
}

// fcol is one column of a node's table as the truth database declares it.
type fcol struct {
	name, localType string
	// byText: the type has no equality operator consistent across nodes (json, xml, point), or rowdiff
	// compares it by text (jsonb).
	byText bool
}

// remoteColumns reads the table's columns on node n. Enum columns (and arrays of them) become text: the
// truth database does not have the node's enum types, and comparing labels is what the contract asks.
// Domain columns become the type (and typmod) the domain is over, which the truth database has.
func remoteColumns(t testing.TB, n Node, schemaName, table string) []fcol {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), n.C.DSN(n.DB))
	if err != nil {
		t.Fatalf("truth: node %s: %v", n.Name, err)
	}
	defer conn.Close(context.Background())
	// Types outside pg_catalog named with their schema, whatever the node's search_path.
	if _, err := conn.Exec(t.Context(), "SET search_path = pg_catalog"); err != nil {
		t.Fatalf("truth: node %s: %v", n.Name, err)
	}
	rows, _ := conn.Query(t.Context(), `
SELECT a.attname,
       CASE WHEN ty.typtype = 'd' THEN format_type(b.oid, b.typmod)
            WHEN et.typtype = 'd' THEN format_type(eb.oid, eb.typmod) || '[]'
            ELSE format_type(a.atttypid, a.atttypmod) END,
       ty.typtype::text, coalesce(et.typtype::text, ''),
       coalesce(et.typname, ty.typname)::text,
       coalesce((SELECT collname::text FROM pg_collation co WHERE co.oid = a.attcollation AND NOT co.collisdeterministic), '')
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
JOIN pg_type ty ON ty.oid = a.atttypid LEFT JOIN pg_type et ON et.oid = ty.typelem AND ty.typcategory = 'A'
`+testkit.BaseType("a.atttypid", "a.atttypmod", "b")+`
`+testkit.BaseType("et.oid", "-1", "eb")+`
WHERE ns.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, schemaName, table)
	var cols []fcol
	for rows.Next() {
		var name, typ, tt, ett, base, coll string
		if err := rows.Scan(&name, &typ, &tt, &ett, &base, &coll); err != nil {
			t.Fatalf("truth: node %s columns: %v", n.Name, err)
		}
		c := fcol{name: name, localType: typ}
		if coll != "" {
			// Compared under it, as the node does; the truth database has the tests' one (testkit).
			c.localType += " COLLATE " + ident(coll)
		}
		switch {
		case tt == "e":
			c.localType = "text"
		case ett == "e":
			c.localType = "text[]"
		}
		switch base {
		case "json", "xml", "point", "jsonb":
			// jsonb by its text, as rowdiff defines its equality: a number's scale counts (README).
			c.byText = true
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("truth: node %s columns: %v", n.Name, err)
	}
	if len(cols) == 0 {
		t.Fatalf("truth: node %s has no table %s.%s", n.Name, schemaName, table)
	}
	return cols
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// check asserts that rowdiff found exactly the truth: the same keys with the same kinds, exit 1 (0 when
// there is nothing to find), a complete summary whose counts match, and every record naming table.
func check(t testing.TB, r *Result, want map[string]string, keyCols []string, table string) {
	t.Helper()
	got := map[string]string{}
	for _, rec := range r.Records {
		k := keyString(t, rec, keyCols)
		if _, dup := got[k]; dup {
			t.Errorf("key %q reported twice", k)
		}
		got[k] = rec.Kind
		if table != "" && rec.Table != table {
			t.Errorf("record table %q, want %q", rec.Table, table)
		}
	}
	if p := testkit.KindProblems(got, want); p != "" {
		t.Errorf("rowdiff %s\ndisagrees with the truth %s", shellArgs(r.Args), p)
	}
	wantCode := 1
	if len(want) == 0 {
		wantCode = 0
	}
	if r.Code != wantCode {
		t.Errorf("exit %d, want %d\nstderr:\n%s", r.Code, wantCode, r.Stderr)
	}
	var changed, missing int64
	for _, kind := range want {
		if kind == "missing" {
			missing++
		} else {
			changed++
		}
	}
	s := r.Summary
	if s.Differences != int64(len(want)) || s.Changed != changed || s.Missing != missing || !s.Complete {
		t.Errorf("summary differences=%d changed=%d missing=%d complete=%v, want %d/%d/%d/true",
			s.Differences, s.Changed, s.Missing, s.Complete, len(want), changed, missing)
	}
}

// find returns the record whose key columns have the given text forms (in keyCols order).
func find(t testing.TB, r *Result, keyCols []string, key ...string) Record {
	t.Helper()
	want := strings.Join(key, "\x1f")
	for _, rec := range r.Records {
		if keyString(t, rec, keyCols) == want {
			return rec
		}
	}
	t.Fatalf("no record for key %v", key)
	return Record{}
}

// wantJSON asserts a column of a row is exactly the given JSON text.
func wantJSON(t testing.TB, row map[string]json.RawMessage, col, want string) {
	t.Helper()
	got, ok := row[col]
	if !ok {
		t.Errorf("row has no column %q: %v", col, row)
		return
	}
	if string(got) != want {
		t.Errorf("column %q = %s, want %s", col, abbrev(string(got), 200), want)
	}
}

// wantString asserts a column is the JSON string s.
func wantString(t testing.TB, row map[string]json.RawMessage, col, s string) {
	t.Helper()
	b, _ := json.Marshal(s)
	got, ok := row[col]
	if !ok {
		t.Errorf("row has no column %q", col)
		return
	}
	var g string
	if err := json.Unmarshal(got, &g); err != nil || g != s {
		t.Errorf("column %q = %s, want %s", col, abbrev(string(got), 200), b)
	}
}

// insertRows builds one INSERT of literal rows, e.g. values "(1, 'x')".
func insertRows(table string, values []string) string {
	return "INSERT INTO " + table + " VALUES " + strings.Join(values, ",\n")
}

func itoa(i int) string { return strconv.Itoa(i) }

// inTruthDB runs sql in the truth database: the types that truth's foreign tables of a test's nodes declare.
func inTruthDB(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := setupContext()
	defer cancel()
	if err := clA.Exec(ctx, truthDB, sql); err != nil {
		t.Fatalf("create %s in the truth database: %v", abbrev(sql, 200), err)
	}
}
