package schema

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Key is one key value: the PostgreSQL text form of each key column, in key order.
type Key []string

// Range is a half-open interval of keys [Lo, Hi); a nil bound is open.
type Range struct {
	Lo, Hi Key
}

// Buckets says how a range is cut into the buckets one hash query reports separately. Width > 0 cuts an
// integer key arithmetically from Origin (no key in the range may be below it). Hashed > 0 puts a row in
// bucket hash(key) mod Hashed (a power of two) instead: buckets are then not key ranges, and are only
// ever read back by bucket number (SelectBuckets). With neither, the range is one bucket.
type Buckets struct {
	Width, Origin int64
	Hashed        int64
	// Within and Only narrow a key-hash cut to the rows in some buckets of a coarser one: those whose
	// bucket under Within buckets (a power of two below Hashed) is listed in Only. Both cuts take the low
	// bits of the same key hash, so bucket n of this cut lies inside bucket n mod Within of the coarser.
	Within int64
	Only   []int64
}

// SQL builds every query rowdiff sends, for one table under one equality mode. It holds no connection.
type SQL struct {
	T     *Table
	Exact bool
	// NormalizeEncoding hashes text as UTF-8 bytes: set when the nodes' server encodings differ.
	NormalizeEncoding bool
	// Where is the user's trusted --where filter, or "".
	Where string
	// Seed starts every row and key hash (0: a fixed one). A run draws its own at random, so that no one
	// can choose rows whose changes cancel in a range's bit_xor: with the seed fixed in the source, a
	// search of 13 s found four changed rows of one bucket whose row hashes' changes XOR to 0, and the
	// diff exited 0 (found by an exploratory helper).
	Seed int64

	rowHashOnce sync.Once
	rowHash     string
}

// args collects positional parameters; every value travels as text and is cast on the server.
type args struct{ vals []any }

// op is l and r joined by built-in operator o, in parentheses. Every operator and function rowdiff's SQL
// calls is named in pg_catalog: looked up by name, PostgreSQL prefers an object of exactly the argument
// types wherever it lies on the search_path to one of pg_catalog that needs a cast or is polymorphic, so
// with pg_catalog first a user's public.<(numeric, int4) still replaced numeric < numeric for "n" < 0,
// and a diff that changed a numeric's sign exited 0 (found by an exploratory helper). OPERATOR() gives
// every operator one precedence, hence the parentheses.
func op(l, o, r string) string { return "(" + l + " OPERATOR(pg_catalog." + o + ") " + r + ")" }

func (a *args) add(v string, cast string) string {
	a.vals = append(a.vals, v)
	return "$" + strconv.Itoa(len(a.vals)) + "::" + cast
}

// keyExpr is key column i as the server orders it: text keys in "C" so every node orders them alike, in
// their own collation where that is byte order (Table.KeyBytes), so that their index serves the order.
func (q *SQL) keyExpr(i int) string {
	c := q.T.Columns[q.T.Key[i]]
	x := valueExpr(c)
	if c.Converted {
		// An int4 key compares with int8 bounds as it is, through its index; cast, it would not.
		x = QuoteIdent(c.Name)
	}
	if textual[c.Base] && !q.T.KeyBytes {
		x += ` COLLATE "C"`
	}
	return x
}

