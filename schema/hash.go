package schema

import (
	"fmt"
	"strconv"
	"strings"
)

// The equality definition lives here, once. Both the range hash (bit_xor of row hashes) and the row compare
// (row hash per key) use RowHash, so a range can only look equal when every row in it compares equal. A
// row compare that reads whole rows may decide by their text instead, where Table.TextDecides says the
// text gives the same verdict.
//
// A row hash is a chain: each column's hash function takes the previous column's hash as its 64-bit seed.
// Each column is hashed with its own type's hash function, which agrees with the type's equality operator
// (numeric 2.5 = 2.50, float -0 = 0, NaN = NaN, interval '1 day' = '24 hours', timestamptz hashes the
// instant). Types whose hash would differ between nodes (enums hash their OID) or that have no hash
// function (json, xml, point, ...) are hashed by their text form under the pinned session settings.
//
// PostgreSQL's hash functions only have to agree with equality, and some leave out what tells unequal
// values apart: hash_numeric_extended leaves out the sign (5 and -5 hash alike, and with them intervals'
// spans) and NaN and ±Infinity (it returns the seed), hashfloat8extended and hashfloat4extended return the
// seed for 0, so that a 0 drops out of the chain and values could trade places across it, and
// jsonb_hash_extended hashes neither signs nor structure ('{}' = '[]', '[[1],2]' = '[[1,2]]'), and '[[]]' to 0
// whatever the seed. So jsonb is hashed by its text (see the jsonb step), and what the other steps leave out
// goes into a bit map, mixed in after the last column: one bit per nullable column that is NULL (the chain
// hashes a NULL as a stand-in value of its type, 0 or ''), one per float column that is 0, one per numeric or
// interval column that is negative, and two per numeric column for NaN and ±Infinity. So NULL, '' and 'NULL'
// are three different values, and so are (0, 5) and (5, 0). The bit map is built from nested CASEs and sums,
// which cost a fraction of a hash call per column: a flag hashed into the chain at every nullable column made
// the whole row hash of the bench's table (six nullable columns, one numeric) 10-14 % slower.

// textDecides are the base types whose text, under the pinned session settings (UTC, ISO dates, hex bytea,
// client encoding UTF8), is one string per value under the equality above. Not on it: numeric (2.5 =
// 2.50), float (-0 = 0), interval, bpchar (padding), and the rest. jsonb's text is one string per value
// too (see the jsonb step) but is left to the row hash, as before its step was its text.
var textDecides = map[string]bool{
	"int2": true, "int4": true, "int8": true, "oid": true, "bool": true, "text": true, "varchar": true,
	"uuid": true, "date": true, "time": true, "timestamp": true, "timestamptz": true, "bytea": true,
}

// TextDecides reports whether two values of column j are equal exactly when their texts are (NULL
// apart from every text). A row compare holding whole rows takes a text difference in such a column for a
// difference and rows of equal text for equal; rows whose texts differ only in other columns need the
// row hash.
func (t *Table) TextDecides(j int) bool {
	c := t.Columns[j]
	return c.Category != "A" && ((textDecides[c.Base] && !c.Nondeterministic) || c.Category == "E")
}

// chainSeed starts every row hash where SQL.Seed is 0; any constant works as long as every node uses the
// same one.
const chainSeed = 6052836392475387169

// seed is the SQL of the seed every row and key hash starts from.
func (q *SQL) seed() string {
	if q.Seed != 0 {
		return fmt.Sprintf("(%d)::int8", q.Seed)
	}
	return fmt.Sprintf("%d::int8", int64(chainSeed))
}

// directHash maps a base type to its extended hash function and a harmless stand-in for NULL, which the
// bit map then tells apart from a real value.
var directHash = map[string]struct{ fn, zero string }{
	"int2":   {"pg_catalog.hashint2extended", "0::int2"},
	"int4":   {"pg_catalog.hashint4extended", "0"},
	"float4": {"pg_catalog.hashfloat4extended", "0::float4"},
	"float8": {"pg_catalog.hashfloat8extended", "0::float8"},
	"uuid":   {"pg_catalog.uuid_hash_extended", "'00000000-0000-0000-0000-000000000000'"},
}

