package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/rowdiff/rowdiff/schema"
)

// remoteTable is what one node says about the table.
type remoteTable struct {
	schema, name string
	oid          uint32
	relkind      string
	reltuples    float64
	columns      []schema.Column
	// qualified are the columns again, every type outside pg_catalog named with its schema (columns' are
	// named as the node's search_path finds them), in the same order: readColumns reads both from one
	// query, and qualifyTypes pairs them by index.
	qualified []schema.Column
	// primaryKey is the primary key's key columns (not its INCLUDE columns).
	primaryKey []string
	// keyIndexes are the indexes that could stand for a primary key (keyIndexCond), the primary key's
	// among them, in name order.
	keyIndexes []keyIndex
	// indexes are the key columns of the valid, non-partial btree indexes, in index order: "" for an
	// expression, or for a column indexed with another operator class or collation than its own, which
	// cannot serve rowdiff's range conditions.
	indexes [][]string
	// correlation is each analyzed column's pg_stats.correlation: how closely its order follows the
	// table's physical order, from -1 to 1 (read on the first node only).
	correlation map[string]float64
	// histogram is each analyzed column's pg_stats.histogram_bounds, as text (first node only).
	histogram map[string]string
	// encoding is the node's server_encoding, set by the fleet (the coordinator read it).
	encoding string
	// writeRules says the relation has INSERT or UPDATE rules, with which PostgreSQL refuses
	// INSERT ... ON CONFLICT.
	writeRules bool
	// unreadable are the columns the session's role may not SELECT (neither the table nor the column
	// granted to it), which buildTable refuses among those rowdiff reads.
	unreadable []string
}

// utf8Ordered are the server encodings whose byte order of text is that of the same text in UTF-8, which
// rowdiff's key order is (schema.Table.KeyUTF8): UTF-8 itself, LATIN1, whose bytes are the code points,
// and SQL_ASCII, whose bytes reach rowdiff unconverted.
var utf8Ordered = map[string]bool{"UTF8": true, "LATIN1": true, "SQL_ASCII": true}

const findTableSQL = `
SELECT n.nspname, c.relname, c.oid, c.relkind::text, c.reltuples::float8,
       EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type IN ('2', '3')),
       ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               AND NOT pg_catalog.has_column_privilege(c.oid, a.attnum, 'SELECT') ORDER BY a.attnum)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND (n.nspname = $1 OR ($1 = '' AND n.nspname = ANY (pg_catalog.current_schemas(false))))
ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname::text)
LIMIT 1`

// columnsSQL reads the table's columns. The cast type is the base type named with typmod -1, not none:
// format_type(oid, NULL) names "character" and "bit", which mean char(1) and bit(1), and a cast to them
// cuts a value to its first character or bit (a char(6) key's range bounds, cut to one letter, never
// narrowed; a domain over char(5) hashed only its first letter). With -1 they are bpchar and "bit".
// pg_database.datlocprovider (a database's default collation may be ICU's) is new in PostgreSQL 15,
// before which every database's is libc's: to_jsonb reads it where it exists, and naming it would fail
// the query on PostgreSQL 14; so are the ICU locale's column (colliculocale in 15 and 16, colllocale
// from 17) and ICU rules (from 16) of a nondeterministic collation, whose definition and library
// version must match across nodes for its sort keys to (see schema.Column.Collation).
// A domain may be over another domain, so the base type (of a column, or of an array's element) is found by
// walking typbasetype down to a type that is not a domain, and numeric's typmod is the innermost domain's
// (a domain has no typmod of its own, the column's is -1); a single step left a domain over a domain over
// numeric comparing by text (1.5 against 1.50 differed) and its Parquet column a string.
var columnsSQL = `
SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), pg_catalog.format_type(bt.oid, -1),
       ` + qualifiedSQL("pg_catalog.format_type(a.atttypid, a.atttypmod)", "t") + `,
       ` + qualifiedSQL("pg_catalog.format_type(bt.oid, -1)", "bt") + `,
       ` + baseNameSQL("bt") + `, bt.typcategory, coalesce(` + baseNameSQL("ebt") + `, ''), coalesce(ebt.typcategory, ''),
       a.attnotnull, t.typtype = 'd',
       CASE WHEN bt.oid = 'pg_catalog.numeric'::pg_catalog.regtype::pg_catalog.oid AND base.typmod >= 4 THEN ((base.typmod - 4) >> 16) & 65535 ELSE -1 END,
       CASE WHEN bt.oid = 'pg_catalog.numeric'::pg_catalog.regtype::pg_catalog.oid AND base.typmod >= 4 THEN (base.typmod - 4) & 65535 ELSE -1 END,
       a.attgenerated <> '', a.attidentity = 'a', a.atthasdef OR a.attidentity <> '',
       EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = a.attrelid AND k.contype = 'c' AND a.attnum = ANY (k.conkey)),
       a.attcollation IN (950::pg_catalog.oid, 951::pg_catalog.oid) OR (a.attcollation = 100::pg_catalog.oid AND EXISTS (
           SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()
           AND coalesce(pg_catalog.to_jsonb(d) OPERATOR(pg_catalog.->>) 'datlocprovider'::pg_catalog.text, 'c') = 'c' AND d.datcollate IN ('C', 'POSIX'))),
       coalesce((SELECT pg_catalog.concat_ws('/', co.collprovider, co.collcollate, co.collctype, j OPERATOR(pg_catalog.->>) 'colliculocale'::pg_catalog.text, j OPERATOR(pg_catalog.->>) 'colllocale'::pg_catalog.text,
               j OPERATOR(pg_catalog.->>) 'collicurules'::pg_catalog.text, pg_catalog.pg_collation_actual_version(co.oid))
           FROM pg_catalog.pg_collation co CROSS JOIN LATERAL pg_catalog.to_jsonb(co) j
           WHERE co.oid = a.attcollation AND NOT co.collisdeterministic), ''),
       CASE WHEN bt.typtype = 'c' THEN bt.typrelid ELSE 0 END, ` + elemFieldsSQL + `
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
CROSS JOIN LATERAL (
    WITH RECURSIVE chain(oid, typmod, depth) AS (
        SELECT a.atttypid, a.atttypmod, 0
        UNION ALL
        SELECT d.typbasetype, d.typtypmod, chain.depth + 1
        FROM chain JOIN pg_catalog.pg_type d ON d.oid = chain.oid AND d.typtype = 'd')
    SELECT oid, typmod FROM chain ORDER BY depth DESC LIMIT 1) base
JOIN pg_catalog.pg_type bt ON bt.oid = base.oid
JOIN pg_catalog.pg_namespace tn ON tn.oid = t.typnamespace
JOIN pg_catalog.pg_namespace btn ON btn.oid = bt.typnamespace
LEFT JOIN LATERAL (
    WITH RECURSIVE chain(oid, depth) AS (
        SELECT bt.typelem, 0 WHERE bt.typcategory = 'A'
        UNION ALL
        SELECT d.typbasetype, chain.depth + 1 FROM chain JOIN pg_catalog.pg_type d ON d.oid = chain.oid AND d.typtype = 'd')
    SELECT oid FROM chain ORDER BY depth DESC LIMIT 1) elem ON true
LEFT JOIN pg_catalog.pg_type ebt ON ebt.oid = elem.oid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum`

// baseNameSQL is the SQL of the name schema.Column.Base (or ElemBase) holds for a pg_type (alias typ):
// its typname where rowdiff's rules for that name are meant, a built-in type's or the citext extension's
// (in whatever schema), and otherwise the typname in double quotes, which no rule matches. A composite
// named citext or an enum named int4 in a user's schema took the rules of the type it is named after: the
// enum was ordered as integers, and a range named numrange over float8 failed every hash query.
func baseNameSQL(typ string) string {
	return fmt.Sprintf(`CASE WHEN %[1]s.typnamespace = 'pg_catalog'::pg_catalog.regnamespace::pg_catalog.oid OR (%[1]s.typname = 'citext' AND EXISTS (
               SELECT 1 FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension x ON x.oid = d.refobjid
               WHERE d.classid = 'pg_catalog.pg_type'::pg_catalog.regclass::pg_catalog.oid AND d.objid = %[1]s.oid
                 AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass::pg_catalog.oid AND d.deptype = 'e' AND x.extname = 'citext'))
           THEN %[1]s.typname::text ELSE '"' || pg_catalog.replace(%[1]s.typname, '"', '""') || '"' END`, typ)
}

