// Package schema describes the table being compared, the same on every node, and builds the SQL that reads it.
// Everything here is pure: it never talks to a database, so the SQL can be checked by unit tests.
package schema

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Kind says how a column's values leave rowdiff: as JSON numbers, booleans, embedded JSON, or text.
type Kind int

const (
	KindText Kind = iota
	KindInt
	KindBool
	KindJSON
)

// Column is one compared column. Type information comes from the first node, or where the nodes declare it
// differently, describes the type its values are compared in on every node.
type Column struct {
	Name string
	// Type is format_type(atttypid, atttypmod), e.g. "numeric(12,2)", or the common type where nodes differ.
	Type string
	// CastType is the type to cast a text parameter to (the base type without typmod), e.g. "numeric";
	// never one that would cut a value short ("bpchar", not "character", which means char(1)).
	CastType string
	// Base is the pg_type.typname of the base type after domains are resolved, e.g. "int8", "_text"; a user
	// type's is quoted ("\"numrange\""), so that only built-in types (and citext) take the rules of their names.
	Base string
	// Category is pg_type.typcategory of the base type ('A' arrays, 'E' enums, ...).
	Category string
	// ElemBase is the element typname for arrays (a domain's, the type it is over), "" otherwise.
	ElemBase string
	// ElemCategory is the element typcategory for arrays.
	ElemCategory string
	NotNull      bool
	// Domain is set when the column's declared type is a domain over Base.
	Domain bool
	// CCollation says the column sorts by bytes here ("C" or "POSIX"), so an index on it can serve the
	// COLLATE "C" range conditions rowdiff uses for text keys.
	CCollation bool
	// Nondeterministic says the column's collation is nondeterministic on every node (an ICU collation
	// with deterministic = false, e.g. case-insensitive), the same on every node: its equality is the
	// collation's, not bytes'.
	Nondeterministic bool
	// Collation is the definition of the column's nondeterministic collation (provider, locales, rules
	// and the library's version of it), or empty: the nodes must agree on it for Nondeterministic.
	Collation string
	// Generated columns are computed by the server and cannot be written; IdentityAlways columns need
	// OVERRIDING SYSTEM VALUE to be written. Defaulted ones have a default or are an identity, which an
	// INSERT that leaves them out gives them.
	Generated, IdentityAlways, Defaulted bool
	// Checked says a CHECK constraint of the table names the column.
	Checked bool
	// TargetType is, in a repair, the column's base type on the target without a typmod, named with its
	// schema outside pg_catalog: a repair script casts to it, which the target resolves whatever its search_path (a
	// script cast to the type as the source's path named it, and failed where the target's path lacked
	// its schema, or where its extension was installed in another schema there).
	TargetType string
	// Precision and Scale are numeric's typmod; -1 when unconstrained.
	Precision, Scale int
	// Converted says the nodes declare the column with different base types (int4 on one, int8 on
	// another): every node reads its values as CastType, the common type, except in key conditions,
	// where the cast would keep an index on the narrower type from serving them.
	Converted bool
	// Zone is set on a column some nodes declare timestamp and others timestamptz (Converted, as
	// timestamptz): the time zone (--timestamp-zone) the timestamp values are local times in, as a
	// migration's ALTER COLUMN ... TYPE timestamptz USING c AT TIME ZONE zone reads them.
	Zone string
	// EnumLabel is set on a column some node declares an enum and another text, varchar or another enum
	// (Converted, as text): it compares by label. A repair writes its values as untyped literals, which
	// INSERT turns into the target's type: no cast leads from text to an enum.
	EnumLabel bool
	// Fields are a composite type's attributes, alike on every node: the column compares field by field,
	// each by its own type's equality, as PostgreSQL compares records. Without them, by its text.
	Fields []Column
	// ElemFields are the attributes of the composite type an array's elements, or a range's bounds, are
	// of, read only to check that every node has them in one order: such values compare by their text, in
	// which each composite lists its fields in its node's order.
	ElemFields []Column
	// Reordered says the column's composite fields, at some depth, are in another order on some node. They
	// compare by name all the same; under --exact by a text of the fields in the first node's order.
	Reordered bool
	// Expr is the SQL of a composite's field ("(x)."f""), read in place of a column by its name.
	Expr string
}