// arrayHashable are types with a default hash opclass consistent with equality whose hash function takes an
// argument type SQL cannot name directly, or is not callable by name: they are hashed as a one-element
// array, whose hash is the element's hash under the seed (plus a constant), with a stand-in for NULL.
// hash_record_extended(ROW(x, x IS NULL)) did the same by building a record per row: for a date column of
// the bench's 1M rows, one backend, fastest of each of 3 rounds of 5, the array took 105-107 ms against
// 144-146 ms (bool 104-113 against 145-153, bytea 134-137 against 175-181; reading the column alone 45-66).
var arrayHashable = map[string]string{
	"bool": "false", "date": "'2000-01-01'::date", "bytea": "''::bytea", "inet": "'0.0.0.0'::inet", "cidr": "'0.0.0.0/0'::cidr",
	"macaddr": "'00:00:00:00:00:00'::macaddr", "macaddr8": "'00:00:00:00:00:00:00:00'::macaddr8",
	"char": "'a'::\"char\"", "oid": "0::oid",
}

// textual are types whose equality is byte equality of their text (under a deterministic collation).
var textual = map[string]bool{"text": true, "varchar": true, "name": true, "bpchar": true}

// Textual reports whether base is a string type compared byte for byte under COLLATE "C".
func Textual(base string) bool { return textual[base] }

// marks says what the bit map must record for one column (see bitWords).
type marks struct {
	// null: the chain step hashes a NULL like its stand-in value, so the column's NULLs need a bit.
	null bool
	// numeric: the step is hash_numeric_extended, blind to NaN and ±Infinity, which need two bits.
	numeric bool
	// flags are conditions on the value that the step cannot see, a bit each: a float's 0, a numeric's or
	// an interval's sign. Each is a boolean SQL expression, NULL for a NULL value.
	flags []string
}