// elemFieldsSQL is the relid of the composite type the column's values hold and compare by text (see
// schema.Column.ElemFields): an array's element type (bt's, ebt), or the subtype of a range or multirange,
// or of an array's range elements; 0 for none. pg_range.rngmultitypid is new in PostgreSQL 14, so read
// through to_jsonb as in columnsSQL.
const elemFieldsSQL = `coalesce((SELECT CASE WHEN x.typtype = 'c' THEN x.typrelid ELSE st.typrelid END
           FROM pg_catalog.pg_type x
           LEFT JOIN pg_catalog.pg_range rg ON rg.rngtypid = x.oid OR (pg_catalog.to_jsonb(rg) OPERATOR(pg_catalog.->>) 'rngmultitypid'::pg_catalog.text)::pg_catalog.oid = x.oid
           LEFT JOIN pg_catalog.pg_type st ON st.oid = rg.rngsubtype AND st.typtype = 'c'
           WHERE x.oid = coalesce(ebt.oid, bt.oid) AND (x.typtype = 'c' AND ebt.oid IS NOT NULL OR st.oid IS NOT NULL)
           LIMIT 1), 0)`

// qualifiedSQL is the SQL of a type's name (format, format_type's name of type alias typ, a pg_type) with
// its schema, outside pg_catalog: format_type leaves out the schema of a type the search_path finds, and
// each node has its own path (see qualifyTypes). An array type is in its element's schema.
func qualifiedSQL(format, typ string) string {
	prefix := "pg_catalog.quote_ident(" + typ + "n.nspname::text) || '.'"
	return fmt.Sprintf(`CASE WHEN %[1]sn.nspname = 'pg_catalog' OR pg_catalog.left(%[2]s, pg_catalog.length(%[3]s)) = %[3]s THEN %[2]s
            ELSE %[3]s || %[2]s END`, typ, format, prefix)
}

// keyIndexCond holds for an index (i, of pg_index) that can stand for a primary key: unique, valid,
// not partial, not deferred (an upsert's ON CONFLICT needs that), on columns alone, every one NOT NULL.
const keyIndexCond = `i.indisunique AND i.indisvalid AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS nk(attnum, ord)
        JOIN pg_catalog.pg_attribute na ON na.attrelid = i.indrelid AND na.attnum = nk.attnum
        WHERE nk.ord <= i.indnkeyatts AND NOT na.attnotnull)`

// indexesSQL lists the table's indexes: whether it is the primary key, whether it is a valid,
// non-partial btree index (one that could serve range conditions), its key columns (INCLUDE columns
// left out) twice: by name ("" for an expression), and by name only where the column is indexed with its
// type's default operator class and its own collation ("" elsewhere); whether it could stand for a
// primary key (keyIndexCond), and whether it is the replica identity; and its name.
const indexesSQL = `
SELECT i.indisprimary, am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL, k.names, k.usable,
       ` + keyIndexCond + `, i.indisreplident, ic.relname::text
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
JOIN pg_catalog.pg_am am ON am.oid = ic.relam
CROSS JOIN LATERAL (
    SELECT pg_catalog.array_agg(coalesce(a.attname, '') ORDER BY k.ord),
           pg_catalog.array_agg(coalesce(CASE WHEN opc.opcdefault AND k.coll = a.attcollation THEN a.attname END, '') ORDER BY k.ord)
    FROM ROWS FROM (pg_catalog.unnest(i.indkey::int2[]), pg_catalog.unnest(i.indclass::oid[]), pg_catalog.unnest(i.indcollation::oid[])) WITH ORDINALITY AS k(attnum, class, coll, ord)
    LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    LEFT JOIN pg_catalog.pg_opclass opc ON opc.oid = k.class
    WHERE k.ord <= i.indnkeyatts) k(names, usable)
WHERE i.indrelid = $1
ORDER BY ic.relname`

// maxFieldDepth is how deep composite types inside composite types are read field by field; deeper ones
// compare by their text.
const maxFieldDepth = 16