// TextSettings are the session settings every value's text form depends on, as rowdiff reads it (the
// equality definition and the key order assume them) and as a repair script writes it back. money's text
// follows lc_monetary ("$1.25" in C, "1,25 €" in de_DE), so nodes set up in other countries would differ
// in every money value without it. quote_all_identifiers quotes every name in the text of reg* values and
// pg_identify_object's identities: set on one node, pg_catalog.pg_class differed from
// "pg_catalog"."pg_class" (found by an exploratory helper).
var TextSettings = [][2]string{
	{"TimeZone", "UTC"},
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"bytea_output", "hex"},
	{"lc_monetary", "C"},
	{"quote_all_identifiers", "off"},
}

// CatalogFirst is the query that puts pg_catalog first on the search_path for the transaction, the rest
// of the path kept (for --table without a schema, --where, and a target's triggers). rowdiff's SQL names
// built-in types unqualified, and repair scripts their functions and operators too: a schema before
// pg_catalog could put its own in their place (a domain public.text over varchar(3) cut every text value a
// repair script wrote to three characters, with exit 0, in a helper's run). Functions and operators of
// rowdiff's own queries are named in pg_catalog besides (see schema.op).
//
// It runs under the path it changes, so it names nothing a schema before pg_catalog could hold: its
// operators had been bare, and a schema first on the path whose ||(text, text) left itself first kept a
// domain evil.text over varchar(20) for every ::text, which cut the values rowdiff hashed (exit 0 on a
// changed row; found by an exploratory helper).
const CatalogFirst = `SELECT pg_catalog.set_config('search_path', pg_catalog.concat_ws(', ', 'pg_catalog', CASE WHEN ` +
	`pg_catalog.current_setting('search_path') OPERATOR(pg_catalog.<>) '' THEN pg_catalog.current_setting('search_path') END), true)`

// TextSetting is the value TextSettings gives the named setting.
func TextSetting(name string) string {
	for _, kv := range TextSettings {
		if kv[0] == name {
			return kv[1]
		}
	}
	panic("schema: no text setting " + name)
}

// WriteType is the type a repair script casts the column's values to: the target's own (TargetType) where
// the nodes' types are alike, or the common type they compare in where they are not (Converted).
func (c Column) WriteType() string {
	if c.TargetType != "" && !c.Converted {
		return c.TargetType
	}
	return c.Type
}

// BuiltIn reports whether the column's base type is one of PostgreSQL's own, or citext (see Base).
func (c Column) BuiltIn() bool { return !strings.HasPrefix(c.Base, `"`) }

// Kind tells how the JSON Lines sink writes the value.
func (c Column) Kind() Kind {
	switch c.Base {
	case "int2", "int4", "int8", "oid":
		return KindInt
	case "bool":
		return KindBool
	case "json", "jsonb":
		return KindJSON
	}
	return KindText
}