// valueExpr is column c as a value of its base type: a domain is cast to the type it is over, and a
// column whose nodes declare different types to the common one.
func valueExpr(c Column) string {
	x := QuoteIdent(c.Name)
	if c.Expr != "" {
		x = c.Expr
	}
	if c.Zone != "" {
		// Every node runs the same SQL, so one expression serves both types. Each branch type-checks on
		// either (both casts exist); only the branch for the node's own type runs. A cast from timestamp
		// would read it in the session's TimeZone (UTC), not the column's zone.
		return fmt.Sprintf("CASE WHEN pg_catalog.pg_typeof(%[1]s)::oid OPERATOR(pg_catalog.=) 'timestamp'::regtype::oid THEN %[1]s::timestamp AT TIME ZONE %[2]s ELSE %[1]s::timestamptz END",
			x, QuoteLiteral(c.Zone))
	}
	switch {
	case c.EnumLabel:
		// An enum's label, by its output: x::text calls a cast to text the enum's owner created, which
		// printed green and blue alike (a false difference on every row, written into repair scripts;
		// found by an exploratory helper).
		x = outputText(x)
	case c.Domain && !c.Converted && (!c.BuiltIn() || c.Base == "citext"):
		// Hashed by its text, which a domain's value has as its base type's: no cast is needed, and the
		// base type's name may not be one every node knows (citext in public on one node and in a schema
		// off the path on another failed the run; found by an exploratory helper).
	case c.Domain || c.Converted:
		x += "::" + c.CastType
	}
	if catalog := regCatalog[c.Base]; catalog != "" {
		x = regIdentity(x, catalog)
	}
	return x
}

// outputText is the SQL of value x's text by its type's output function, NULL for NULL: x::text calls a
// cast to text where the type's owner created one, which may print unequal values alike. concat reads
// the output, and writes NULL as an empty string. ROW(x) IS NOT NULL holds for every value but NULL; x
// IS NOT NULL does not for a composite with a NULL field, whose text was then empty as NULL's, and two
// such rows that differed hashed alike (TestEqualitySpecialValues caught it).
func outputText(x string) string {
	return fmt.Sprintf("CASE WHEN ROW(%[1]s) IS NOT NULL THEN pg_catalog.concat(%[1]s) END", x)
}

// regCatalog maps the object identifier types whose text depends on search_path (an object of a schema
// on the path prints unqualified) to the catalog of their objects. Read as they print, a regclass naming
// app.items on one node and public.items on another, each on its node's path, compared equal.
// regproc and regoper are left out: their objects' identities carry argument types, which their input
// does not take, so a repair could not write them back. regoperator's input takes them, as
// regprocedure's does (left out at first: an operator of a schema on one node's path only printed
// unqualified there, a false difference; found by an exploratory helper).
var regCatalog = map[string]string{
	"regclass": "pg_class", "regtype": "pg_type", "regprocedure": "pg_proc", "regoperator": "pg_operator",
	"regconfig": "pg_ts_config", "regdictionary": "pg_ts_dict", "regcollation": "pg_collation",
}

// regIdentity is object identifier x as text that names its object the same way whatever the search_path:
// pg_identify_object's identity, qualified where needed, which the type's input reads back; an OID that
// names no object stays a number, as the type prints it.
func regIdentity(x, catalog string) string {
	return fmt.Sprintf("COALESCE((pg_catalog.pg_identify_object('pg_catalog.%s'::pg_catalog.regclass, %s::pg_catalog.oid, 0)).identity, %s::pg_catalog.oid::pg_catalog.text)",
		catalog, x, x)
}