// hashStep returns the SQL of one chain step, column c hashed with seed prev, and what the bit map must
// record for c.
func (q *SQL) hashStep(c Column, prev string) (string, marks) {
	x := valueExpr(c)
	// mark returns a step that hashes a NULL like its stand-in, which the bit map then tells apart.
	mark := func(inner string) (string, marks) { return inner, marks{null: !c.NotNull} }
	coalesce := func(v, zero string) string {
		if c.NotNull {
			return v
		}
		return fmt.Sprintf("COALESCE(%s, %s)", v, zero)
	}
	text := func(v string) (string, marks) {
		if q.NormalizeEncoding {
			return mark(fmt.Sprintf("pg_catalog.hash_record_extended(ROW(pg_catalog.convert_to(%s, 'UTF8')), %s)", coalesce(v, "''"), prev))
		}
		return mark(fmt.Sprintf("pg_catalog.hashtextextended(%s COLLATE \"C\", %s)", coalesce(v, "''"), prev))
	}
	// A user's type's text by its output function (outputText): an enum whose cast to text printed
	// 'green' and 'blue' alike as 'cool' hashed them alike, a missed difference under --exact too (found by
	// an exploratory helper). A built-in type's casts to text are its owner's, the bootstrap superuser's,
	// and its text is read as it was.
	// xml's cast to text keeps the XML declaration its output leaves out, so '<?xml version="1.0"?><r/>'
	// and '<r/>', which print alike, differed, and a repair, writing what prints, never made them equal
	// (found by an exploratory helper).
	asText := x + "::text"
	if !c.BuiltIn() || c.Base == "xml" {
		asText = outputText(x)
	}
	if textual[c.Base] && c.Nondeterministic && !q.Exact {
		// In its own collation, hashtext hashes the collation's sort key, which equal values share
		// ('ABC' and 'abc' under a case-insensitive one); the sort key does not depend on the encoding.
		return mark(fmt.Sprintf("pg_catalog.hashtextextended(%s, %s)", coalesce(x, "''"), prev))
	}
	if q.Exact {
		if c.Reordered {
			return text(fieldsText(c, x))
		}
		if c.Base == "bpchar" {
			// Its cast to text drops the padding: 'ab' and 'ab   ' were equal under --exact (found by an
			// exploratory helper). The output function keeps it.
			return text(outputText(x))
		}
		return text(asText)
	}
	base := c.Base
	if c.Category == "A" {
		// array_eq compares dimensions, lower bounds and the elements with their type's equality.
		if elem := normalizedElem(c); elem != "" {
			// Text would tell 1.5 from 1.50, '1 day' from '24:00:00', and [1.0,2) from [1,2). The element
			// hashes leave out signs (numeric's, and the numeric ranges' that use it, and NaN and ±Infinity;
			// interval_hash_extended folds, see the interval step), and an array's hash cannot carry a bit
			// per element: hash the elements' text at their smallest scale (normalizedElem), in order, after
			// the dimensions, gathered by a subquery per row. That took a 1M-row diff of a numeric[] column
			// from 0.55-0.59 to 2.79-2.85 s (an earlier session, against the element hash alone).
			elems := fmt.Sprintf("(SELECT pg_catalog.array_agg(%s ORDER BY rowdiff_n) FROM pg_catalog.unnest(%s) WITH ORDINALITY rowdiff_e(rowdiff_v, rowdiff_n))", elem, x)
			return mark(fmt.Sprintf("pg_catalog.hashtextextended(COALESCE(%s, ''), %s)", op("pg_catalog.array_dims("+x+")", "||", elems+"::text"), prev))
		}
		// Every other array goes by its text, which writes dimensions, lower bounds and NULL elements, and
		// which is one string per value where its elements' text is (int8's, uuid's, text's, inet's, ...);
		// where it is not, it is mended first (floats, bpchar) or the elements are hashed one by one
		// (normalizedElem). hash_array_extended, which these arrays used, sums the element hashes weighted by
		// powers of 31, whatever the seed: two-valued arrays of 256 elements in a Thue-Morse pattern and
		// their swap hash alike for any two values, and a changed int4[] or text[] was missed (found by an
		// exploratory helper). Text elements go as the column's text, so do jsonb's (see the jsonb step).
		// The text costs more: one backend, 1M rows, int4[5] took 400-810 ms against 180-290 ms by the
		// element hashes (3 rounds on a busy machine).
		switch {
		case c.ElemBase == "float4" || c.ElemBase == "float8":
			// -0 = 0 but writes "-0"; the other values' text is one per value under extra_float_digits=3
			// (every NaN is "NaN", equal to PostgreSQL). Elements are never quoted, and only -0 itself
			// writes "-0" before a comma or brace (an exponent is never -0): plain replaces. A regular
			// expression made a 1M-row diff of a float8[3] column take 1.67-2.23 s, against 1.00-1.37 s by
			// the element hashes and 1.33-1.70 s by these (3 runs each, on a busy machine).
			return text(fmt.Sprintf(`pg_catalog.replace(pg_catalog.replace(%s::text, '-0,', '0,'), '-0}', '0}')`, x))
		case c.ElemBase == "bpchar":
			// bpchar's cast to text drops the padding its equality ignores, element by element.
			return text(x + "::text[]::text")
		}
		if c.ElemBase == "citext" {
			// Lowercased whole, as the elements' equality lowercases each: the quoting of elements (a
			// space, a comma, the word NULL in any case) does not depend on case.
			return text(citextFold(x))
		}
		return text(asText)
	}
	switch {
	case c.Category == "E":
		return text(asText)
	case base == "citext":
		return text(citextFold(x))
	case base == "numrange":
		return text(numrangeText(x))
	case base == "nummultirange":
		return text(nummultirangeText(x))
	case base == "int8":
		// hashint8extended folds the high half into the low one (so int8 hashes like int4); hashing the
		// high half again keeps values like 1 and 2^32 apart.
		v := coalesce(x, "0")
		return mark(fmt.Sprintf("pg_catalog.hashint4extended(%s::int4, pg_catalog.hashint8extended(%s, %s))", op(v, ">>", "32"), v, prev))
	case base == "timestamp" || base == "timestamptz":
		// The binary form is the instant as 64 bits of microseconds (for timestamptz in UTC, whatever the
		// TimeZone), hashed whole. The type's own hash folds the two halves together first, so that
		// instants 2^32+1 µs apart can collide; with the epoch hashed beside it to keep those apart, it cost
		// the bench's hash query 4-36 ms more per million rows (fastest of each of 3 rounds). A one-element
		// array hashes the bytes with the seed just as ROW(...) does (the two differ by a constant), without
		// building a record: 131-133 against 165-168 ms for this step over the bench's 1M rows (one
		// backend, fastest of each of 3 rounds of 5).
		return mark(fmt.Sprintf("pg_catalog.hash_array_extended(ARRAY[pg_catalog.%s_send(%s)], %s)", base, coalesce(x, "'epoch'::"+base), prev))
	case base == "time" || base == "timetz":
		// Their hash functions fold the 64-bit microseconds as int8's does: 00:00 and 01:11:34.967297
		// (2^32+1 µs) hash alike. The binary form is the microseconds (and for timetz the zone, which
		// its equality also compares), hashed whole.
		return mark(fmt.Sprintf("pg_catalog.hash_array_extended(ARRAY[pg_catalog.%s_send(%s)], %s)", base, coalesce(x, "'00:00'::"+base), prev))
	case base == "interval":
		// interval_hash_extended folds too ('0' and '01:11:34.967297' hash alike). Equality compares
		// the span with a month as 30 days, so the span is hashed, exactly, as a numeric of microseconds:
		// six EXTRACTs and numeric arithmetic per value in place of one hash call (cost not measured).
		// The span's sign, which hash_numeric_extended leaves out, is a flag (interval comparison is the span's).
		step, m := mark(fmt.Sprintf("pg_catalog.hash_numeric_extended(%s, %s)", intervalSpan(coalesce(x, "'0'::interval")), prev))
		m.flags = []string{op(x, "<", "'0'::interval")}
		return step, m
	case textual[base]:
		return text(x + "::text")
	case base == "numeric":
		// hash_numeric_extended returns the seed itself for NaN and ±Infinity and leaves out the sign;
		// the bit map tells them apart (numericTag, and a flag for the sign).
		step, m := mark(fmt.Sprintf("pg_catalog.hash_numeric_extended(%s, %s)", coalesce(x, "0"), prev))
		m.numeric = true
		m.flags = []string{op(x, "<", "0::numeric")}
		return step, m
	case base == "jsonb":
		// jsonb_hash_extended leaves out signs and structure and can drop the seed (see the top of this
		// file). jsonb's text is one string per value but for a number's scale: it orders keys, drops
		// duplicates and white space, so only {"a": 1.0} against {"a": 1}, equal to PostgreSQL, differ
		// here. Trimming the scale in SQL (regexp_replace of the text) took 34-39 s per million of the
		// bench's small objects against 1.9-2.8 s for the text alone (one backend, on a busy machine).
		return text(x + "::text")
	case base == "float4" || base == "float8":
		// hashfloat8extended and hashfloat4extended return the seed for 0 (and -0): a flag says where.
		d := directHash[base]
		step, m := mark(fmt.Sprintf("%s(%s, %s)", d.fn, coalesce(x, d.zero), prev))
		m.flags = []string{op(x, "=", "0::"+base)}
		return step, m
	case directHash[base].fn != "":
		d := directHash[base]
		return mark(fmt.Sprintf("%s(%s, %s)", d.fn, coalesce(x, d.zero), prev))
	case arrayHashable[base] != "":
		return mark(fmt.Sprintf("pg_catalog.hash_array_extended(ARRAY[%s], %s)", coalesce(x, arrayHashable[base]), prev))
	}
	return text(asText)
}