// Table is the comparison target: its columns in canonical order (the first node's attnum order) and its key.
type Table struct {
	Schema, Name string
	Columns      []Column
	// Key holds indexes into Columns, in key order.
	Key     []int
	cmpOnce sync.Once
	cmp     []func(a, b string) int

	// KeyScan, when not empty, names a node whose index cannot serve range conditions on the key and why
	// (a text key whose collation is not C there, or no usable index on the key at all): a range is then
	// read by one scan that picks rows by bucket number.
	KeyScan string
	// KeyBytes says the key's text columns order by bytes in their own collation (C or POSIX) on every
	// node, so SQL compares them as they are instead of with COLLATE "C". An index serves a condition or
	// an order only in its own collation, which is not "C" even where it orders like it: in databases
	// created with LOCALE 'C', a recheck of the 29,913 differences of a 10M-row table read the whole table
	// once per 256 keys, 168 s instead of 0.84 s (and a 1M-row diff by ranges, 260 s instead of 3.8 s).
	// Inspection sets it where KeyScan is empty; it is not derived from KeyScan, so that a Table built by
	// hand (tests, the bench) keeps COLLATE "C".
	KeyBytes bool
	// KeyUnchecked says some node has no unique index on the key columns (a --key of other columns, a
	// migration target without its primary key yet, a table read with its inheritance children), so two
	// of its rows may share a key. Two such rows alike in every compared column hash to nothing together
	// under XOR: node a's (1, 'x') twice against node b's (1, 'y') twice compared equal, with exit 0
	// (found by an exploratory helper). The bucket hash then adds a sum to the XOR (SQL.BucketHash), which
	// such a pair does not cancel, so the bucket is compared row by row, where a key met twice fails the run.
	KeyUnchecked bool
	// KeyUTF8 says some node's server encoding orders text otherwise than UTF-8 (WIN1252 puts € at 0x80,
	// before é): text key columns are then ordered by their UTF-8 bytes, as rowdiff's merge orders them,
	// and the table is read by key hash (KeyScan), since no index serves that order. Ordered as the
	// encoding's bytes, a WIN1252 table's keys reached the merge out of its order, and the run failed
	// ("not unique or arrives out of order"); beside a UTF-8 node, ranges cut at one node's keys held other
	// keys on the other, and keys were reported missing on both (a helper's run).
	KeyUTF8 bool
	// Converted says, for the summary, which columns the nodes declare with different types and the
	// common type each is compared in (see Column.Converted), one line per column, and which composite
	// columns compare by their text, their fields being other on some node.
	Converted []string
	// RandomKey says the order of the key's first column bears no relation to the table's physical
	// order on the first node (pg_stats.correlation near 0: md5 text, random uuids), see ByKeyHash.
	RandomKey bool
	// KeyQuantiles are the first node's pg_stats.histogram_bounds of a single integer key: keys that cut
	// its rows into about equal parts, from which the producer sees whether the keys spread evenly over
	// their span (see stages.Produce). Nil without statistics.
	KeyQuantiles []int64
	// KeyIndex names the unique index whose columns are the key, where the table has no primary key on
	// the first node and no key was given (each node has a unique index on the same columns).
	KeyIndex string
	// Partitioned says the table is partitioned on some node, so its rows are its partitions' (see From).
	Partitioned bool
	// Mixed says it is partitioned on some node and not on another, whose rows may then be in tables that
	// inherit from it, where a unique index of its own cannot see them (see sinks.RepairScript).
	Mixed bool
	// NoArbiter says a repair's target has no unique index that ON CONFLICT can use on the key (none on
	// exactly its columns, or only a deferrable one), or has INSERT or UPDATE rules, with which
	// PostgreSQL refuses ON CONFLICT (see sinks.RepairScript).
	NoArbiter bool
	// Unwritten says a repair's target has a column without a default that the script does not write and
	// whose NULL a constraint may refuse (NOT NULL, a domain, a CHECK), which fails every INSERT ... ON
	// CONFLICT (see sinks.RepairScript).
	Unwritten bool
	// Excluded are the --exclude-columns columns that some node of the table has.
	Excluded []string
	// SelfReferencing says a repair's target has a foreign key from the table to itself that is not
	// deferrable, which is checked at the end of each statement (see sinks.RepairScript).
	SelfReferencing bool
}

// ByKeyHash reports whether the table is read by key hash, in buckets of a hash of the key (a scan per
// node, and one more for the differing buckets), instead of by key ranges: where no index serves the key
// on some node (KeyScan), and for a random key that is not a single integer column (RandomKey). Each
// range of such a key is read through the index in random physical order. A table of md5 text keys in
// databases created with LOCALE 'C', the same output each way, when ranges held 256 buckets between
// sampled keys:
//
//	rows  different  by ranges     by key hash
//	1M    0.3 %      3.8-4.2 s     0.86-1.12 s  (2 runs each)
//	1M    all        3.36-3.54 s   3.45-3.53 s
//	10M   0.3 %      64.0 s        12.0 s       (1 run each)
//	10M   all        58.8 s        46.9 s
//
// With ranges hashed in buckets of a key hash, 1M md5 text keys in COLLATE "C" at 0.2 % took 1.86-1.98 s
// by ranges and 1.65-1.73 s by key hash (2 runs each), measured before the read-back by key hash became a
// sequential scan (SelectBuckets), after which 1M md5 uuid keys at 0.2 % took 0.92-1.03 s by key hash
// against 1.98-2.21 s before. Ranges stay for keys that follow the physical order: where differences
// gather in key order, as on a replica behind on the newest rows, they fall in a few ranges, but in
// nearly every bucket of a hash of the whole table.
func (t *Table) ByKeyHash() bool { return t.KeyScan != "" || t.RandomKey && !t.IntegerKey() }

// String is schema.name as --table takes it, each part quoted where it needs to be: in output records,
// the summary and messages. Unquoted, "x.y".z and x."y.z" were both x.y.z, and a recheck of either's
// records refused the name as ambiguous (found by an exploratory helper).
func (t *Table) String() string {
	return QuoteIdentIfNeeded(t.Schema) + "." + QuoteIdentIfNeeded(t.Name)
}

// IntegerKey reports whether the key is a single int2, int4 or int8 column: the one kind of key cut
// arithmetically into ranges and buckets.
func (t *Table) IntegerKey() bool {
	if len(t.Key) != 1 {
		return false
	}
	switch t.Columns[t.Key[0]].Base {
	case "int2", "int4", "int8":
		return true
	}
	return false
}