func (q *SQL) keyTuple() string {
	parts := make([]string, len(q.T.Key))
	for i := range q.T.Key {
		parts[i] = q.keyExpr(i)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func (q *SQL) keyParams(a *args, k Key) string {
	parts := make([]string, len(k))
	for i, v := range k {
		parts[i] = a.add(v, q.paramType(i))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// paramType is the type a bound or key of key column i is sent as. Integer bounds are int8 because
// arithmetic bucket bounds may lie past the column type's range, as keys from another node's records may;
// int2 and int4 compare with int8 using the index.
func (q *SQL) paramType(i int) string {
	c := q.T.Columns[q.T.Key[i]]
	if NarrowInteger(c.Base) {
		return "int8"
	}
	return c.CastType
}

// NarrowInteger reports whether base is int2 or int4, whose keys and bounds travel as int8: a key may come
// from another node's records, or a bound from arithmetic, past the column type's range.
func NarrowInteger(base string) bool { return base == "int2" || base == "int4" }

// rangePred is the WHERE condition of r, including the user's filter.
func (q *SQL) rangePred(a *args, r Range) string {
	var conds []string
	if r.Lo != nil {
		conds = append(conds, op(q.keyTuple(), ">=", q.keyParams(a, r.Lo)))
	}
	if r.Hi != nil {
		conds = append(conds, op(q.keyTuple(), "<", q.keyParams(a, r.Hi)))
	}
	if len(conds) == 0 {
		conds = append(conds, "true")
	}
	return strings.Join(conds, " AND ")
}

func (q *SQL) where(pred string) string {
	if q.Where == "" {
		return pred
	}
	// On a line of its own: a filter that ends in a -- comment hid the closing parenthesis.
	return "(" + pred + ") AND (" + q.Where + "\n)"
}

func (q *SQL) orderBy() string {
	parts := make([]string, len(q.T.Key))
	for i, k := range q.T.Key {
		parts[i] = q.keyExpr(i)
		if q.T.KeyUTF8 && textual[q.T.Columns[k].Base] {
			parts[i] = "pg_catalog.convert_to(" + parts[i] + ", 'UTF8')"
		}
	}
	return strings.Join(parts, ", ")
}

// BucketHash returns the query hashing range r bucket by bucket. It yields rows (bucket int8, count int8,
// hash int8), with LoneKeys(b) a fourth column, the XOR of the bucket's keys, for non-empty buckets only,
// in bucket order. With Width, bucket b covers [Origin+b*Width, Origin+(b+1)*Width) within the range;
// with Only, just the rows of the listed buckets of the coarser key-hash cut are hashed, finer. The
// result is at most one row per bucket, small enough to sort after a hash aggregate.
func (q *SQL) BucketHash(r Range, b Buckets) (string, []any) {
	var a args
	pred := q.rangePred(&a, r)
	if b.Only != nil {
		pred += " AND " + op(q.bucketExpr(&a, Buckets{Hashed: b.Within}), "=", "ANY("+bucketIDs(&a, b.Only)+")")
	}
	bucket := q.bucketExpr(&a, b)
	// The CTE is planned on its own, so the outer ORDER BY sorts the few aggregated rows instead of
	// pushing a sort of every row below the aggregate. The bucket is computed in a subquery kept apart
	// by OFFSET 0: grouping by its output column, the planner no longer takes the key's distinct count
	// (one group per row) for the number of buckets, and no longer sizes a hash table, up front, for
	// every row of the range. The scan also projects just (bucket, hash) for the aggregate. Both made
	// the aggregate cost a third more on a million rows.
	aggs, cols := "", ""
	if q.LoneKeys(b) {
		aggs, cols = ", pg_catalog.bit_xor(k)", ", "+q.keyExpr(0)+"::int8 AS k"
	}
	hash := "pg_catalog.bit_xor(h)"
	if q.T.KeyUnchecked {
		// A sum of the hashes' top 24 bits, which a pair of rows alike does not cancel (Table.KeyUnchecked);
		// as int4, summed in an int8 without overflow, where int8's sum is a numeric.
		hash = op("pg_catalog.bit_xor(h)", "#", "pg_catalog.sum("+op("h", ">>", "40")+"::int4)")
	}
	return fmt.Sprintf("WITH h AS MATERIALIZED (SELECT b, pg_catalog.count(*), "+hash+"%s FROM (SELECT %s::int8 AS b, %s AS h%s FROM %s WHERE %s OFFSET 0) s GROUP BY 1) SELECT * FROM h ORDER BY 1",
		aggs, bucket, q.RowHash(), cols, q.T.From(), q.where(pred)), a.vals
}

// LoneKeys reports whether BucketHash(r, b) also returns each bucket's XOR of keys. In a bucket that
// differs by one row, present on some nodes and absent on the others, the XOR of the two sides' key XORs
// is that row's key, so the row can be fetched by key instead of comparing the whole bucket. Only for a
// single integer key cut arithmetically, where the XOR of keys is a key and a bucket's bounds are plain
// arithmetic, and not where keys may repeat (Table.KeyUnchecked), whose bucket hash is not an XOR alone.
func (q *SQL) LoneKeys(b Buckets) bool { return b.Width > 0 && q.T.IntegerKey() && !q.T.KeyUnchecked }

// Holds reports whether integer key k lies in bucket n of range r cut by b (b.Width > 0), within r's own
// bounds.
func (b Buckets) Holds(r Range, n, k int64) bool {
	if k < b.Origin+n*b.Width || (r.Lo != nil && lessInt(k, r.Lo[0])) {
		return false
	}
	if end, ok := bucketEnd(b.Origin, b.Width, n); ok && k >= end {
		return false
	}
	return r.Hi == nil || lessInt(k, r.Hi[0])
}

// bucketExpr is the bucket number of a row's key under b.
func (q *SQL) bucketExpr(a *args, b Buckets) string {
	switch {
	case b.Hashed > 0:
		return op(q.keyHash(), "&", a.add(strconv.FormatInt(b.Hashed-1, 10), "int8"))
	case b.Width > 0:
		return op(op(q.keyExpr(0), "-", a.add(strconv.FormatInt(b.Origin, 10), "int8")), "/", a.add(strconv.FormatInt(b.Width, 10), "int8"))
	}
	return "0"
}

// keyHash is the hash of a row's key that key-hash buckets take their low bits of.
func (q *SQL) keyHash() string {
	h := q.seed()
	for _, k := range q.T.Key {
		h, _ = q.hashStep(q.T.Columns[k], h) // a partition of the keys: NULLs need no mark
	}
	return h
}

// bucketIDs is ids as an int8[] parameter.
func bucketIDs(a *args, ids []int64) string {
	s := make([]string, len(ids))
	for i, n := range ids {
		s[i] = strconv.FormatInt(n, 10)
	}
	return a.add("{"+strings.Join(s, ",")+"}", "int8[]")
}

// SelectBuckets is Select, with the row hash, for the rows of range r that fall in the listed key-hash
// buckets of b (b.Hashed > 0): one scan of r reads them all, since no key range describes a bucket. The
// hash stays with full rows too: one query covers every differing bucket of r, up to the whole table, and
// keys whose text could not decide them would pile up until it ends.
func (q *SQL) SelectBuckets(r Range, b Buckets, buckets []int64, full bool) (string, []any) {
	var a args
	pred := q.rangePred(&a, r)
	pred += " AND " + op(q.bucketExpr(&a, b), "=", "ANY("+bucketIDs(&a, buckets)+")")
	sel := fmt.Sprintf("SELECT %s FROM %s WHERE %s", q.selectList(true, full), q.T.From(), q.where(pred))
	if r.Lo == nil && r.Hi == nil || q.T.ByKeyHash() {
		// The whole table (or all of it but a sample): the planner cannot tell how few rows the buckets
		// hold, and read all of them through the key's index to save a sort, in random physical order for
		// a random key (10M rows of uuid keys: 36.6 s for the 750,000 rows of 19,267 buckets). Fenced off
		// by OFFSET 0, the scan is sequential and only the rows kept are sorted.
		sel = "SELECT * FROM (" + sel + " OFFSET 0) rowdiff_rows"
	}
	return sel + " ORDER BY " + q.orderBy(), a.vals
}

// BucketRange is the key range of bucket number n of r cut arithmetically by b (b.Width > 0).
func BucketRange(r Range, b Buckets, n int64) Range {
	lo := b.Origin
	out := Range{Lo: Key{strconv.FormatInt(lo+n*b.Width, 10)}, Hi: r.Hi}
	// Past the last whole bucket the range's own (possibly open) end applies; this also avoids overflow.
	if hi, ok := bucketEnd(lo, b.Width, n); ok && (r.Hi == nil || lessInt(hi, r.Hi[0])) {
		out.Hi = Key{strconv.FormatInt(hi, 10)}
	}
	return out
}

func bucketEnd(lo, width, n int64) (int64, bool) {
	end := lo + (n+1)*width
	if (n+1) != 0 && (end-lo)/(n+1) != width || end < lo {
		return 0, false
	}
	return end, true
}

func lessInt(a int64, b string) bool {
	v, err := strconv.ParseInt(b, 10, 64)
	return err == nil && a < v
}

// Select lists the key columns and the row hash or, when full is set, every column; all as text. It reads
// the union of ranges rs (ascending, disjoint) in key order. A full select leaves the row hash out because
// most of its rows differ: their text tells (see Table.TextDecides), and computing the hash would cost the
// server more than reading the row. Keys their text cannot decide are fetched again with Fetch.
func (q *SQL) Select(rs []Range, full bool) (string, []any) {
	if !full && len(rs) > 1 && len(q.T.Key) == 1 && closed(rs) && q.T.Name != "rowdiff_bounds" {
		return q.selectJoined(rs)
	}
	var a args
	preds := make([]string, len(rs))
	for i, r := range rs {
		preds[i] = "(" + q.rangePred(&a, r) + ")"
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s", q.selectList(!full, full), q.T.From(),
		q.where(strings.Join(preds, " OR ")), q.orderBy()), a.vals
}

// selectJoined is Select of the keys and row hashes of several closed ranges of a single-column key: the
// bounds travel as two arrays joined to the table, each range one parameterized index scan. With the
// ranges OR-ed, the planner weighed a bitmap OR of every range each time: in node a's statement log of a
// 0.3 % diff of the bench's 1M table, its 23 key-and-hash compares took 178–221 ms to parse, plan and run,
// against 93–118 ms joined (3 alternating runs). OFFSET 0 keeps the table's scan inside the join, one scan
// per range: flattened, the planner could read the whole table in key order and filter it by the bounds,
// which an earlier join without it did on the 10M table. The sort is of at most one compare task's rows,
// so only compares of keys and hashes, not whole rows, are joined.
func (q *SQL) selectJoined(rs []Range) (string, []any) {
	var a args
	los, his := make([]string, len(rs)), make([]string, len(rs))
	for i, r := range rs {
		los[i], his[i] = r.Lo[0], r.Hi[0]
	}
	typ := q.paramType(0) + "[]"
	k := q.keyExpr(0)
	// The table keeps its own name, which a --where filter may use; the bounds' alias is one no table of
	// rowdiff's joins is called (Select keeps the OR form for a table of that name).
	bounds := fmt.Sprintf("ROWS FROM (pg_catalog.unnest(%s), pg_catalog.unnest(%s)) rowdiff_bounds(lo, hi)", a.add(ArrayLiteral(los), typ), a.add(ArrayLiteral(his), typ))
	// The columns by name, not *: a star needs SELECT on every column of the table, and a role granted
	// SELECT on the compared columns alone failed every such compare (found by a tester).
	cols := make([]string, len(q.T.Columns))
	for i, c := range q.T.Columns {
		cols[i] = QuoteIdent(c.Name)
	}
	inner := fmt.Sprintf("SELECT %s FROM %s WHERE %s", strings.Join(cols, ", "), q.T.From(),
		q.where(op(k, ">=", "rowdiff_bounds.lo")+" AND "+op(k, "<", "rowdiff_bounds.hi")))
	return fmt.Sprintf("SELECT %s FROM (SELECT rowdiff_rows.* FROM %s CROSS JOIN LATERAL (%s OFFSET 0) rowdiff_rows) s ORDER BY %s",
		q.selectList(true, false), bounds, inner, q.orderBy()), a.vals
}

// closed reports whether every range of rs has both bounds.
func closed(rs []Range) bool {
	for _, r := range rs {
		if r.Lo == nil || r.Hi == nil {
			return false
		}
	}
	return true
}

// selectList is the key columns then the row hash (hash), or with full the row hash (hash) then every
// column: a row carries its key columns already, so they are not sent twice. Every expression has an
// alias no column of the table has: PostgreSQL names an unaliased one after its function, and a key
// column named so (hashint4extended, coalesce) made the ORDER BY of its name ambiguous, failing every
// compare, recheck and repair of the table (found by an exploratory helper).
func (q *SQL) selectList(hash, full bool) string {
	cols := make([]string, 0, len(q.T.Key)+1+len(q.T.Columns))
	if !full {
		for _, k := range q.T.Key {
			cols = append(cols, QuoteIdent(q.T.Columns[k].Name))
		}
	}
	if hash {
		cols = append(cols, q.RowHash()+" AS "+q.hashAlias())
	}
	if full {
		for j, c := range q.T.Columns {
			if (c.Converted || regCatalog[c.Base] != "") && !q.T.IsKey(j) {
				// In the common type, so that equal values have the same text on every node: a
				// timestamp and the timestamptz it became would not; nor would an object identifier
				// read under two search_paths (regIdentity).
				cols = append(cols, valueExpr(c)+" AS "+QuoteIdent(c.Name))
			} else {
				cols = append(cols, QuoteIdent(c.Name))
			}
		}
	}
	return strings.Join(cols, ", ")
}

// hashAlias is the row hash's name in selectList: rowdiff_hash, or with a number where a column has that name.
func (q *SQL) hashAlias() string {
	alias := "rowdiff_hash"
	for n := 1; q.T.ColumnIndex(alias) >= 0; n++ {
		alias = fmt.Sprintf("rowdiff_hash_%d", n)
	}
	return alias
}

// Fetch reads the row hash and every column of the given keys, in key order. Integer keys travel as int8,
// as bounds do: a recheck or repair reading int4 keys failed on a key another node's int8 key had (out of
// range for type integer), which simply is not on these nodes (found by an exploratory helper).
func (q *SQL) Fetch(keys []Key) (string, []any) {
	var a args
	var pred string
	if len(q.T.Key) == 1 {
		elems := make([]string, len(keys))
		for i, k := range keys {
			elems[i] = k[0]
		}
		pred = op(q.keyExpr(0), "=", "ANY("+a.add(ArrayLiteral(elems), q.paramType(0)+"[]")+")")
	} else {
		unnest := make([]string, len(q.T.Key))
		for i := range q.T.Key {
			elems := make([]string, len(keys))
			for j, k := range keys {
				elems[j] = k[i]
			}
			unnest[i] = "pg_catalog.unnest(" + a.add(ArrayLiteral(elems), q.paramType(i)+"[]") + ")"
		}
		pred = op(q.keyTuple(), "=", "ANY (SELECT * FROM ROWS FROM ("+strings.Join(unnest, ", ")+"))")
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s", q.selectList(true, true), q.T.From(),
		q.where(pred), q.orderBy()), a.vals
}

// NextBound returns the key step rows past r.Lo in key order (r.Lo itself, if a row, is the first; with no
// r.Lo, the first key is), or no row when r holds no more: the end of a range of step rows on the node it
// runs on. The key's index serves it without a sort, reading step entries: in EXPLAIN ANALYZE on 1M keys
// of a composite key, one bound of a 65,536-row step took 3.0 ms, where numbering every key with a window
// function, as bounds were once read, took 296 ms.
func (q *SQL) NextBound(r Range, step int64) (string, []any) {
	var a args
	pred := q.rangePred(&a, r)
	keys := make([]string, len(q.T.Key))
	for i, k := range q.T.Key {
		keys[i] = QuoteIdent(q.T.Columns[k].Name)
	}
	return fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET %s LIMIT 1", strings.Join(keys, ", "), q.T.From(),
		q.where(pred), q.orderBy(), a.add(strconv.FormatInt(step, 10), "int8")), a.vals
}

// MinMax returns the smallest and largest integer key. It ignores --where: bounds of all rows contain
// those of the filtered ones, and min and max of the bare key are two index probes, not a scan.
func (q *SQL) MinMax() string {
	k := q.keyExpr(0)
	return fmt.Sprintf("SELECT pg_catalog.min(%s)::text, pg_catalog.max(%s)::text FROM %s", k, k, q.T.From())
}

// ArrayLiteral renders elements as a PostgreSQL array literal, every element quoted.
func ArrayLiteral(elems []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for j := 0; j < len(e); j++ {
			if e[j] == '"' || e[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(e[j])
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// CheckWhere refuses a --where filter that is not one expression inside the parentheses rowdiff puts it
// in. Trusted input all the same, but one that closed them (`grp = 1) OR (true`) dropped the range
// condition before it and read the whole table for every range (a helper's run went on for 3 minutes of
// CPU before it was stopped); a positional parameter ($1) took one of rowdiff's own, and failed only at a
// later query; a semicolon would end rowdiff's statement. Strings, quoted identifiers, dollar quotes and
// comments are passed over, so a parenthesis or a $1 inside them counts for nothing.
func CheckWhere(s string) error {
	depth := 0
	identChar := func(c byte) bool {
		return c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
	}
	code := false // whether anything but comments and spaces came
	for i := 0; i < len(s); i++ {
		c := s[i]
		next := byte(0)
		if i+1 < len(s) {
			next = s[i+1]
		}
		if !(c == '-' && next == '-') && !(c == '/' && next == '*') && !strings.ContainsRune(" \t\n\r\f\v", rune(c)) {
			code = true
		}
		switch {
		case c == '-' && next == '-':
			j := strings.IndexAny(s[i:], "\n\r")
			if j < 0 {
				j = len(s) - i // the rest is a comment; rowdiff ends the filter with a line break
			}
			i += j
		case c == '/' && next == '*': // block comments nest
			nest := 0
			for ; i < len(s); i++ {
				if strings.HasPrefix(s[i:], "/*") {
					nest, i = nest+1, i+1
				} else if strings.HasPrefix(s[i:], "*/") {
					nest, i = nest-1, i+1
				}
				if nest == 0 {
					break // i is at the comment's last character
				}
			}
			if nest > 0 {
				return fmt.Errorf("--where: unterminated /* comment")
			}
		case c == '\'' || c == '"':
			// E'...' takes backslash escapes; every string and quoted identifier doubles its quotes.
			escapes := c == '\'' && i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i == 1 || !identChar(s[i-2]))
			j := closingQuote(s, i, escapes)
			if j < 0 {
				return fmt.Errorf("--where: unterminated string or quoted identifier")
			}
			i = j
		case c == '$' && (i == 0 || !identChar(s[i-1])):
			if next >= '0' && next <= '9' {
				return fmt.Errorf("--where: parameter $%c: rowdiff's queries bind their own parameters; write the value", next)
			}
			close := strings.IndexByte(s[i+1:], '$')
			if close < 0 {
				continue
			}
			tag := s[i : i+close+2]
			if !validTag(tag) {
				continue
			}
			end := strings.Index(s[i+len(tag):], tag)
			if end < 0 {
				return fmt.Errorf("--where: unterminated dollar-quoted string %s", tag)
			}
			i += len(tag) + end + len(tag) - 1
		case c == '(':
			depth++
		case c == ')':
			if depth--; depth < 0 {
				return fmt.Errorf("--where: a ')' closes a parenthesis the filter did not open: the filter must be one expression")
			}
		case c == ';':
			return fmt.Errorf("--where: a ';' would end the statement: the filter must be one expression")
		}
	}
	if depth > 0 {
		return fmt.Errorf("--where: %d parenthesis(es) left open", depth)
	}
	if !code && strings.TrimSpace(s) != "" {
		// It failed at the first range, "syntax error at or near )" (found by an exploratory helper).
		return fmt.Errorf("--where holds only comments: give it an expression, or leave the flag out")
	}
	return nil
}

// closingQuote is the index of the quote that ends the string or quoted identifier opening at s[i], or -1.
func closingQuote(s string, i int, escapes bool) int {
	for j := i + 1; j < len(s); j++ {
		switch {
		case escapes && s[j] == '\\':
			j++
		case s[j] != s[i]:
		case j+1 < len(s) && s[j+1] == s[i]:
			j++
		default:
			return j
		}
	}
	return -1
}

// validTag reports whether tag ($...$) opens a dollar-quoted string: $$, or an identifier without $
// between the two.
func validTag(tag string) bool {
	for i := 1; i < len(tag)-1; i++ {
		c := tag[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80 || i > 1 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
