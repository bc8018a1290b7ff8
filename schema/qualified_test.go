package schema

import (
	"regexp"
	"strings"
	"testing"
)

// sqlWords are the keywords and syntax that may stand before a parenthesis without being a function
// PostgreSQL looks up by name along the search_path.
var sqlWords = map[string]bool{
	"select": true, "from": true, "where": true, "and": true, "or": true, "not": true, "in": true, "as": true,
	"any": true, "array": true, "row": true, "coalesce": true, "exists": true, "extract": true, "rows": true,
	"then": true, "else": true, "when": true, "materialized": true, "lateral": true, "join": true,
}

// unqualified lists what sql calls by a name the search_path resolves: functions not written
// pg_catalog.f(...), and operators outside OPERATOR(pg_catalog.op). Strings, quoted identifiers, casts,
// parameters, negative literals and the * of count(*) and SELECT * are passed over; rowdiff's own
// aliases (rowdiff_...) name column lists, not functions.
func unqualified(sql string) []string {
	s := regexp.MustCompile(`'(?:[^']|'')*'`).ReplaceAllString(sql, "''")
	s = regexp.MustCompile(`"(?:[^"]|"")*"`).ReplaceAllString(s, "QI")
	s = regexp.MustCompile(`OPERATOR\(pg_catalog\.[^)\s]+\)`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`::[\w.]+(\[\])?`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`\$\d+`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`\(\*\)|SELECT \*|\.\*`).ReplaceAllString(s, " ")
	s = regexp.MustCompile(`([(,]\s*)-(\d)`).ReplaceAllString(s, "$1$2")
	var bad []string
	for _, m := range regexp.MustCompile(`(?:^|[^\w.])([A-Za-z_]\w*)\s*\(`).FindAllStringSubmatch(s, -1) {
		if name := strings.ToLower(m[1]); !sqlWords[name] && !strings.HasPrefix(name, "rowdiff_") {
			bad = append(bad, "function "+m[1])
		}
	}
	for _, m := range regexp.MustCompile(`[<>=!~#&|+\-*/%^@]+`).FindAllString(s, -1) {
		bad = append(bad, "operator "+m)
	}
	return bad
}

func TestUnqualifiedFindsBareNames(t *testing.T) {
	for _, sql := range []string{`SELECT lower(x)`, `SELECT a < 0`, `SELECT a || 'b'`, `WHERE k = ANY($1::int8[])`} {
		if len(unqualified(sql)) == 0 {
			t.Errorf("unqualified(%q) found nothing", sql)
		}
	}
	if bad := unqualified(`SELECT pg_catalog.lower(x) OPERATOR(pg_catalog.<) 'a<b' FROM "t(" WHERE (-1)::int8 = $1`); len(bad) != 1 {
		t.Errorf("unqualified found %v, want only the = of the last comparison", bad)
	}
}