// Ident is the quoted, injection-proof name used in SQL.
func (t *Table) Ident() string { return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name) }

// From is the table as SQL reads it, and deletes from it: ONLY its own rows, as COPY and pg_dump take
// them, unless it is Partitioned, where ONLY would read none. Without ONLY, the rows of tables that
// inherit from it came along: --schema reported each of their differences twice, a child's key that is
// also the parent's failed the run as not unique, and a repair upserted a child's row into the parent,
// beside the child's own (TestInheritanceAndPartitions). Where one node's table is partitioned and
// another's has inheritance children, as in a move from inheritance partitioning to declarative, both are
// read whole.
func (t *Table) From() string {
	if t.Partitioned {
		return t.Ident()
	}
	return "ONLY " + t.Ident()
}

// KeyColumns returns the key columns in key order.
func (t *Table) KeyColumns() []Column {
	out := make([]Column, len(t.Key))
	for i, k := range t.Key {
		out[i] = t.Columns[k]
	}
	return out
}

// ColumnIndex returns the index of the named column or -1.
func (t *Table) ColumnIndex(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// QuoteIdent quotes an identifier the way PostgreSQL's quote_ident does, always.
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// QuoteIdentIfNeeded quotes an identifier only where PostgreSQL would fold or misread it unquoted (upper
// case, spaces, dots, a leading digit): for messages, where "table ORDERS does not exist" hid that the
// name asked for was the quoted "ORDERS".
func QuoteIdentIfNeeded(s string) string {
	for i, r := range s {
		if !(r >= 'a' && r <= 'z' || r == '_' || i > 0 && (r >= '0' && r <= '9' || r == '$')) {
			return QuoteIdent(s)
		}
	}
	if s == "" {
		return QuoteIdent(s)
	}
	return s
}

// QuoteLiteral quotes s as an SQL string literal, read alike whatever standard_conforming_strings says.
func QuoteLiteral(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		q = "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}

// IsKey reports whether column i is a key column.
func (t *Table) IsKey(i int) bool {
	return slices.Contains(t.Key, i)
}

// ParseQualified splits "[schema.]name" where either part may be double-quoted ("My.Schema"."t""x").
// Unquoted parts are folded to lower case, as PostgreSQL does. Anything that is not exactly one or two
// identifiers separated by a dot is an error, so a value can never smuggle SQL into a query.
func ParseQualified(s string) (schema, name string, err error) {
	parts, err := parseIdentList(s, '.')
	if err != nil {
		return "", "", fmt.Errorf("table %q: %w", s, err)
	}
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		return parts[0], parts[1], nil
	}
	return "", "", fmt.Errorf("table %q: want [schema.]table", s)
}

// ParseIdent parses one identifier, quoted or not (an unquoted one folded to lower case), as
// ParseQualified parses each part.
func ParseIdent(s string) (string, error) {
	parts, err := parseIdentList(s, 0)
	if err != nil {
		return "", fmt.Errorf("%q: %w", s, err)
	}
	return parts[0], nil
}

// ParseIdentList parses a comma-separated list of column identifiers, quoted or not.
func ParseIdentList(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	return parseIdentList(s, ',')
}

func parseIdentList(s string, sep byte) ([]string, error) {
	var out []string
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return nil, fmt.Errorf("empty identifier")
		}
		var id strings.Builder
		if s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						id.WriteByte('"')
						i += 2
						continue
					}
					i++
					closed = true
					break
				}
				id.WriteByte(s[i])
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quoted identifier")
			}
			if id.Len() == 0 {
				return nil, fmt.Errorf("empty quoted identifier")
			}
		} else {
			start := i
			for i < len(s) && s[i] != sep && s[i] != ' ' {
				c := s[i]
				if !(c == '_' || c == '$' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80) {
					return nil, fmt.Errorf("invalid character %q in identifier (quote it with double quotes)", c)
				}
				if i == start && c >= '0' && c <= '9' {
					return nil, fmt.Errorf("identifier may not start with a digit")
				}
				i++
			}
			if i == start {
				return nil, fmt.Errorf("empty identifier")
			}
			id.WriteString(asciiLower(s[start:i]))
		}
		out = append(out, id.String())
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) {
			return out, nil
		}
		if s[i] != sep {
			return nil, fmt.Errorf("unexpected %q after identifier", s[i])
		}
		i++
	}
}

// asciiLower folds only A-Z, like PostgreSQL's downcase_identifier in a multibyte encoding.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
