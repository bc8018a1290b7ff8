package tests

import (
	"crypto/md5"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// keyCase is one table whose key has the given column definitions and rows with the given key literals.
type keyCase struct {
	name string
	// cols are the key column definitions, e.g. "k int8".
	cols []string
	// keys are SQL literals, one slice per row with one literal per key column.
	keys [][]string
}

func (kc keyCase) keyNames() []string {
	names := make([]string, len(kc.cols))
	for i, c := range kc.cols {
		names[i], _, _ = strings.Cut(c, " ")
	}
	return names
}

func single(lits ...string) [][]string {
	out := make([][]string, len(lits))
	for i, l := range lits {
		out[i] = []string{l}
	}
	return out
}

// dedupe keeps the first of literal-identical keys, so generated keys cannot collide with special ones.
func dedupe(keys [][]string) [][]string {
	seen := map[string]bool{}
	var out [][]string
	for _, k := range keys {
		s := strings.Join(k, "\x00")
		if !seen[s] {
			seen[s] = true
			out = append(out, k)
		}
	}
	return out
}

func md5hex(i int) string {
	return fmt.Sprintf("%x", md5.Sum([]byte(itoa(i))))
}

func uuidOf(i int) string {
	h := md5hex(i)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// keyCases covers every supported key type with its awkward values: extreme integers, special numerics,
// BC and infinite dates and timestamps, text that sorts differently under other collations, padded
// char(n), and byte strings that are prefixes of each other.
func keyCases() []keyCase {
	var cs []keyCase
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	{
		lits := []string{"-32768", "32767", "0", "-1", "1"}
		for i := 0; i < 400; i++ {
			lits = append(lits, itoa(i*150-30000))
		}
		cs = append(cs, keyCase{"int2", []string{"k int2"}, dedupe(single(lits...))})
	}
	{
		lits := []string{"-2147483648", "2147483647", "0"}
		for i := 0; i < 400; i++ {
			lits = append(lits, itoa(i*10_000_019-2_000_000_000))
		}
		cs = append(cs, keyCase{"int4", []string{"k int4"}, dedupe(single(lits...))})
	}
	{
		lits := []string{"0", "-9223372036854775808", "9223372036854775807", "4294967296", "4294967295", "-4294967296"}
		for i := 0; i < 300; i++ {
			lits = append(lits, fmt.Sprint(int64(i)*18014398509481984-3_600_000_000_000_000_000))
		}
		for i := 1; i <= 100; i++ { // a dense cluster inside the sparse span
			lits = append(lits, itoa(i))
		}
		cs = append(cs, keyCase{"int8", []string{"k int8"}, dedupe(single(lits...))})
	}
	{
		lits := []string{"'NaN'", "'Infinity'", "'-Infinity'", "-99999999999999999999.999", "-10.5", "-0.001", "0",
			"0.000000000001", "1000000000000000000000000000000", "-1000000000000000000000000000000.5"}
		for i := 0; i < 400; i++ {
			v := i*37 - 5000
			sign := ""
			if v < 0 {
				sign, v = "-", -v
			}
			lits = append(lits, fmt.Sprintf("%s%d.%02d", sign, v/100, v%100))
		}
		cs = append(cs, keyCase{"numeric", []string{"k numeric"}, dedupe(single(lits...))})
	}
	textKeys := func(prefixes ...string) []string {
		lits := []string{q(""), q(" "), q("a b"), q("a  b"), q("A"), q("a"), q("B"), q("b"), q("_x"), q("Z"), q("é"),
			q("e"), q("E"), q("ß"), q("日本語"), q("😀"), "E'tab\\there'", "E'new\\nline'", q("quote's"),
			q(`back\slash`), q("ü"), q("Ü"), q("~"), q("ab"), q("abc"), q("abcd"), q("space "), q(" space"),
			q("Apple"), q("apple"), q("APPLE"), q("a|b"), q("NULL")}
		for i := 0; i < 380; i++ {
			lits = append(lits, q(fmt.Sprintf("%s%d", prefixes[i%len(prefixes)], i*7919%10007)))
		}
		return lits
	}
	cs = append(cs, keyCase{"text", []string{"k text"}, dedupe(single(textKeys("a", "A", "b", "_", "é", "Z", "z ", "Ω")...))})
	cs = append(cs, keyCase{"varchar", []string{"k varchar(40)"}, dedupe(single(textKeys("x", "X", "-", "ä", "Ä", "0")...))})
	{
		// char(n) pads with spaces and compares without them, so no two of these may differ only in
		// trailing spaces. In the C collation the key is cut into ranges whose bounds are char values;
		// in the database's own, it is read by key hash.
		lits := []string{q(""), q("a b"), q("a  b"), q("A"), q("a"), q(" a"), q("é"), q("日本語"), q("~"), q("ab"),
			q("abc"), q("abcdefghij"), q("quote's"), "E'tab\\there'"}
		for i := 0; i < 380; i++ {
			lits = append(lits, q(fmt.Sprintf("%s%d", []string{"k", "K", "_", "ü", "z"}[i%5], i*7919%10007)))
		}
		cs = append(cs, keyCase{"bpchar_c", []string{`k char(10) COLLATE "C"`}, dedupe(single(lits...))})
		cs = append(cs, keyCase{"bpchar", []string{"k char(10)"}, dedupe(single(lits...))})
	}
	{
		lits := []string{q("00000000-0000-0000-0000-000000000000"), q("ffffffff-ffff-ffff-ffff-ffffffffffff"),
			q("7fffffff-ffff-ffff-ffff-ffffffffffff"), q("80000000-0000-0000-0000-000000000000")}
		for i := 0; i < 400; i++ {
			lits = append(lits, q(uuidOf(i)))
		}
		cs = append(cs, keyCase{"uuid", []string{"k uuid"}, dedupe(single(lits...))})
	}
	base := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	{
		lits := []string{q("4713-01-01 BC"), q("0001-12-31 BC"), q("0001-01-01"), q("1999-12-31"), q("2000-02-29"),
			q("5874897-12-31"), q("infinity"), q("-infinity"), q("10000-01-01"), q("0044-03-15 BC")}
		for i := 0; i < 350; i++ {
			lits = append(lits, q(base.AddDate(0, 0, i*37-5000).Format("2006-01-02")))
		}
		for i := 0; i < 50; i++ {
			lits = append(lits, q(fmt.Sprintf("%04d-06-15 BC", i*13+2)))
		}
		cs = append(cs, keyCase{"date", []string{"k date"}, dedupe(single(lits...))})
	}
	step := 24*time.Hour + time.Hour + time.Minute + 1500*time.Millisecond + 7*time.Microsecond
	{
		lits := []string{q("infinity"), q("-infinity"), q("4713-01-01 00:00:00 BC"), q("0044-03-15 12:00:00 BC"),
			q("1999-12-31 23:59:59.999999"), q("2000-01-01 00:00:00"), q("294276-12-31 23:59:59"),
			q("10000-01-01 00:00:00")}
		for i := 0; i < 400; i++ {
			lits = append(lits, q(base.Add(time.Duration(i-200)*step).Format("2006-01-02 15:04:05.999999")))
		}
		cs = append(cs, keyCase{"timestamp", []string{"k timestamp"}, dedupe(single(lits...))})
	}
	{
		// Every literal carries an offset: node b's TimeZone must not change which instant is stored.
		lits := []string{q("infinity"), q("-infinity"), q("4713-01-01 00:00:00+00 BC"), q("0044-03-15 12:00:00+01 BC"),
			q("1999-12-31 23:59:59.999999+00"), q("2000-01-01 05:31:00+05:30"), q("294276-12-31 23:59:59+00"),
			q("10000-01-01 00:00:00-08")}
		offsets := []struct {
			lit string
			sec int
		}{{"+00", 0}, {"+05:30", 19800}, {"-08", -28800}, {"+14", 50400}, {"-03:30", -12600}}
		for i := 0; i < 400; i++ {
			off := offsets[i%len(offsets)]
			ts := base.Add(time.Duration(i-200) * step).In(time.FixedZone(off.lit, off.sec))
			lits = append(lits, q(ts.Format("2006-01-02 15:04:05.999999")+off.lit))
		}
		cs = append(cs, keyCase{"timestamptz", []string{"k timestamptz"}, dedupe(single(lits...))})
	}
	{
		lits := []string{`'\x'`, `'\x00'`, `'\x0000'`, `'\x000000'`, `'\x0001'`, `'\x01'`, `'\x7f'`, `'\x80'`,
			`'\xff'`, `'\xff00'`, `'\xffff'`, `'\xffffff'`, `'\x6162'`, `'\x616263'`}
		for i := 0; i < 400; i++ {
			h := md5hex(i)
			lits = append(lits, fmt.Sprintf(`'\x6162%s'`, h[:2*(i%17)]))
			lits = append(lits, fmt.Sprintf(`'\x%s'`, h[:2*(1+i%9)]))
		}
		cs = append(cs, keyCase{"bytea", []string{"k bytea"}, dedupe(single(lits...))})
	}
	{
		var keys [][]string
		for _, tenant := range []string{"Acme", "acme", "ACME", "beta", "Ω mega", "", " x", "é"} {
			for _, id := range []string{"-5", "0", "1", "2", "4294967296", "9223372036854775807", "-9223372036854775808"} {
				keys = append(keys, []string{q(tenant), id})
			}
			for i := 0; i < 45; i++ {
				keys = append(keys, []string{q(tenant), itoa(i*1000 + 3)})
			}
		}
		cs = append(cs, keyCase{"tenant_id", []string{"tenant text", "id int8"}, dedupe(keys)})
	}
	{
		var keys [][]string
		for _, d := range []string{"2020-01-01", "2020-01-02", "infinity", "-infinity", "0100-01-01 BC", "1999-12-31"} {
			for i := 0; i < 60; i++ {
				keys = append(keys, []string{q(d), q(uuidOf(i * 3))})
			}
		}
		cs = append(cs, keyCase{"date_uuid", []string{"d date", "u uuid"}, dedupe(keys)})
	}
	return cs
}

// TestKeyTypes plants changed, missing-on-a and missing-on-b rows in tables keyed by every supported key
// type (including the smallest and largest keys) and checks rowdiff finds exactly them, with default
// ranges and with tiny ones that force many splits.
func TestKeyTypes(t *testing.T) {
	t.Parallel()
	cases := keyCases()
	var common, onlyA, onlyB strings.Builder
	for _, kc := range cases {
		names := kc.keyNames()
		tbl := "t_" + kc.name
		fmt.Fprintf(&common, "CREATE TABLE %s (%s, n int NOT NULL, v text, PRIMARY KEY (%s));\n",
			tbl, strings.Join(kc.cols, ", "), strings.Join(names, ", "))
		var vals []string
		for i, k := range kc.keys {
			vals = append(vals, fmt.Sprintf("(%s, %d, 'v%d')", strings.Join(k, ", "), i+1, i+1))
		}
		common.WriteString(insertRows(tbl, vals) + ";\n")
		tuple := "(" + strings.Join(names, ", ") + ")"
		asc, desc := strings.Join(names, ", "), strings.Join(names, " DESC, ")+" DESC"
		// Planted by position in the list and at both ends of the key order.
		fmt.Fprintf(&onlyA, "UPDATE %s SET v = v || '*' WHERE n %% 17 = 1;\n", tbl)
		fmt.Fprintf(&onlyA, "DELETE FROM %s WHERE n %% 23 = 2;\n", tbl)
		fmt.Fprintf(&onlyA, "UPDATE %s SET v = 'smallest' WHERE %s = (SELECT %s FROM %s ORDER BY %s LIMIT 1);\n", tbl, tuple, asc, tbl, asc)
		fmt.Fprintf(&onlyA, "DELETE FROM %s WHERE %s = (SELECT %s FROM %s ORDER BY %s OFFSET 1 LIMIT 1);\n", tbl, tuple, asc, tbl, asc)
		fmt.Fprintf(&onlyB, "DELETE FROM %s WHERE n %% 29 = 3;\n", tbl)
		fmt.Fprintf(&onlyB, "UPDATE %s SET v = NULL WHERE n %% 31 = 4;\n", tbl)
		fmt.Fprintf(&onlyB, "DELETE FROM %s WHERE %s = (SELECT %s FROM %s ORDER BY %s LIMIT 1);\n", tbl, tuple, asc, tbl, desc)
		fmt.Fprintf(&onlyB, "UPDATE %s SET v = 'second largest' WHERE %s = (SELECT %s FROM %s ORDER BY %s OFFSET 1 LIMIT 1);\n", tbl, tuple, asc, tbl, desc)
	}
	// A numeric key written differently on the two nodes is still the same key.
	onlyA.WriteString("INSERT INTO t_numeric VALUES (7.50, 100000, 'same');\n")
	onlyB.WriteString("INSERT INTO t_numeric VALUES (7.5, 100000, 'same');\n")
	a, b := pair(t, common.String(), onlyA.String(), onlyB.String())
	nodes := []Node{a, b}

	for _, kc := range cases {
		t.Run(kc.name, func(t *testing.T) {
			t.Parallel()
			tbl := "t_" + kc.name
			want := truth(t, nodes, Spec{Table: tbl, Key: kc.keyNames()})
			if len(want) < 40 {
				t.Fatalf("truth has only %d differences; the plants did not work", len(want))
			}
			for _, mode := range [][]string{nil, {"--block-rows", "64", "--leaf-rows", "4"}} {
				r := diff(t, tbl, nodes, mode...)
				check(t, r, want, kc.keyNames(), "public."+tbl)
			}
		})
	}

	// Spot checks of the JSON encoding of keys and values.
	t.Run("encoding", func(t *testing.T) {
		t.Parallel()
		r := diff(t, "t_int8", nodes)
		rec := find(t, r, []string{"k"}, "9223372036854775807")
		if string(rec.Key["k"]) != "9223372036854775807" {
			t.Errorf("int8 key %s, want the JSON number 9223372036854775807", rec.Key["k"])
		}
		if rec.Kind != "missing" || rec.Row(t, "b") != nil {
			t.Errorf("largest int8 key: want missing with b null: %s", rec.Line)
		}
		row := rec.Row(t, "a")
		wantJSON(t, row, "k", "9223372036854775807")
		if n := row["n"]; len(n) == 0 || n[0] == '"' {
			t.Errorf("int4 column n = %s, want a JSON number", n)
		}
		r = diff(t, "t_numeric", nodes)
		rec = find(t, r, []string{"k"}, "-Infinity")
		if string(rec.Key["k"]) != `"-Infinity"` {
			t.Errorf("numeric key %s, want the string \"-Infinity\"", rec.Key["k"])
		}
		r = diff(t, "t_bytea", nodes)
		rec = find(t, r, []string{"k"}, `\x`)
		wantString(t, rec.Row(t, "a"), "v", "smallest")
		r = diff(t, "t_timestamptz", nodes)
		rec = find(t, r, []string{"k"}, "-infinity")
		wantString(t, rec.Row(t, "b"), "k", "-infinity")
		for _, rec := range r.Records {
			k := jsonScalar(t, rec.Key["k"])
			if k != "infinity" && k != "-infinity" && !strings.Contains(k, "+00") {
				t.Errorf("timestamptz key %q is not in UTC", k)
			}
		}
	})
}

// TestViewsAndNullableKeys: a view's and a materialized view's columns are never NOT NULL, so a key was
// always refused and they could not be compared at all; they now compare by --key like a table. A key
// column that some node lets be NULL is checked there: a row whose key is NULL would be passed over by
// every range and match, neither compared nor reported (before, a nullable key on any node but the
// first was taken as it was, and its NULL-key rows were missed).
func TestViewsAndNullableKeys(t *testing.T) {
	t.Parallel()
	const common = `CREATE TABLE base (id int PRIMARY KEY, v text);
INSERT INTO base SELECT i, 'v' || i FROM generate_series(1, 3000) i;
CREATE VIEW vw AS SELECT id, v FROM base WHERE id % 2 = 0;
CREATE MATERIALIZED VIEW mv AS SELECT id, v FROM base WHERE id % 3 = 0;
CREATE UNIQUE INDEX ON mv (id);`
	a := newNode(t, "a", clA, common, `CREATE TABLE nk (id int PRIMARY KEY, v text); INSERT INTO nk VALUES (1, 'x'), (2, 'y');`)
	b := newNode(t, "b", clB, common, `UPDATE base SET v = 'changed' WHERE id % 100 = 0; DELETE FROM base WHERE id % 250 = 6;
INSERT INTO base VALUES (3001, 'new'), (3003, 'new'); REFRESH MATERIALIZED VIEW mv;
CREATE TABLE nk (id int, v text); CREATE UNIQUE INDEX ON nk (id); INSERT INTO nk VALUES (1, 'x'), (2, 'y'), (NULL, 'z');`)
	nodes := []Node{a, b}
	for _, rel := range []string{"vw", "mv"} {
		want := truth(t, nodes, Spec{Table: rel, Key: []string{"id"}})
		if len(want) == 0 {
			t.Fatalf("test setup: no differences in %s", rel)
		}
		for _, mode := range [][]string{nil, {"--block-rows", "64", "--leaf-rows", "4"}} {
			check(t, diff(t, rel, nodes, append([]string{"--key", "id"}, mode...)...), want, []string{"id"}, "public."+rel)
		}
	}
	// A repair into a materialized view wrote a script that could never apply ("cannot change materialized
	// view", found by an exploratory helper): refused.
	mvDiff := diff(t, "mv", nodes, "--key", "id")
	p := runRowdiff(t, append([]string{"repair", "--in", mvDiff.Out, "--source", "a", "--target", "b", "--out",
		filepath.Join(t.TempDir(), "r.sql")}, nodeArgs(nodes)...)...)
	if p.Code != 2 || !strings.Contains(p.Stderr, "materialized view there") {
		t.Errorf("repair into a materialized view: exit %d, want 2 saying so\nstderr:\n%s", p.Code, p.Stderr)
	}
	// PostgreSQL's FULL JOIN would count b's NULL-key row as missing on a; rowdiff cannot match it.
	args := append([]string{"diff", "--table", "nk", "--key", "id", "--out", filepath.Join(t.TempDir(), "nk.jsonl")}, nodeArgs(nodes)...)
	p = runRowdiff(t, args...)
	if p.Code != 2 || !strings.Contains(p.Stderr, "node b") || !strings.Contains(p.Stderr, `key column "id" is NULL`) {
		t.Errorf("rowdiff %s: exit %d, want 2 naming node b and the NULL key\nstderr:\n%s", shellArgs(args), p.Code, p.Stderr)
	}
	// A --where that leaves the NULL-key row out: the rows it keeps can be compared (they were refused).
	spec := Spec{Table: "nk", Key: []string{"id"}, Where: "id IS NOT NULL"}
	check(t, diff(t, "nk", nodes, "--key", "id", "--where", spec.Where), truth(t, nodes, spec), spec.Key, "public.nk")
	// A --key two rows share, alike in the compared columns on each node: XOR hashed the pair to nothing,
	// and a's (1, 'x') twice against b's (1, 'y') twice compared equal, with exit 0 (found by an
	// exploratory helper).
	const dup = `CREATE TABLE dk (id int PRIMARY KEY, k int NOT NULL, v text);`
	a.Exec(t, dup+`INSERT INTO dk VALUES (1, 1, 'x'), (2, 1, 'x'), (3, 2, 'p');`)
	b.Exec(t, dup+`INSERT INTO dk VALUES (1, 1, 'y'), (2, 1, 'y'), (3, 2, 'p');`)
	args = append([]string{"diff", "--table", "dk", "--key", "k", "--columns", "v", "--out", filepath.Join(t.TempDir(), "dk.jsonl")}, nodeArgs(nodes)...)
	p = runRowdiff(t, args...)
	if p.Code != 2 || !strings.Contains(p.Stderr, "not unique") || !strings.Contains(p.Stderr, "no unique index holds the key columns unique") {
		t.Errorf("rowdiff %s: exit %d, want 2 saying the key is not unique, nor held so by an index\nstderr:\n%s", shellArgs(args), p.Code, p.Stderr)
	}
}

// TestKeysCrowdedBesideOutliers: an integer key whose rows crowd into a small part of its span (20,000 keys
// beside two at ±2^59) put the crowd in one bucket of the arithmetic cut, hashed again level by level
// (7 hashes where 1 does); its statistics now send it to sampled ranges, with no bucket split. The
// differences at the outliers and in the crowd are found, against PostgreSQL's truth.
func TestKeysCrowdedBesideOutliers(t *testing.T) {
	t.Parallel()
	setup := `CREATE TABLE ol (id int8 PRIMARY KEY, v text);
INSERT INTO ol SELECT i, 'v' || i FROM generate_series(1, 20000) i;
INSERT INTO ol VALUES (-576460752303423488, 'low'), (576460752303423488, 'high');
ANALYZE ol;`
	a, b := pair(t, setup, "", `UPDATE ol SET v = 'x' WHERE id IN (5, 10000, 19999, 576460752303423488); DELETE FROM ol WHERE id = -576460752303423488;`)
	nodes := []Node{a, b}
	want := truth(t, nodes, Spec{Table: "ol", Key: []string{"id"}})
	if len(want) != 5 {
		t.Fatalf("test setup: the truth has %d differences, want 5", len(want))
	}
	r := diff(t, "ol", nodes)
	check(t, r, want, []string{"id"}, "public.ol")
	if r.Summary.RangesSplit != 0 {
		t.Errorf("%d ranges split: the crowd was hashed again level by level (want sampled ranges, none split)", r.Summary.RangesSplit)
	}
}

// TestForeignTableTextKey: a foreign table as a node's copy, whose server sorts text in another collation.
// postgres_fdw ran rowdiff's range bounds and range conditions there, in that collation, so a C-collation
// node's ranges held other keys than the foreign table's (2,512 false missing rows, or exit 2 "not unique
// or arrives out of order", found by an exploratory helper). A foreign table's text key is read by key hash.
func TestForeignTableTextKey(t *testing.T) {
	t.Parallel()
	const fill = `CREATE TABLE m (k text PRIMARY KEY, v int);
INSERT INTO m SELECT w || i, i FROM generate_series(1, 1000) i, unnest(ARRAY['a', 'B']) w; ANALYZE m;`
	remote := newNodeWith(t, "r", clC, "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8' TEMPLATE template0", fill)
	a := newNodeWith(t, "a", clA, "LOCALE 'C' TEMPLATE template0", fmt.Sprintf(`CREATE EXTENSION postgres_fdw;
CREATE SERVER rs FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '%d', dbname '%s');
CREATE USER MAPPING FOR CURRENT_USER SERVER rs OPTIONS (user 'postgres');
CREATE FOREIGN TABLE m (k text NOT NULL, v int) SERVER rs OPTIONS (table_name 'm'); ANALYZE m;`, clC.Port(), remote.DB))
	b := newNodeWith(t, "b", clB, "LOCALE 'C' TEMPLATE template0", fill+` UPDATE m SET v = -v WHERE k IN ('a5', 'B700');`)
	want := truth(t, []Node{a, b}, Spec{Table: "m", Key: []string{"k"}})
	if len(want) != 2 {
		t.Fatalf("test setup: the truth has %d differences, want 2: %v", len(want), want)
	}
	for _, nodes := range [][]Node{{a, b}, {b, a}} {
		check(t, diff(t, "m", nodes, "--key", "k", "--block-rows", "512"), want, []string{"k"}, "public.m")
	}
}