// TestQueriesNameBuiltinsInCatalog: every function and operator of every query rowdiff sends for a table
// names pg_catalog's. With pg_catalog first on the search_path, PostgreSQL still prefers, from a later
// schema, a function or operator of exactly the arguments' types to one of pg_catalog's that needs a cast
// or is polymorphic: a public.<(numeric, int4) hid a numeric's changed sign, and a
// public.hash_array_extended(date[], int8) every changed date (found by an exploratory helper).
func TestQueriesNameBuiltinsInCatalog(t *testing.T) {
	enumCol := Column{Name: "mood", CastType: `"app"."mood"`, Base: `"app"."mood"`, Category: "E", EnumLabel: true}
	cols := []Column{
		{Name: "id", CastType: "bigint", Base: "int8", NotNull: true},
		{Name: "i2", CastType: "smallint", Base: "int2"}, {Name: "i4", CastType: "integer", Base: "int4"},
		{Name: "n", CastType: "numeric", Base: "numeric", Category: "N"},
		{Name: "f4", CastType: "real", Base: "float4"}, {Name: "f8", CastType: "double precision", Base: "float8"},
		{Name: "t", CastType: "text", Base: "text"}, {Name: "vc", CastType: "character varying", Base: "varchar"},
		{Name: "bp", CastType: "bpchar", Base: "bpchar"}, {Name: "ci", CastType: "text", Base: "text", Nondeterministic: true},
		{Name: "b", CastType: "boolean", Base: "bool"}, {Name: "d", CastType: "date", Base: "date"},
		{Name: "ts", CastType: "timestamp without time zone", Base: "timestamp"},
		{Name: "tz", CastType: "timestamp with time zone", Base: "timestamptz"},
		{Name: "tm", CastType: "time without time zone", Base: "time"}, {Name: "ttz", CastType: "time with time zone", Base: "timetz"},
		{Name: "iv", CastType: "interval", Base: "interval"}, {Name: "u", CastType: "uuid", Base: "uuid"},
		{Name: "by", CastType: "bytea", Base: "bytea"}, {Name: "jb", CastType: "jsonb", Base: "jsonb"},
		{Name: "ip", CastType: "inet", Base: "inet"}, {Name: "x", CastType: "xml", Base: "xml"},
		{Name: "ct", CastType: "citext", Base: "citext"}, {Name: "nr", CastType: "numrange", Base: "numrange", Category: "R"},
		{Name: "nmr", CastType: "nummultirange", Base: "nummultirange", Category: "R"},
		{Name: "ai", CastType: "integer[]", Base: "_int4", Category: "A", ElemBase: "int4"},
		{Name: "af", CastType: "double precision[]", Base: "_float8", Category: "A", ElemBase: "float8"},
		{Name: "an", CastType: "numeric[]", Base: "_numeric", Category: "A", ElemBase: "numeric"},
		{Name: "aiv", CastType: "interval[]", Base: "_interval", Category: "A", ElemBase: "interval"},
		{Name: "anr", CastType: "numrange[]", Base: "_numrange", Category: "A", ElemBase: "numrange"},
		{Name: "anmr", CastType: "nummultirange[]", Base: "_nummultirange", Category: "A", ElemBase: "nummultirange"},
		{Name: "abp", CastType: "bpchar[]", Base: "_bpchar", Category: "A", ElemBase: "bpchar"},
		{Name: "act", CastType: "citext[]", Base: "_citext", Category: "A", ElemBase: "citext"},
		{Name: "aci", CastType: "text[]", Base: "_text", Category: "A", ElemBase: "text", Nondeterministic: true},
		enumCol,
		{Name: "pr", CastType: `"app"."pair"`, Base: `"app"."pair"`, Category: "C", Fields: []Column{
			{Name: "x", CastType: "numeric", Base: "numeric"}, {Name: "y", CastType: "text", Base: "text"}}},
		{Name: "dm", CastType: "integer", Base: "int4", Domain: true},
		{Name: "wz", CastType: "timestamp with time zone", Base: "timestamptz", Converted: true, Zone: "Europe/Paris"},
		{Name: "rc", CastType: "regclass", Base: "regclass"},
	}
	tables := map[string]*Table{
		"integer key": {Schema: "s", Name: "t", Columns: cols, Key: []int{0}},
		"text key": {Schema: "s", Name: "t", Columns: append([]Column{{Name: "k", CastType: "character varying", Base: "varchar", NotNull: true}}, cols[1:]...),
			Key: []int{0}, KeyUTF8: true},
		"two-column key": {Schema: "s", Name: "t", Columns: append([]Column{{Name: "k", CastType: "text", Base: "text", NotNull: true},
			{Name: "k2", CastType: "integer", Base: "int4", NotNull: true}}, cols[1:]...), Key: []int{0, 1}},
		"keys unchecked": {Schema: "s", Name: "t", Columns: cols, Key: []int{0}, KeyUnchecked: true},
	}
	r := Range{Lo: Key{"1"}, Hi: Key{"9"}}
	for name, tbl := range tables {
		for _, mode := range []struct{ Exact, NormalizeEncoding bool }{{}, {Exact: true}, {NormalizeEncoding: true}} {
			q := &SQL{T: tbl, Exact: mode.Exact, NormalizeEncoding: mode.NormalizeEncoding, Seed: -42}
			lo, hi := Key{"a", "1"}[:len(tbl.Key)], Key{"b", "2"}[:len(tbl.Key)]
			if tbl.IntegerKey() {
				lo, hi = r.Lo, r.Hi
			}
			kr := Range{Lo: lo, Hi: hi}
			queries := map[string]string{}
			queries["BucketHash width"], _ = q.BucketHash(kr, Buckets{Width: 4, Origin: 1})
			queries["BucketHash hashed"], _ = q.BucketHash(kr, Buckets{Hashed: 64})
			queries["BucketHash only"], _ = q.BucketHash(Range{}, Buckets{Hashed: 256, Within: 16, Only: []int64{1, 3}})
			queries["Select"], _ = q.Select([]Range{kr, {Lo: hi}}, false)
			queries["Select joined"], _ = q.Select([]Range{kr, {Lo: hi, Hi: Key{"c", "3"}[:len(tbl.Key)]}}, false)
			queries["Select full"], _ = q.Select([]Range{kr}, true)
			queries["SelectBuckets"], _ = q.SelectBuckets(kr, Buckets{Hashed: 64}, []int64{1, 2}, true)
			queries["Fetch"], _ = q.Fetch([]Key{lo, hi})
			queries["NextBound"], _ = q.NextBound(kr, 100)
			queries["MinMax"] = q.MinMax()
			for qname, sql := range queries {
				if bad := unqualified(sql); len(bad) > 0 {
					t.Errorf("%s, exact %v, encoding %v, %s: %v in\n%s", name, mode.Exact, mode.NormalizeEncoding, qname, bad, sql)
				}
			}
		}
	}
}