// readColumns reads the columns of relation relid (a table, or a composite type's), and the fields of
// every composite one, depth levels down so far, twice over: cols name types as the session's search_path
// finds them, and quals, in the same order, with their schema outside pg_catalog (see qualifyTypes).
// fields holds the composite types already read, at their depth, so that ten columns of one type cost one
// query; the columns share their Fields, which nothing writes.
func readColumns(ctx context.Context, conn *pgx.Conn, relid uint32, depth int, fields map[typeAt][2][]schema.Column) (cols, quals []schema.Column, err error) {
	rows, _ := conn.Query(ctx, columnsSQL, relid)
	defer rows.Close()
	var fieldsOf, elemFieldsOf []uint32
	for rows.Next() {
		var c schema.Column
		var qualType, qualCast string
		var typrelid, elemrelid uint32
		if err := rows.Scan(&c.Name, &c.Type, &c.CastType, &qualType, &qualCast, &c.Base, &c.Category, &c.ElemBase, &c.ElemCategory,
			&c.NotNull, &c.Domain, &c.Precision, &c.Scale, &c.Generated, &c.IdentityAlways, &c.Defaulted, &c.Checked, &c.CCollation, &c.Collation,
			&typrelid, &elemrelid); err != nil {
			return nil, nil, err
		}
		c.Nondeterministic = c.Collation != ""
		q := c
		q.Type, q.CastType = qualType, qualCast
		cols, quals = append(cols, c), append(quals, q)
		fieldsOf, elemFieldsOf = append(fieldsOf, typrelid), append(elemFieldsOf, elemrelid)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	rows.Close() // the fields' queries need the connection
	read := func(relid uint32) ([2][]schema.Column, error) {
		at := typeAt{relid, depth + 1}
		if _, ok := fields[at]; !ok {
			f, q, err := readColumns(ctx, conn, relid, depth+1, fields)
			if err != nil {
				return [2][]schema.Column{}, err
			}
			fields[at] = [2][]schema.Column{f, q}
		}
		return fields[at], nil
	}
	for i := range cols {
		if depth >= maxFieldDepth {
			break
		}
		if relid := fieldsOf[i]; relid != 0 {
			f, err := read(relid)
			if err != nil {
				return nil, nil, err
			}
			cols[i].Fields, quals[i].Fields = f[0], f[1]
		}
		if relid := elemFieldsOf[i]; relid != 0 {
			f, err := read(relid)
			if err != nil {
				return nil, nil, err
			}
			cols[i].ElemFields, quals[i].ElemFields = f[0], f[1]
		}
	}
	return cols, quals, nil
}

// typeAt is a composite type read at a nesting depth: its fields' own fields go maxFieldDepth-depth levels
// further down, so the same type read deeper has fewer. Keyed by the type alone, a column's composite read
// first four levels down inside another column lost its nested fields everywhere, and compared by text.
type typeAt struct {
	relid uint32
	depth int
}

// correlationSQL reads pg_stats.correlation and histogram_bounds (as text) of the table's analyzed
// columns (a partitioned table's statistics are of its whole hierarchy).
const correlationSQL = `
SELECT attname::text, correlation, histogram_bounds::text FROM pg_catalog.pg_stats
WHERE schemaname = $1 AND tablename = $2 AND inherited = $3 AND correlation IS NOT NULL`

// inspect reads the table's definition on one node, inside the node's snapshot, and with stats its
// columns' statistics (only the first node's are used).
//
// A table a node lacks is a noTable error.
func inspect(ctx context.Context, conn *pgx.Conn, schemaName, table string, stats bool) (*remoteTable, error) {
	var t remoteTable
	err := conn.QueryRow(ctx, findTableSQL, schemaName, table).Scan(&t.schema, &t.name, &t.oid, &t.relkind, &t.reltuples, &t.writeRules, &t.unreadable)
	if errors.Is(err, pgx.ErrNoRows) {
		name := schema.QuoteIdentIfNeeded(table)
		if schemaName != "" {
			name = (&schema.Table{Schema: schemaName, Name: table}).String()
		}
		return nil, noTable{name}
	}
	if err != nil {
		return nil, fmt.Errorf("look up table: %w", err)
	}
	if t.columns, t.qualified, err = readColumns(ctx, conn, t.oid, 0, map[typeAt][2][]schema.Column{}); err != nil {
		return nil, fmt.Errorf("read columns: %w", err)
	}
	rows, _ := conn.Query(ctx, indexesSQL, t.oid)
	var primary, serves, standsIn, identity bool
	var names, usable []string
	var index string
	_, err = pgx.ForEachRow(rows, []any{&primary, &serves, &names, &usable, &standsIn, &identity, &index}, func() error {
		if primary {
			t.primaryKey = names
		}
		if serves {
			t.indexes = append(t.indexes, usable)
		}
		if standsIn {
			t.keyIndexes = append(t.keyIndexes, keyIndex{index, names, identity})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read indexes: %w", err)
	}
	t.correlation, t.histogram = map[string]float64{}, map[string]string{}
	if !stats {
		return &t, nil
	}
	rows, _ = conn.Query(ctx, correlationSQL, t.schema, t.name, t.relkind == "p")
	var col string
	var corr float64
	var hist *string
	_, err = pgx.ForEachRow(rows, []any{&col, &corr, &hist}, func() error {
		t.correlation[col] = corr
		if hist != nil {
			t.histogram[col] = *hist
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read statistics: %w", err)
	}
	return &t, nil
}

// Selection is what the user asked to compare.
type Selection struct {
	Key     []string // --key; empty means the primary key
	Columns []string // --columns; empty means all
	Exclude []string // --exclude-columns
	// TimestampZone (--timestamp-zone) lets a column that is timestamp on some nodes and timestamptz on
	// others compare, its timestamps read as local times in this zone; "" refuses such a column.
	TimestampZone string
	// Target is the node a repair writes to: the columns' Generated and IdentityAlways are its, which say
	// how its rows can be written ("" takes the first node's). A column generated on the source and plain
	// on the target must be written, and an identity GENERATED ALWAYS on the target only with OVERRIDING.
	Target string
	// manyTables says the run has several tables, of which an --exclude-columns column need be in one only.
	manyTables bool
	// lock makes the lookup lock the table on every node (a diff's tables, see lockTable), and lockWorkers
	// on every worker session too (lockBeside).
	lock, lockWorkers bool
	// where is the run's --where, under which the rows' keys are checked (checkNullKeys).
	where string
}

// excludedSomewhere checks that every --exclude-columns column is in some table of a run of several (a
// misspelt one would be left out of every table without a word); in a run of one, buildTable did.
func excludedSomewhere(sel Selection, tables []*schema.Table) error {
	if !sel.manyTables {
		return nil
	}
	for _, n := range sel.Exclude {
		if !slices.ContainsFunc(tables, func(t *schema.Table) bool { return slices.Contains(t.Excluded, n) }) {
			return fmt.Errorf("--exclude-columns: no table of the run has a column %q on any node", n)
		}
	}
	return nil
}

// workerLockTables is the most tables whose locks every worker session takes as a run starts: PostgreSQL
// keeps locks in a table of max_locks_per_transaction (64 by default) times max_connections, and each
// session would hold one for every table, partition and index of the run (a --schema run of 500 tables
// with two indexes each would take 7,500 on each node across 5 sessions, past the 6,400 of the defaults).
// Past it, workers lock a table at their first read of it, as before.
const workerLockTables = 64

// qualifyTypes takes, for a column whose type is named otherwise on some node as each node's search_path
// finds it, but alike on every node once qualified, the qualified names on every node: app.wrap read as
// "wrap" on a node whose path has app and "app.wrap" on another was taken for two types and compared by
// its text (1.50 against 1.5 differed, found by an exploratory helper). The names the paths find stay
// where they are alike, and one SQL text serves every node: a type of an extension installed in another
// schema on each node (ext.citext, public.citext) qualified would resolve on one node only.
func qualifyTypes(remotes []*remoteTable) {
	cols, quals := make([][]schema.Column, len(remotes)), make([][]schema.Column, len(remotes))
	for i, r := range remotes {
		cols[i], quals[i] = r.columns, r.qualified
	}
	qualifyColumns(cols, quals)
}

// qualifyColumns does qualifyTypes' work for one list of columns (or a composite's fields) per node, cols
// as the paths name their types and quals qualified. Where neither names a composite column's type alike
// on every node but one of them does at its own level (s1.pair and s2.pair, both "pair" to their nodes'
// paths), its fields are chosen among field by field: a field of type app.wrap read as "wrap" on one
// node and "app.wrap" on another made the composite compare by text (found by an exploratory helper).
// The field lists are copied before they change, as columns of one type share them.
func qualifyColumns(cols, quals [][]schema.Column) {
	for j, c := range cols[0] {
		pathAlike, qualAlike, headPath, headQual, composite := true, true, true, true, c.Fields != nil
		at := make([]int, len(cols))
		for i := range cols {
			at[i] = slices.IndexFunc(cols[i], func(o schema.Column) bool { return o.Name == c.Name })
			if at[i] < 0 || i == 0 {
				continue
			}
			o, q, oq := cols[i][at[i]], quals[0][j], quals[i][at[i]]
			pathAlike = pathAlike && alike(c, o)
			qualAlike = qualAlike && alike(q, oq)
			headPath = headPath && c.Type == o.Type && over(c) == over(o)
			headQual = headQual && q.Type == oq.Type && over(q) == over(oq)
			composite = composite && o.Fields != nil && len(o.Fields) == len(c.Fields)
		}
		switch {
		case pathAlike:
		case qualAlike:
			for i := range cols {
				if at[i] >= 0 {
					cols[i][at[i]] = quals[i][at[i]]
				}
			}
		case composite && (headPath || headQual):
			var fields, fieldQuals [][]schema.Column
			for i := range cols {
				if at[i] >= 0 {
					fields = append(fields, slices.Clone(cols[i][at[i]].Fields))
					fieldQuals = append(fieldQuals, quals[i][at[i]].Fields)
				}
			}
			qualifyColumns(fields, fieldQuals)
			for i, k := 0, 0; i < len(cols); i++ {
				if at[i] < 0 {
					continue
				}
				if !headPath {
					cols[i][at[i]] = quals[i][at[i]]
				}
				cols[i][at[i]].Fields = fields[k]
				k++
			}
		}
	}
}

// buildTable checks that every node has the same table and returns the comparison target, named after
// the first node's definition. Errors name the node and the columns that disagree.
func buildTable(names []string, remotes []*remoteTable, sel Selection) (*schema.Table, error) {
	qualifyTypes(remotes)
	first := remotes[0]
	byName := func(r *remoteTable) map[string]schema.Column {
		m := make(map[string]schema.Column, len(r.columns))
		for _, c := range r.columns {
			m[c.Name] = c
		}
		return m
	}
	firstCols := byName(first)
	for _, n := range sel.Columns {
		if _, ok := firstCols[n]; !ok {
			return nil, fmt.Errorf("node %s: table %s.%s has no column %q", names[0], first.schema, first.name, n)
		}
	}
	// An excluded column may exist on any node: excluding a column only one node has is the point. In a
	// run of several tables, one that no node of a table has is left out for it (excludedSomewhere checks
	// that some table has it): a --schema run could not exclude a column one table had on one node, as
	// its own hint said to, since the other tables lacked it (found by an exploratory helper).
	var excluded []string
	for _, n := range sel.Exclude {
		if slices.ContainsFunc(remotes, func(r *remoteTable) bool {
			return slices.ContainsFunc(r.columns, func(c schema.Column) bool { return c.Name == n })
		}) {
			excluded = append(excluded, n)
		} else if !sel.manyTables {
			return nil, fmt.Errorf("table %s.%s has no column %q on any node", first.schema, first.name, n)
		}
	}
	key := sel.Key
	if len(key) == 0 {
		key = first.primaryKey
	}
	var standIn string
	if ki, ok := first.standIn(); len(key) == 0 && ok {
		key, standIn = ki.cols, ki.name
		// Another node's rows are unique in these columns only if an index says so there too.
		for i, r := range remotes[1:] {
			if !slices.ContainsFunc(r.keyIndexes, func(o keyIndex) bool { return sameSet(o.cols, key) }) {
				// Said as what counts: a unique index there that is invalid (a failed CREATE INDEX
				// CONCURRENTLY), partial or on a nullable column read as none at all.
				return nil, fmt.Errorf("node %s: table %s.%s has no primary key on (%s), nor a unique index on them that is valid, "+
					"not partial, not deferrable and on NOT NULL columns; they are the columns of unique index %s on %s, which stands "+
					"for its missing primary key there; name the key columns with --key", names[i+1], first.schema, first.name,
					strings.Join(key, ", "), standIn, names[0])
			}
		}
	}
	if len(key) == 0 {
		// The first node has neither, another node a primary key or an index that stands for one (a
		// migration's target that has it already, or its source): that key, read by key hash where the
		// first node has no index for it. --schema skipped such a table or compared it by which node came
		// first.
		for _, r := range remotes[1:] {
			if ki, ok := r.standIn(); len(r.primaryKey) > 0 || ok {
				key = r.primaryKey
				if len(key) == 0 {
					key = ki.cols
				}
				break
			}
		}
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("node %s: table %s.%s has %s; name the key columns with --key", names[0], first.schema, first.name, noKey)
	}
	if i := slices.IndexFunc(key, func(k string) bool { return slices.Contains(sel.Exclude, k) }); i >= 0 {
		// It went unsaid that the key was compared all the same.
		return nil, fmt.Errorf("table %s.%s: --exclude-columns names key column %q: rows are matched by their key, which is always compared",
			first.schema, first.name, key[i])
	}
	want := func(name string) bool {
		if slices.Contains(key, name) {
			return true
		}
		if len(sel.Columns) > 0 && !slices.Contains(sel.Columns, name) {
			return false
		}
		return !slices.Contains(sel.Exclude, name)
	}
	t := &schema.Table{Schema: first.schema, Name: first.name, KeyIndex: standIn, Excluded: excluded}
	t.Partitioned = slices.ContainsFunc(remotes, func(r *remoteTable) bool { return r.relkind == "p" })
	t.Mixed = t.Partitioned && slices.ContainsFunc(remotes, func(r *remoteTable) bool { return r.relkind != "p" })
	for _, c := range first.columns {
		if want(c.Name) {
			t.Columns = append(t.Columns, c)
		}
	}
	for n, k := range key {
		i := t.ColumnIndex(k)
		if i < 0 {
			return nil, fmt.Errorf("node %s: table %s has no key column %q", names[0], t, k)
		}
		if slices.Contains(key[:n], k) {
			// It would pass as a key and fail at the first row as not unique, naming no column.
			return nil, fmt.Errorf("table %s: --key names column %q twice", t, k)
		}
		c := t.Columns[i]
		if !schema.KeyTypeSupported(c.Base) {
			return nil, unsupportedKey{fmt.Sprintf("table %s: key column %q has unsupported type %s (supported: integers, numeric, text, varchar, char, name, uuid, date, timestamp, timestamptz, bytea, bool)", t, k, c.Type)}
		}
		// On any node: checked on the first alone, a key in such a collation on another was matched byte
		// for byte, its "ABC" and "abc" (one key there) reported missing on both sides, and a repair of them
		// deleted the target's rows (found by an exploratory helper). Under --schema the table is skipped,
		// as for a key of another type rowdiff cannot order.
		for ri, r := range remotes {
			if slices.ContainsFunc(r.columns, func(rc schema.Column) bool { return rc.Name == k && rc.Nondeterministic }) {
				return nil, unsupportedKey{fmt.Sprintf("node %s: table %s: key column %q has a nondeterministic collation "+
					"(its equality is not byte equality); rowdiff matches keys byte for byte", names[ri], t, k)}
			}
		}
		t.Key = append(t.Key, i)
	}
	// others lists, per column whose type differs from the first node's, the other nodes' types.
	others := map[string][]string{}
	fieldsApart := map[string][]string{} // the nodes where a composite column's fields differ from the first's
	reordered := map[string][]string{}   // the nodes where they are the first's in another order
	for i, r := range remotes[1:] {
		node := names[i+1]
		cols := byName(r)
		var problems []string
		for j, c := range t.Columns {
			rc, ok := cols[c.Name]
			if !ok {
				problems = append(problems, fmt.Sprintf("column %q is missing", c.Name))
				continue
			}
			// The first node's type, as the problem names it, not the common type built so far.
			first := firstCols[c.Name]
			if rc.Type == first.Type && over(rc) != over(first) {
				// A domain of one name over other types: the names matched, and numeric 1.5 compared
				// equal to text '1.50'.
				problems = append(problems, fmt.Sprintf("column %q is %s over %s, not over %s as on %s", c.Name, rc.Type, over(rc), over(first), names[0]))
				continue
			}
			if (!rc.BuiltIn() || !first.BuiltIn()) && (rc.Category != first.Category && !(labels(rc) && labels(first)) ||
				rc.ElemCategory != first.ElemCategory) {
				// Types of one name but of other kinds (an enum money2 on one node, a range money2 on
				// another): their texts matched, and the values compared equal (found by an exploratory helper).
				problems = append(problems, fmt.Sprintf("column %q is %s, another kind of type than %s on %s", c.Name, rc.Type, first.Type, names[0]))
				continue
			}
			if rc.Type != first.Type {
				common, ok := commonType(c, rc, sel.TimestampZone)
				switch {
				case !ok && timestamps(c, rc) && sel.TimestampZone == "":
					problems = append(problems, fmt.Sprintf("column %q is %s, not %s as on %s (--timestamp-zone ZONE compares them, "+
						"reading the timestamps as local times in ZONE)", c.Name, rc.Type, first.Type, names[0]))
					continue
				case !ok && slices.Contains(key, c.Name):
					// Phrased as a key column's, so that the hint to leave columns out, which a key cannot
					// be, is not given (found by an exploratory helper).
					problems = append(problems, fmt.Sprintf("key column %q is %s, not %s as on %s", c.Name, rc.Type, first.Type, names[0]))
					continue
				case !ok:
					problems = append(problems, fmt.Sprintf("column %q is %s, not %s as on %s", c.Name, rc.Type, first.Type, names[0]))
					continue
				case common.Converted && slices.Contains(key, c.Name) && !keyConvertible(c, rc):
					// Only an integer's or a text's index serves range conditions in the other type, and
					// a timestamp's order differs from its timestamptz's where the zone's clocks go back.
					problems = append(problems, fmt.Sprintf("key column %q is %s, not %s as on %s: a key cannot be compared across the two",
						c.Name, rc.Type, first.Type, names[0]))
					continue
				}
				t.Columns[j] = common
				others[c.Name] = append(others[c.Name], rc.Type+" on "+node)
			}
			if textOutOfOrder(firstCols[c.Name], rc, false) {
				problems = append(problems, fmt.Sprintf("column %q holds a composite type whose fields are in another order than on %s, "+
					"where it compares by text (an array's elements, a range's bounds, or fields that also differ in type)", c.Name, names[0]))
				continue
			}
			if !sameFields(t.Columns[j].Fields, rc.Fields) {
				// A composite type of the same name but other fields here: one SQL text cannot read its
				// fields on every node, so it compares by its text.
				t.Columns[j].Fields = nil
				fieldsApart[c.Name] = append(fieldsApart[c.Name], node)
			} else if !fieldsInOrder(t.Columns[j].Fields, rc.Fields) {
				reordered[c.Name] = append(reordered[c.Name], node)
				t.Columns[j].Reordered = true
			}
			t.Columns[j].NotNull = t.Columns[j].NotNull && rc.NotNull
			// Equal under a collation on one node and by bytes, or under another collation, on another has
			// no one meaning: by bytes. So does one collation of two ICU versions, whose sort keys (which
			// the hash hashes) may differ for the same text.
			if t.Columns[j].Collation != rc.Collation {
				t.Columns[j].Nondeterministic, t.Columns[j].Collation = false, ""
			}
		}
		if len(sel.Columns) == 0 {
			for _, rc := range r.columns {
				if _, ok := firstCols[rc.Name]; !ok && !slices.Contains(sel.Exclude, rc.Name) {
					problems = append(problems, fmt.Sprintf("column %q is not on %s", rc.Name, names[0]))
				}
			}
		}
		if len(problems) > 0 {
			// The columns flags leave out other columns, never the key.
			hint := ""
			if slices.ContainsFunc(problems, func(p string) bool { return !strings.HasPrefix(p, "key column") }) {
				hint = " (compare the common columns with --columns or --exclude-columns)"
				if sel.manyTables {
					// --columns applies to every table of the run, which lacks them (found by an exploratory helper).
					hint = " (leave the columns out of the run with --exclude-columns, or diff the table alone with --table and --columns)"
				}
			}
			return nil, differentDefinition{fmt.Sprintf("node %s: table %s differs in definition: %s%s", node, t, strings.Join(problems, "; "), hint)}
		}
	}
	if err := readable(names, remotes, t, sel); err != nil {
		return nil, err
	}
	if len(remotes) > 2 {
		all := make([]map[string]schema.Column, len(remotes))
		for i, r := range remotes {
			all[i] = byName(r)
		}
		for _, c := range t.Columns {
			// Compared by text once one node's fields differ, where two other nodes may hold them in
			// another order than each other: only each node against the first was checked, and a third
			// node's reordered fields compared by position (found by an exploratory helper).
			if len(fieldsApart[c.Name]) > 0 {
				for i := range all {
					for j := i + 1; j < len(all); j++ {
						x, xok := all[i][c.Name]
						y, yok := all[j][c.Name]
						if xok && yok && textOutOfOrder(x, y, true) {
							return nil, differentDefinition{fmt.Sprintf("table %s: column %q holds a composite type whose fields on %s "+
								"are in another order than on %s, where it compares by text (its fields differ on %s)",
								t, c.Name, names[j], names[i], strings.Join(fieldsApart[c.Name], ", "))}
						}
					}
				}
			}
			if len(others[c.Name]) == 0 {
				continue
			}
			if msg := pairApart(c, all, names, sel.TimestampZone); msg != "" {
				return nil, differentDefinition{fmt.Sprintf("table %s: %s", t, msg)}
			}
		}
	}
	for _, c := range t.Columns {
		if o := others[c.Name]; len(o) > 0 {
			line := fmt.Sprintf("column %q is %s on %s, %s: compared as %s",
				c.Name, firstCols[c.Name].Type, names[0], strings.Join(o, ", "), c.Type)
			if c.Zone != "" {
				line += ", the timestamps as local times in " + c.Zone
			}
			t.Converted = append(t.Converted, line)
		}
		// Fields in another order made every row differ without a word (found by an exploratory helper).
		if o := fieldsApart[c.Name]; len(o) > 0 {
			t.Converted = append(t.Converted, fmt.Sprintf("column %q is a composite type whose fields on %s are not %s's "+
				"(in names, order or types): compared by its text", c.Name, strings.Join(o, ", "), names[0]))
		}
		if o := reordered[c.Name]; len(o) > 0 {
			// Its text shows each node's order: (1,2,3) on both can differ.
			t.Converted = append(t.Converted, fmt.Sprintf("column %q is a composite type whose fields on %s are %s's in another "+
				"order: compared by field name; each node's value is written in its own order", c.Name, strings.Join(o, ", "), names[0]))
		}
	}
	if w := slices.Index(names, sel.Target); w >= 0 {
		if remotes[w].relkind == "m" {
			// Its script could never apply ("cannot change materialized view", found by an exploratory helper).
			return nil, fmt.Errorf("node %s: %s is a materialized view there, which no statement can write: refresh it "+
				"(REFRESH MATERIALIZED VIEW) once its source is repaired", names[w], t)
		}
		for _, c := range t.Columns {
			if slices.Contains(reordered[c.Name], names[w]) {
				// A script writes a value as its text, which the target reads into its fields in its own
				// order: (1,2,3) from a's (a, b, c) became b's (a, c, b) = (1,2,3), its b and c swapped, and
				// a diff after it exited 0 (found by an exploratory helper).
				return nil, fmt.Errorf("node %s: column %q of %s is a composite type whose fields are in another order there "+
					"than on %s: a repair script would write its values into other fields (leave it out with --exclude-columns %s)",
					names[w], c.Name, t, names[0], schema.QuoteIdentIfNeeded(c.Name))
			}
		}
		cols := byName(remotes[w])
		qualified := make(map[string]string, len(remotes[w].qualified))
		for _, c := range remotes[w].qualified {
			// Its base type without a typmod: the value then meets the column's length, scale and domain by
			// assignment, which refuses a value too long. An explicit cast to varchar(10) cut it short without
			// a word, and a key cut so overwrote another, equal row (found by an exploratory helper).
			qualified[c.Name] = c.CastType
		}
		for j, c := range t.Columns {
			if t.IsKey(j) && cols[c.Name].Generated {
				// Left out of the insert as any generated column is, the row landed under the key the target
				// computed: a missing key 20 was written as 21, over a row no record listed (found by an
				// exploratory helper).
				return nil, fmt.Errorf("node %s: key column %q of %s is generated there: a script cannot write it, and a row "+
					"would land under the key the target computes; repair the table by hand", names[w], c.Name, t)
			}
			t.Columns[j].Generated, t.Columns[j].IdentityAlways = cols[c.Name].Generated, cols[c.Name].IdentityAlways
			t.Columns[j].TargetType = qualified[c.Name]
		}
		// ON CONFLICT needs a unique index on exactly the key that is checked at once: a diff does not
		// (a migration target may not have its primary key yet), and its script failed only when applied.
		// It also needs a table without INSERT or UPDATE rules (an audit rule made the script fail, in
		// an exploratory helper's run).
		t.NoArbiter = !slices.ContainsFunc(remotes[w].keyIndexes, func(k keyIndex) bool { return sameSet(k.cols, key) }) ||
			remotes[w].writeRules
		// INSERT ... ON CONFLICT DO UPDATE checks the row it proposes before it finds the conflict: a column
		// the script does not write (left out of the diff, or on the target alone) gets NULL there where it
		// has no default, and a NOT NULL, a domain's NOT NULL or a CHECK (even NOT VALID) failed every
		// upsert, updates of existing rows too (found by exploratory helpers). Row by row, an UPDATE writes
		// those rows; an INSERT still fails where it must. Only columns that may refuse a NULL count: row by
		// row, a table referencing itself fails where a row comes before the row it references, which a
		// nullable column left out (a plain ADD COLUMN) made common (found by an exploratory helper).
		t.Unwritten = slices.ContainsFunc(remotes[w].columns, func(c schema.Column) bool {
			return !c.Defaulted && !c.Generated && (c.NotNull || c.Domain || c.Checked) &&
				!slices.ContainsFunc(t.Columns, func(o schema.Column) bool { return o.Name == c.Name })
		})
	}
	t.KeyScan = keyScanReason(names, remotes, key)
	t.KeyUTF8 = slices.ContainsFunc(remotes, func(r *remoteTable) bool { return !utf8Ordered[r.encoding] })
	// Without a reason, every node's text key columns order by bytes (keyScanReason checks).
	t.KeyBytes = t.KeyScan == ""
	// A node whose table is read with its inheritance children (Mixed) has no index over all of them.
	t.KeyUnchecked = t.Mixed || slices.ContainsFunc(remotes, func(r *remoteTable) bool {
		return !slices.ContainsFunc(r.keyIndexes, func(k keyIndex) bool { return sameSet(k.cols, key) })
	})
	corr, ok := first.correlation[t.Columns[t.Key[0]].Name]
	t.RandomKey = ok && math.Abs(corr) < randomKeyCorrelation
	if t.IntegerKey() {
		t.KeyQuantiles = integerList(first.histogram[t.Columns[t.Key[0]].Name])
	}
	return t, nil
}

// integerList parses an array's text of integers ("{1,5,9}"); nil if it is not one.
func integerList(text string) []int64 {
	inner, ok := strings.CutPrefix(text, "{")
	if inner, ok = strings.CutSuffix(inner, "}"); !ok || inner == "" {
		return nil
	}
	var out []int64
	for _, f := range strings.Split(inner, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, n)
	}
	return out
}

// rewrittenSQL names a relation rowdiff reads for table $1 (it, and with $2 the tables under it: a
// partitioned table's partitions, an inheritance hierarchy read whole) whose file is no longer the one
// the snapshot's catalog names: TRUNCATE and a rewriting ALTER TABLE give a table a new file, whose rows
// are invisible to snapshots taken before (PostgreSQL documents both as not MVCC-safe), so the table
// would look empty there. VACUUM FULL and CLUSTER give a new file too, keeping the rows visible; they
// are named all the same. Only valid under a lock that keeps the files as they are.
const rewrittenSQL = `
WITH RECURSIVE tree(oid) AS (
    SELECT $1::pg_catalog.regclass::pg_catalog.oid
    UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid WHERE $2)
SELECT c.relname::text FROM pg_catalog.pg_class c JOIN tree USING (oid)
WHERE c.relfilenode <> 0::pg_catalog.oid AND c.relfilenode IS DISTINCT FROM pg_catalog.pg_relation_filenode(c.oid)
LIMIT 1`

// lockTable takes on conn, in the node's snapshot transaction, the ACCESS SHARE locks that reading t
// takes, and checks that t was not rewritten between the snapshot and the lock. A diff locks its tables
// at lookup, before it reads any: a table was locked at its first read, so one read late in a run of
// several was open to a TRUNCATE or a rewriting ALTER TABLE committed meanwhile, after which the snapshot
// saw it empty and its every row was reported missing (1,000 false differences, found by an exploratory
// helper). Held from the start, as pg_dump holds its tables', the lock makes such DDL wait for the run,
// up to its lock_timeout. recheck and repair lock each table before they read its first keys, on their
// worker session, whose waits their idle coordinators need not outlive (firstRead). A materialized view
// is checked too: REFRESH without CONCURRENTLY gives it a new file, as TRUNCATE does. relkind is t's on
// the node, as the lookup read it (fleet.relkinds).
func lockTable(ctx context.Context, conn *pgx.Conn, node string, t *schema.Table, relkind string) error {
	if !strings.ContainsAny(relkind, "rpvmf") {
		return nil
	}
	if _, err := conn.Exec(ctx, lockSQL(t)); err != nil {
		return fmt.Errorf("node %s: lock %s: %w", node, t, err)
	}
	var rewritten string
	err := conn.QueryRow(ctx, rewrittenSQL, t.Ident(), t.Partitioned).Scan(&rewritten)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("node %s: check %s: %w", node, t, err)
	}
	return fmt.Errorf("node %s: table %s was rewritten (%s got a new file: TRUNCATE, a rewriting ALTER TABLE, VACUUM FULL or "+
		"CLUSTER) after this run's snapshot was taken, which may not see its rows; run it again", node, t, rewritten)
}

// partitionsChangedSQL says whether the partitions of table $1 now are other than its snapshot's: ATTACH
// PARTITION takes only a SHARE UPDATE EXCLUSIVE lock on the parent, which a read's ACCESS SHARE does not
// hold back (and rowdiff takes no stronger lock), and the planner reads the partitions as they are, not
// as the snapshot saw them: a partition attached during a run was read, and its rows, in no snapshot of
// the table, were reported missing on the other node (found by an exploratory helper). pg_partition_tree
// reads the catalog as it is; a query of pg_inherits, as the snapshot saw it. Only where the table is
// partitioned: pg_partition_tree leaves out the children of an inheritance parent (a table partitioned
// on one node and not on another).
const partitionsChangedSQL = `
WITH RECURSIVE snap(oid) AS (
    SELECT $1::pg_catalog.regclass::pg_catalog.oid
    UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN snap ON i.inhparent = snap.oid),
now AS (SELECT relid AS oid FROM pg_catalog.pg_partition_tree($1::pg_catalog.regclass))
SELECT c.relkind = 'p' AND EXISTS ((SELECT oid FROM now EXCEPT SELECT oid FROM snap) UNION ALL (SELECT oid FROM snap EXCEPT SELECT oid FROM now))
FROM pg_catalog.pg_class c WHERE c.oid = $1::pg_catalog.regclass::pg_catalog.oid`

// checkPartitions fails when a partitioned table's partitions changed on some node since the snapshot.
func checkPartitions(ctx context.Context, conns []*pgx.Conn, nodes []string, t *schema.Table) error {
	for i, conn := range conns {
		var changed bool
		if err := conn.QueryRow(ctx, partitionsChangedSQL, t.Ident()).Scan(&changed); err != nil {
			return fmt.Errorf("node %s: check the partitions of %s: %w", nodes[i], t, err)
		}
		if changed {
			return fmt.Errorf("node %s: table %s: a partition was attached or detached during the run, which read the "+
				"partitions as they are, not as its snapshot saw them; run it again", nodes[i], t)
		}
	}
	return nil
}

// lockSQL takes the locks a read of t takes: on the relation, its partitions and, through the planner,
// which opens them, their indexes. Without the indexes', a REINDEX during a run waited for the sessions
// that had used an index while the others queued behind it, as for a table's lock (lockBeside). It plans
// a read of the columns rowdiff reads (t's: the key and the compared columns), which needs SELECT on those
// columns alone: LOCK TABLE needs SELECT on the whole table, and refused a role granted SELECT on the
// columns it compares (found by a tester), as it refuses a materialized view and a foreign table. EXPLAIN
// plans without running anything, so a foreign table's server is not asked; the planning waits for a lock
// as LOCK TABLE does, up to lock_timeout.
func lockSQL(t *schema.Table) string {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = schema.QuoteIdent(c.Name)
	}
	return "EXPLAIN SELECT " + strings.Join(cols, ", ") + " FROM " + t.From()
}

// lockBeside takes on a worker session, right after the node's coordinator took them (lockTable), the
// locks the worker's reads of t will need. Taken at the worker's first read, they queued behind any
// statement that had begun waiting for the coordinator's (an ALTER TABLE, a REFRESH MATERIALIZED VIEW or
// a REINDEX during a run of several tables), which waited for the run in turn: the run failed at
// --lock-timeout blaming another session, or with --lock-timeout 0 hung (found by exploratory helpers).
// Without waiting (a lock_timeout of 1 ms, then lockTimeout again): with the coordinator's locks held,
// the only thing that can stop them is such a statement come in between, which the run cannot wait for.
func lockBeside(ctx context.Context, conn *pgx.Conn, node string, t *schema.Table, relkind string, lockTimeout time.Duration) error {
	if !strings.ContainsAny(relkind, "rpvmf") {
		return nil
	}
	_, err := conn.Exec(ctx, "SET LOCAL lock_timeout = 1; "+lockSQL(t)+"; SET LOCAL lock_timeout = "+ms(lockTimeout))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "55P03" {
		return fmt.Errorf("node %s: table %s: a statement that needs the table or one of its indexes alone (ALTER TABLE, TRUNCATE, "+
			"REINDEX, REFRESH MATERIALIZED VIEW, ...) began waiting for this run's lock on it as the run started, and the run's other "+
			"sessions would wait behind it: let it finish or cancel it, then run again", node, t)
	}
	if err != nil {
		return fmt.Errorf("node %s: lock %s: %w", node, t, err)
	}
	return nil
}

// firstRead locks each table of a recheck or a repair, on the sessions that read it, before its first keys
// are read (see lockTable).
type firstRead map[tableKey]bool

func (seen firstRead) lock(ctx context.Context, tk tableKey, conns []*pgx.Conn, nodes, relkinds []string, t *schema.Table) error {
	if seen[tk] {
		return nil
	}
	seen[tk] = true
	for i, conn := range conns {
		if err := lockTable(ctx, conn, nodes[i], t, relkinds[i]); err != nil {
			return err
		}
	}
	return nil
}

// nullKeySQL asks whether a relation (the first %s, FROM ONLY where rowdiff reads it so) has a row
// whose key is NULL (the second, the key columns' IS NULL conditions joined by OR) among the rows the
// filter (the third, "true" without --where) keeps.
const nullKeySQL = "SELECT EXISTS (SELECT 1 FROM %s WHERE (%s) AND (%s\n))"

// checkNullKeys fails when a node whose key columns are not all NOT NULL (a view's or a materialized
// view's never are) holds a row with a NULL key among the rows the run compares (--where's): ranges and
// key matches pass over such a row, which would be neither compared nor reported. A --where that leaves
// such rows out was refused all the same (found by an exploratory helper). The check reads the node's
// snapshot through conn; with an index on the key it is an index scan (through a view too, to the index
// of the table under it), without one a scan of the relation.
func checkNullKeys(ctx context.Context, conn *pgx.Conn, node string, r *remoteTable, t *schema.Table, where string) error {
	var conds, nullable []string
	for _, k := range t.KeyColumns() {
		if c, ok := named(r.columns, k.Name); ok && !c.NotNull {
			conds = append(conds, schema.QuoteIdent(k.Name)+" IS NULL")
			nullable = append(nullable, fmt.Sprintf("%q", k.Name))
		}
	}
	if len(conds) == 0 {
		return nil
	}
	var found bool
	if err := conn.QueryRow(ctx, fmt.Sprintf(nullKeySQL, t.From(), strings.Join(conds, " OR "), cmp.Or(where, "true"))).Scan(&found); err != nil {
		return fmt.Errorf("node %s: look for NULL keys in %s: %w", node, t, err)
	}
	if found {
		return fmt.Errorf("node %s: table %s has rows whose key column %s is NULL: rows are matched by key, so they could "+
			"not be compared (give the key NOT NULL columns, or choose others with --key)", node, t, strings.Join(nullable, " or "))
	}
	return nil
}

// commonType is the type in which column c (as far as merged) and the same column on another node, o,
// compare when their declared types differ, as they do in the middle of a migration; false when their
// values cannot be compared without choosing how to convert them (timestamp against timestamptz without
// a zone, numeric against float8, text against bytea, ...). Accepted:
//   - the same base type with another typmod or through a domain (varchar(20) and varchar(50) or text
//     domains, numeric(10,2) and numeric(12,4), timestamp(3) and timestamp): the type's own equality
//     ignores typmods, so the values compare as the base type, and numeric's output type holds both;
//     except bit(n) (and its arrays), whose lengths make values of two typmods never equal;
//   - int2, int4 and int8 (an id widened to bigint): as the widest;
//   - varchar and text: as text;
//   - json and jsonb: as jsonb;
//   - an integer and numeric: as numeric, with room for the integer's digits;
//   - char(n) and varchar, char(n) and text, date and timestamp, float4 and float8: see widenedTo;
//   - an enum and text, varchar or another enum: by label, as text (Column.EnumLabel);
//   - timestamp and timestamptz, given zone (--timestamp-zone): as timestamptz, the timestamps read as
//     local times in zone (Column.Zone), unless the timestamp is a domain's, whose pg_typeof is not timestamp.
//
// Where the base types differ, every node reads the column cast to the common one (Column.Converted).
func commonType(c, o schema.Column, zone string) (schema.Column, bool) {
	switch {
	case c.Base == o.Base && c.Base != "bit" && c.Base != "_bit":
		if (c.Precision < 0) != (o.Precision < 0) {
			c.Precision, c.Scale = -1, -1
		} else if c.Precision >= 0 && (c.Precision != o.Precision || c.Scale != o.Scale) {
			// Digits before the point and after it, each as many as the wider side has: numeric(10,2)
			// and numeric(10,4) need numeric(12,4) (with the scale widened first, it came out (10,4),
			// and a Parquet diff failed on 12345678.99).
			whole := max(c.Precision-c.Scale, o.Precision-o.Scale)
			c.Scale = max(c.Scale, o.Scale)
			c.Precision = whole + c.Scale
		}
		c.Domain = c.Domain || o.Domain
	case integerWidth[c.Base] > 0 && integerWidth[o.Base] > 0:
		if integerWidth[o.Base] > integerWidth[c.Base] {
			c.Base, c.CastType = o.Base, o.CastType
		}
		c.Converted = true
	case textOrVarchar[c.Base] && textOrVarchar[o.Base]:
		c.Base, c.CastType = "text", "text"
		c.Converted = true
	case jsonOrJsonb[c.Base] && jsonOrJsonb[o.Base]:
		// What a json column migrated to jsonb holds: key order, white space and duplicate keys aside.
		c.Base, c.CastType = "jsonb", "jsonb"
		c.Converted = true
	case labels(c) && labels(o) && (c.Category == "E" || o.Category == "E"):
		// An enum made from a text column, or from another enum: by label.
		c.Base, c.CastType, c.Category = "text", "text", "S"
		c.Converted, c.EnumLabel = true, true
	case integerWidth[c.Base] > 0 && o.Base == "numeric", c.Base == "numeric" && integerWidth[o.Base] > 0:
		// An integer widened to numeric: as numeric, with digits before the point for the integer.
		n, digits := o, integerDigits[c.Base]
		if c.Base == "numeric" {
			n, digits = c, integerDigits[o.Base]
		}
		c.Base, c.CastType, c.Precision, c.Scale = "numeric", "numeric", n.Precision, n.Scale
		if n.Precision >= 0 {
			c.Precision = max(n.Precision-n.Scale, digits) + n.Scale
		}
		c.Converted = true
	case widened(c.Base, o.Base) != "":
		c.Base = widened(c.Base, o.Base)
		c.CastType = c.Base
		c.Converted = true
	case timestamps(c, o) && zone != "" && !(c.Domain && c.Base == "timestamp") && !(o.Domain && o.Base == "timestamp"):
		c.Domain = c.Domain || o.Domain
		c.Base, c.CastType = "timestamptz", "timestamptz"
		c.Converted, c.Zone = true, zone
	default:
		return c, false
	}
	c.Type = c.CastType
	return c, true
}

// pairApart checks column c, compared in its common type over three or more nodes whose declared types
// differ, against each pair of nodes: every row gets one digest per node, so the common type's equality
// must be each pair's own. Where a pair alone would compare in a type whose equality the common type
// changes (two varchar nodes compared as bpchar beside a char(n) node lose trailing spaces; two json nodes
// as jsonb lose key order; two timestamp nodes as timestamptz call two local times of a clock change's gap
// equal; a varchar and a char(n) node as text beside a text node count trailing spaces char(n) ignores), no
// digest can be right for both pairs, and pairApart says which pair; "" when every pair agrees. all holds
// each node's columns by name.
func pairApart(c schema.Column, all []map[string]schema.Column, names []string, zone string) string {
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			ci, cj := all[i][c.Name], all[j][c.Name]
			pair := ci
			if ci.Type != cj.Type {
				pair, _ = commonType(ci, cj, zone) // the merge into c found one
			}
			if sameEquality(pair, c, ci.Base == "bpchar" && cj.Base == "bpchar") {
				continue
			}
			types := fmt.Sprintf("%s on %s and %s", ci.Type, names[i], names[j])
			if ci.Type != cj.Type {
				types = fmt.Sprintf("%s on %s and %s on %s", ci.Type, names[i], cj.Type, names[j])
			}
			return fmt.Sprintf("column %q is %s, which compare as %s, but with the other nodes' types every node's "+
				"values compare as %s, and the two equalities differ (one may call values equal that the other does "+
				"not); diff %s and %s apart from the others, or leave the column out with --exclude-columns",
				c.Name, types, pair.Type, c.Type, names[i], names[j])
		}
	}
	return ""
}