// fieldsText is the text of composite c (value x) with its fields in c.Fields' order, named: a text of
// the same form as the type's own, where that lists them in each node's order (see Column.Reordered). A
// NULL composite is NULL, one of NULL fields "(,)", as in the type's text.
func fieldsText(c Column, x string) string {
	parts := make([]string, len(c.Fields))
	for i, f := range c.Fields {
		parts[i] = "(" + x + ")." + QuoteIdent(f.Name)
		if len(f.Fields) > 0 {
			parts[i] = fieldsText(f, parts[i])
		}
	}
	return fmt.Sprintf("CASE WHEN ROW(%s) IS NOT NULL THEN ROW(%s)::text END", x, strings.Join(parts, ", "))
}

// normalizedElem is, for an array column c whose elements are hashed one by one, the SQL of element
// rowdiff_v's text at its smallest scale (NULL for NULL), or "" for other arrays: numeric trimmed, an
// interval as its span in microseconds, trimmed, numeric ranges as numrangeText and nummultirangeText
// write them, and text in a nondeterministic collation as the hash of its sort key.
func normalizedElem(c Column) string {
	if textual[c.ElemBase] && c.Nondeterministic && c.ElemCategory != "E" {
		// Equal elements in a nondeterministic collation ('ABC' and 'abc' under a case-insensitive one)
		// differ in text but share their sort key, which hashtext hashes in the element's collation.
		return "pg_catalog.hashtextextended(rowdiff_v::text, 0)"
	}
	switch c.ElemBase {
	case "numeric":
		return "pg_catalog.trim_scale(rowdiff_v)"
	case "interval":
		return "pg_catalog.trim_scale(" + intervalSpan("rowdiff_v") + ")"
	case "numrange":
		return "CASE WHEN rowdiff_v IS NOT NULL THEN " + numrangeText("rowdiff_v") + " END"
	case "nummultirange":
		return "CASE WHEN rowdiff_v IS NOT NULL THEN " + nummultirangeText("rowdiff_v") + " END"
	}
	return ""
}

