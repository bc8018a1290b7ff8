package schema

import "fmt"

// The equality definition lives here, once. Both the range hash (bit_xor of row hashes) and the row compare
// (row hash per key) use RowHash, so a range can only look equal when every row in it compares equal.
//
// A row hash is a chain: each column's hash function takes the previous column's hash as its 64-bit seed.
// Every PostgreSQL extended hash function mixes all 64 seed bits, so the chain is order-dependent and
// non-linear, and the XOR of row hashes in a range cannot cancel when values move between rows or columns.
// Each column is hashed with its own type's hash function, which agrees with the type's equality operator
// (numeric 2.5 = 2.50, float -0 = 0, NaN = NaN, interval '1 day' = '24 hours', jsonb ignores key order,
// timestamptz hashes the instant). Types whose hash would differ between nodes (enums hash their OID) or that
// have no hash function (json, xml, point, ...) are hashed by their text form under the pinned session
// settings. NULL is marked by a separate flag, so NULL, '' and 'NULL' are three different values.

// chainSeed starts every row hash; any constant works as long as every node uses the same one.
const chainSeed = 6052836392475387169

// directHash maps a base type to its extended hash function and a harmless stand-in for NULL, which the
// null flag then tells apart from a real value.
var directHash = map[string]struct{ fn, zero string }{
	"int2":     {"hashint2extended", "0::int2"},
	"int4":     {"hashint4extended", "0"},
	"float4":   {"hashfloat4extended", "0::float4"},
	"float8":   {"hashfloat8extended", "0::float8"},
	"uuid":     {"uuid_hash_extended", "'00000000-0000-0000-0000-000000000000'"},
	"jsonb":    {"jsonb_hash_extended", "'null'"},
	"interval": {"interval_hash_extended", "'0'"},
}

// recordHashable are types with a default hash opclass consistent with equality, hashed through
// hash_record_extended(ROW(x)) because their hash function takes an argument type SQL cannot name directly.
var recordHashable = map[string]bool{
	"bool": true, "date": true, "bytea": true, "time": true, "timetz": true, "inet": true, "cidr": true,
	"macaddr": true, "macaddr8": true, "char": true, "oid": true,
}

// textual are types whose equality is byte equality of their text (under a deterministic collation).
var textual = map[string]bool{"text": true, "varchar": true, "name": true, "bpchar": true}

// Textual reports whether base is a string type compared byte for byte under COLLATE "C".
func Textual(base string) bool { return textual[base] }

// hashStep returns the SQL of one chain step: column c hashed with seed prev.
func (q *SQL) hashStep(c Column, prev string) string {
	x := QuoteIdent(c.Name)
	if c.Domain {
		x += "::" + c.CastType
	}
	flag := func(inner string) string {
		if c.NotNull {
			return inner
		}
		return fmt.Sprintf("hashint4extended((%s IS NULL)::int4, %s)", x, inner)
	}
	coalesce := func(v, zero string) string {
		if c.NotNull {
			return v
		}
		return fmt.Sprintf("COALESCE(%s, %s)", v, zero)
	}
	text := func(v string) string {
		if q.NormalizeEncoding {
			return flag(fmt.Sprintf("hash_record_extended(ROW(convert_to(%s, 'UTF8')), %s)", coalesce(v, "''"), prev))
		}
		return flag(fmt.Sprintf("hashtextextended(%s COLLATE \"C\", %s)", coalesce(v, "''"), prev))
	}
	if q.Exact {
		return text(x + "::text")
	}
	base := c.Base
	if c.Category == "A" {
		// Arrays hash element-wise with the element type's hash, unless that hash is not node-independent.
		// array_eq also compares dimensions and lower bounds, which the element hash ignores.
		if c.ElemCategory != "E" && c.ElemBase != "numeric" && (directHash[c.ElemBase].fn != "" || recordHashable[c.ElemBase] ||
			c.ElemBase == "int8" || c.ElemBase == "timestamp" || c.ElemBase == "timestamptz" ||
			(textual[c.ElemBase] && !q.NormalizeEncoding)) {
			return fmt.Sprintf("hashtextextended(COALESCE(array_dims(%s), ''), %s)", x, recordHash(x, prev))
		}
		return text(x + "::text")
	}
	switch {
	case c.Category == "E":
		return text(x + "::text")
	case base == "int8":
		// hashint8extended folds the high half into the low one (so int8 hashes like int4); hashing the
		// high half again keeps values like 1 and 2^32 apart.
		v := coalesce(x, "0")
		return flag(fmt.Sprintf("hashint4extended((%s >> 32)::int4, hashint8extended(%s, %s))", v, v, prev))
	case base == "timestamp" || base == "timestamptz":
		v := x
		if base == "timestamptz" {
			// The instant as UTC wall time: the same on every node whatever its TimeZone.
			v = fmt.Sprintf("(%s AT TIME ZONE 'UTC')", x)
		}
		v = coalesce(v, "'epoch'::timestamp")
		// Timestamps hash like int8 (folded to 32 bits); hashing the epoch as well keeps apart instants
		// whose folds collide, and date_part copes with ±infinity.
		return flag(fmt.Sprintf("hashfloat8extended(date_part('epoch', %s), timestamp_hash_extended(%s, %s))", v, v, prev))
	case textual[base]:
		return text(x + "::text")
	case base == "numeric":
		// hash_numeric_extended returns the seed itself for NaN and ±Infinity, so those three would hash
		// alike (and like an absent column); a tag tells them apart. scale() is NULL only for them.
		v := coalesce(x, "0")
		tag := fmt.Sprintf("CASE WHEN scale(%s) IS NOT NULL THEN 0 WHEN %s = 'NaN' THEN 3 WHEN %s > 0 THEN 2 ELSE 1 END", v, v, v)
		return flag(fmt.Sprintf("hash_numeric_extended(%s, hashint4extended(%s, %s))", v, tag, prev))
	case directHash[base].fn != "":
		d := directHash[base]
		return flag(fmt.Sprintf("%s(%s, %s)", d.fn, coalesce(x, d.zero), prev))
	case recordHashable[base]:
		return recordHash(x, prev)
	}
	return text(x + "::text")
}

// recordHash hashes x with its type's default hash function through hash_record_extended. The NULL flag
// rides in the same record: the record hash of ROW(NULL) ignores the seed, which would cut the chain.
func recordHash(x, prev string) string {
	return fmt.Sprintf("hash_record_extended(ROW(%s, %s IS NULL), %s)", x, x, prev)
}

// RowHash is the SQL expression of a row's 64-bit hash under the equality definition.
func (q *SQL) RowHash() string {
	h := fmt.Sprintf("%d::int8", int64(chainSeed))
	for _, c := range q.T.Columns {
		h = q.hashStep(c, h)
	}
	return h
}