// sameEquality reports whether values compared as pair (a pair of nodes' own common type) are equal exactly
// when their conversions to common are: the same type, or a conversion that keeps every value apart
// (integers widened, varchar as text, a date as its midnight, float4 as float8, an enum by its label);
// char(n) as text only for two char(n) nodes (bpchar's text drops the trailing spaces its equality ignores,
// but a varchar's keeps them).
func sameEquality(pair, common schema.Column, bothChar bool) bool {
	switch {
	case pair.Base == common.Base && pair.Zone == common.Zone:
		return true
	case pair.Category == "E" && common.EnumLabel:
		return true
	case pair.Base == "bpchar" && common.Base == "text":
		return bothChar
	}
	return exactlyAs[[2]string{pair.Base, common.Base}]
}

// exactlyAs holds the conversions of one base type to another (the first to the second) that keep
// unequal values apart and equal ones together.
var exactlyAs = map[[2]string]bool{
	{"int2", "int4"}: true, {"int2", "int8"}: true, {"int4", "int8"}: true,
	{"int2", "numeric"}: true, {"int4", "numeric"}: true, {"int8", "numeric"}: true,
	{"varchar", "text"}: true, {"date", "timestamp"}: true, {"float4", "float8"}: true,
}

var integerWidth = map[string]int{"int2": 2, "int4": 4, "int8": 8}