// numrangeText is numrange v's text with its bounds at their smallest scale, in the range's own text
// format: its text keeps each bound's scale ('[1.5,2.0)' against the equal '[1.50,2)').
func numrangeText(v string) string {
	return fmt.Sprintf("CASE WHEN pg_catalog.isempty(%[1]s) THEN 'empty' ELSE pg_catalog.concat(CASE WHEN pg_catalog.lower_inc(%[1]s) THEN '[' ELSE '(' END, "+
		"pg_catalog.trim_scale(pg_catalog.lower(%[1]s)), ',', pg_catalog.trim_scale(pg_catalog.upper(%[1]s)), CASE WHEN pg_catalog.upper_inc(%[1]s) THEN ']' ELSE ')' END) END", v)
}

// nummultirangeText is nummultirange v's text with its ranges' bounds at their smallest scale ({[1.0,2)}
// against the equal {[1,2)}): its ranges, in order, as numrangeText writes them.
func nummultirangeText(v string) string {
	return fmt.Sprintf("'{'::text OPERATOR(pg_catalog.||) COALESCE((SELECT pg_catalog.string_agg(%s, ',' ORDER BY rowdiff_m) FROM pg_catalog.unnest(%s) WITH ORDINALITY rowdiff_r(rowdiff_q, rowdiff_m)), '') OPERATOR(pg_catalog.||) '}'::text",
		numrangeText("rowdiff_q"), v)
}

// citextFold is the text citext's equality compares: the value lowercased in the database's default
// collation (which citext uses whatever the column's), so 'Mail@X.org' = 'mail@x.org' as PostgreSQL says.
// Nodes whose databases lowercase differently (another LC_CTYPE, for letters past ASCII) disagree on
// citext's equality itself; each is read by its own.
func citextFold(x string) string {
	return fmt.Sprintf(`pg_catalog.lower(%s::text COLLATE "default")`, x)
}

// intervalSpan is the numeric microseconds interval v stands for, a month as 30 days: what interval
// equality compares.
func intervalSpan(v string) string {
	field := func(f string) string { return "EXTRACT(" + f + " FROM " + v + ")" }
	months := op(op(field("year"), "*", "12"), "+", field("month"))
	days := op(op(months, "*", "30"), "+", field("day"))
	span := op(days, "*", "86400000000")
	for _, f := range []struct{ name, unit string }{{"hour", "3600000000"}, {"minute", "60000000"}, {"microseconds", "1"}} {
		part := field(f.name)
		if f.unit != "1" {
			part = op(part, "*", f.unit)
		}
		span = op(span, "+", part)
	}
	return span
}