// integerDigits is how many decimal digits each integer type's values can have.
var integerDigits = map[string]int{"int2": 5, "int4": 10, "int8": 19}

var textOrVarchar = map[string]bool{"text": true, "varchar": true}

var jsonOrJsonb = map[string]bool{"json": true, "jsonb": true}

// widenedTo is the type each pair of base types compares in, either way round, as PostgreSQL compares the
// pair:
//   - char(n) and varchar as char(n), trailing spaces aside (what char(n) to varchar(n) keeps), but char(n)
//     and text as text, where text's count;
//   - a date as its midnight;
//   - a float4 as the float8 it is exactly (0.1::float4 is 0.100000001490116...), as a migration converts it.
var widenedTo = map[[2]string]string{
	{"bpchar", "varchar"}: "bpchar",
	{"bpchar", "text"}:    "text",
	{"date", "timestamp"}: "timestamp",
	{"float4", "float8"}:  "float8",
}

// widened is the type base types a and b compare in by widenedTo, or "".
func widened(a, b string) string {
	return cmp.Or(widenedTo[[2]string{a, b}], widenedTo[[2]string{b, a}])
}

// labels reports whether c's values are labels: an enum's, or text or varchar.
func labels(c schema.Column) bool { return c.Category == "E" || textOrVarchar[c.Base] }

// over is the type a column's values are, through domains: its base type, or its elements' with [].
func over(c schema.Column) string {
	if c.ElemBase != "" {
		return c.ElemBase + "[]"
	}
	return c.Base
}

// noTable is the error of a table that a node lacks (see missingTable).
type noTable struct{ name string }

func (e noTable) Error() string { return fmt.Sprintf("table %s does not exist", e.name) }

// readable fails where the role of some node's session may not SELECT a column that rowdiff reads of t
// (the key and the compared columns), naming them: rowdiff needs no SELECT on the table, but on each of
// those columns (a column privilege, GRANT SELECT (id, v) ON ...). Otherwise the lock failed with the
// server's "permission denied for table", which names no column and reads as if the table's own privilege
// were needed.
func readable(names []string, remotes []*remoteTable, t *schema.Table, sel Selection) error {
	for i, r := range remotes {
		var missing, quoted []string
		keyMissing := false
		for j, c := range t.Columns {
			if slices.Contains(r.unreadable, c.Name) {
				missing, quoted = append(missing, fmt.Sprintf("%q", c.Name)), append(quoted, schema.QuoteIdentIfNeeded(c.Name))
				keyMissing = keyMissing || t.IsKey(j)
			}
		}
		if len(missing) == 0 {
			continue
		}
		hint, noun := "", "column"
		if len(missing) > 1 {
			noun = "columns"
		}
		switch {
		case keyMissing:
		case sel.manyTables:
			hint = ", or leave them out with --exclude-columns"
		default:
			hint = ", or leave them out with --columns or --exclude-columns"
		}
		return fmt.Errorf("node %s: table %s: column privileges missing: the role may not SELECT %s %s, which rowdiff reads "+
			"(it needs SELECT on the key and the compared columns, not on the table): GRANT SELECT (%s) ON %s TO the role%s",
			names[i], t, noun, strings.Join(missing, ", "), strings.Join(quoted, ", "), t, hint)
	}
	return nil
}