// RowHash is the SQL expression of a row's 64-bit hash under the equality definition. It is built on the
// first call, so q's fields must not change after that: every hash, compare and fetch query of a run
// embeds it, and building it anew each time was 8-18 % of what a diff at 0.3 % allocated.
func (q *SQL) RowHash() string {
	q.rowHashOnce.Do(func() { q.rowHash = q.buildRowHash() })
	return q.rowHash
}

func (q *SQL) buildRowHash() string {
	h := q.seed()
	var flags, numerics []string
	var add func(c Column)
	add = func(c Column) {
		if len(c.Fields) > 0 && !q.Exact {
			// Field by field, as record equality compares ((1.5,x) equals (1.50,x)). A NULL composite and
			// one of NULL fields differ; x IS NULL would not tell them apart, ROW(x) IS NULL does.
			x := valueExpr(c)
			if !c.NotNull {
				flags = append(flags, "ROW("+x+") IS NULL")
			}
			for _, f := range c.Fields {
				f.Expr = "(" + x + ")." + QuoteIdent(f.Name)
				add(f)
			}
			return
		}
		var m marks
		h, m = q.hashStep(c, h)
		if m.null {
			flags = append(flags, valueExpr(c)+" IS NULL")
		}
		flags = append(flags, m.flags...)
		if m.numeric {
			numerics = append(numerics, valueExpr(c))
		}
	}
	for _, c := range q.T.Columns {
		add(c)
	}
	for _, w := range bitWords(flags, numerics) {
		h = fmt.Sprintf("pg_catalog.hashint4extended(%s, %s)", w, h)
	}
	return h
}

// A bitTerm is an int4 expression that sets only its own bits: width bits starting at offset shift.
type bitTerm struct {
	width int
	sql   func(shift int) string
}

// flagChunk is how many flag bits one nested CASE decides: 2^n leaves, and no function call.
const flagChunk = 3

// bitWords returns the bit map as int4 expressions of at most 31 bits each (non-negative, so a sum of
// disjoint bits never overflows), or none when no column needs a bit: one bit for each of the flags,
// boolean SQL expressions, set when it is true, and two for each of the numerics columns (SQL expressions).
func bitWords(flags, numerics []string) []string {
	var terms []bitTerm
	for len(flags) > 0 {
		conds := flags[:min(flagChunk, len(flags))]
		flags = flags[len(conds):]
		terms = append(terms, bitTerm{len(conds), func(shift int) string { return flagCase(conds, shift, 0) }})
	}
	for _, x := range numerics {
		terms = append(terms, bitTerm{2, func(shift int) string { return numericTag(x, shift) }})
	}
	var words []string
	var parts []string
	used := 0
	// A sum of the parts, each an int4: the same operator, left to right, needs no parentheses (op).
	sum := func() string { return strings.Join(parts, " OPERATOR(pg_catalog.+) ") }
	for _, t := range terms {
		if used+t.width > 31 {
			words = append(words, sum())
			parts, used = nil, 0
		}
		parts = append(parts, t.sql(used))
		used += t.width
	}
	if len(parts) > 0 {
		words = append(words, sum())
	}
	return words
}

// flagCase is a nested CASE whose value has bit shift+i set exactly when conds[i] is true (acc carries the
// bits of the conditions already decided).
func flagCase(conds []string, shift int, acc int) string {
	if len(conds) == 0 {
		return strconv.Itoa(acc)
	}
	return fmt.Sprintf("CASE WHEN %s THEN %s ELSE %s END", conds[0],
		flagCase(conds[1:], shift+1, acc|1<<shift), flagCase(conds[1:], shift+1, acc))
}

// numericTag is 1, 2 or 3 (at bit shift) for -Infinity, Infinity and NaN, else 0; scale() is NULL only
// for those three (and for NULL).
func numericTag(x string, shift int) string {
	return fmt.Sprintf("CASE WHEN pg_catalog.scale(%s) IS NOT NULL OR %s IS NULL THEN 0 WHEN %s OPERATOR(pg_catalog.=) 'NaN'::numeric THEN %d WHEN %s OPERATOR(pg_catalog.>) 0::numeric THEN %d ELSE %d END",
		x, x, x, 3<<shift, x, 2<<shift, 1<<shift)
}