// unsupportedKey is the error of a table whose key has a type rowdiff cannot order and bound: --schema
// skips such a table, where --table names it and fails.
type unsupportedKey struct{ msg string }

func (e unsupportedKey) Error() string { return e.msg }

// differentDefinition is the error of a table whose columns differ between the nodes so that they cannot
// be compared as they are: --schema lists such a table and goes on (one such table made a run of the
// whole schema impossible, with a hint to flags that apply to every table), --table fails.
type differentDefinition struct{ msg string }

func (e differentDefinition) Error() string { return e.msg }

// sameFields reports whether two composite types' fields are alike, in whatever order: names, types (and
// what a domain is over), nondeterministic collations and their own fields. The hash reads fields by name,
// so their order does not matter to a diff; compared by text, (1,2,3) of (a, b, c) on one node equalled
// (1,2,3) of (a, c, b) on another (found by an exploratory helper).
func sameFields(a, b []schema.Column) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(x schema.Column) bool {
		y, ok := named(b, x.Name)
		return !ok || !alike(x, y)
	})
}

// named is the column (or field) of cs called name.
func named(cs []schema.Column, name string) (schema.Column, bool) {
	i := slices.IndexFunc(cs, func(c schema.Column) bool { return c.Name == name })
	if i < 0 {
		return schema.Column{}, false
	}
	return cs[i], true
}

// textOutOfOrder reports whether c and o (one column or field on two nodes) hold, where rowdiff compares
// them by text (inText, an array's elements, or composites whose fields are not alike), a composite
// type whose fields have the same names in another order: its text lists them in each node's order, so
// (1,2) of (x, y) equalled (1,2) of (y, x) there, and a repair wrote one into the other (found by an
// exploratory helper).
func textOutOfOrder(c, o schema.Column, inText bool) bool {
	pairs := func(a, b []schema.Column, inText bool) bool {
		return slices.ContainsFunc(a, func(x schema.Column) bool {
			y, ok := named(b, x.Name)
			return ok && textOutOfOrder(x, y, inText)
		})
	}
	if c.ElemFields != nil && o.ElemFields != nil && (namesReordered(c.ElemFields, o.ElemFields) || pairs(c.ElemFields, o.ElemFields, true)) {
		return true
	}
	if c.Fields == nil || o.Fields == nil {
		return false
	}
	text := inText || !sameFields(c.Fields, o.Fields)
	return text && namesReordered(c.Fields, o.Fields) || pairs(c.Fields, o.Fields, text)
}

// namesReordered reports whether two lists of fields have the same names in another order.
func namesReordered(a, b []schema.Column) bool {
	names := func(cs []schema.Column) []string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = c.Name
		}
		return out
	}
	x, y := names(a), names(b)
	if slices.Equal(x, y) {
		return false
	}
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// fieldsInOrder reports whether two composite types' fields, alike (sameFields), are in the same order,
// at every level.
func fieldsInOrder(a, b []schema.Column) bool {
	return slices.EqualFunc(a, b, func(x, y schema.Column) bool { return x.Name == y.Name && fieldsInOrder(x.Fields, y.Fields) })
}

// alike reports whether two nodes' columns (or fields) of one name have the same type, as named: what a
// domain is over, nondeterministic collations and composite fields included. A type compared by its text
// whatever its schema (citext, a user's type that is not a composite) is alike by its name alone: citext
// in public on one node and in a schema off the path on another made a composite of a citext field
// compare by text, where 'Mm' and 'MM' differed (found by an exploratory helper).
func alike(x, y schema.Column) bool {
	byName := x.Type == y.Type || !x.Domain && !y.Domain && x.Fields == nil && y.Fields == nil && byText(x) && byText(y) &&
		x.Category == y.Category && x.ElemCategory == y.ElemCategory
	return byName && over(x) == over(y) && x.Collation == y.Collation && sameFields(x.Fields, y.Fields)
}

// byText reports whether c's type compares by its text, or citext's lowercased text, whatever its schema.
func byText(c schema.Column) bool {
	return c.Base == "citext" || c.ElemBase == "citext" || !c.BuiltIn() && c.Category != "C"
}

// keyConvertible reports whether a key column that is c on one node and o on another can be compared:
// integers of any width, and text against varchar.
func keyConvertible(c, o schema.Column) bool {
	return (integerWidth[c.Base] > 0 && integerWidth[o.Base] > 0) || (textOrVarchar[c.Base] && textOrVarchar[o.Base])
}

// timestamps reports whether one of c and o is timestamp and the other timestamptz.
func timestamps(c, o schema.Column) bool {
	return c.Base != o.Base && (c.Base == "timestamp" || c.Base == "timestamptz") && (o.Base == "timestamp" || o.Base == "timestamptz")
}

// randomKeyCorrelation is the pg_stats.correlation (in absolute value) of a key's first column below
// which its order is taken to bear no relation to the table's physical order (schema.Table.RandomKey):
// md5 and random uuid keys are near 0, keys that grow with insertion near 1.
const randomKeyCorrelation = 0.5

// keyScanReason says why some node cannot serve range conditions on the key through an index, or is ""
// when every node can. Then every range would cost that node a sequential scan (a 1M-row diff with the
// key index missing on one node took 48.2 s, scanning that node's table 1,049 times, against 1.38 s and 2
// scans by key hash), so the table is read by key hash instead: one scan per node, and one more for the
// differing buckets.
// Views and foreign tables have no indexes of their own; their range conditions are left to the planner.
func keyScanReason(names []string, remotes []*remoteTable, key []string) string {
	for i, r := range remotes {
		for _, c := range r.columns {
			if slices.Contains(key, c.Name) && !c.CCollation && schema.Textual(c.Base) {
				return fmt.Sprintf("node %s: key column %q does not use the C collation, so its index order is not rowdiff's", names[i], c.Name)
			}
			if slices.Contains(key, c.Name) && !utf8Ordered[r.encoding] && schema.Textual(c.Base) {
				return fmt.Sprintf("node %s: its server encoding %s orders key column %q otherwise than UTF-8, rowdiff's order", names[i], r.encoding, c.Name)
			}
			// postgres_fdw sends range bounds and conditions to the foreign server, which compares text
			// in its own collation whatever the column's here: a C-collation node's ranges held other keys
			// (false missing rows, found by an exploratory helper).
			if slices.Contains(key, c.Name) && r.relkind == "f" && schema.Textual(c.Base) {
				return fmt.Sprintf("node %s: the table is a foreign table, whose server may order key column %q in a collation of its own", names[i], c.Name)
			}
		}
		indexed := slices.ContainsFunc(r.indexes, func(cols []string) bool {
			return len(cols) >= len(key) && slices.Equal(cols[:len(key)], key)
		})
		if !indexed && strings.ContainsAny(r.relkind, "rpm") {
			why := fmt.Sprintf("node %s: no btree index starts with the key (%s)", names[i], strings.Join(key, ", "))
			// A unique index on the key in another collation or operator class (one that stands for the
			// primary key, say) was named beside this as the table's key, which read as a contradiction.
			if k := slices.IndexFunc(r.keyIndexes, func(k keyIndex) bool { return sameSet(k.cols, key) }); k >= 0 {
				why += fmt.Sprintf(" in the columns' own collation and operator class (index %s uses another)", r.keyIndexes[k].name)
			}
			return why
		}
	}
	return ""
}

// keyIndex is an index that could stand for a primary key (keyIndexCond): its name, key columns, and
// whether it is the table's replica identity.
type keyIndex struct {
	name     string
	cols     []string
	identity bool
}

// standIn is the index that stands for the table's missing primary key: the replica identity if it can,
// else the one of fewest columns, then the first by name.
func (r *remoteTable) standIn() (keyIndex, bool) {
	if i := slices.IndexFunc(r.keyIndexes, func(k keyIndex) bool { return k.identity }); i >= 0 {
		return r.keyIndexes[i], true
	}
	if len(r.keyIndexes) == 0 {
		return keyIndex{}, false
	}
	return slices.MinFunc(r.keyIndexes, func(a, b keyIndex) int { return cmp.Compare(len(a.cols), len(b.cols)) }), true
}

// sameSet reports whether a and b hold the same names, in any order.
func sameSet(a, b []string) bool {
	return len(a) == len(b) && !slices.ContainsFunc(a, func(n string) bool { return !slices.Contains(b, n) })
}
