package sinks

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rowdiff/rowdiff/schema"
)

// A statement of a repair script holds at most repairBatch rows, and stops taking more once their text
// passes repairBatchBytes: psql sends a statement whole and the server parses it whole, and PostgreSQL
// refuses a statement of 1 GB or more. A row wider than that is a statement of its own.
const (
	repairBatch      = 500
	repairBatchBytes = 1 << 20
)

// RepairScript writes a SQL script that makes a target node's rows equal a source node's for given keys:
// upserts for keys the source has, deletes for keys it lacks, in one transaction. Values are quoted
// literals with explicit casts to the column types, so every type round-trips; rowdiff never runs the
// script itself. The upserts come first, table by table in the order Commit is given (referenced tables
// before the tables whose foreign keys reference them), then the deletes in the reverse order: a row
// is inserted after the row it references, and deleted before it. Not safe for concurrent use.
type RepairScript struct {
	source, target string
	out            *atomicFile
	// The statements of each kind go to a file of their own (upserts, deletes), each table's in one
	// stretch per run of its keys, to be put in order at Commit: the header needs counts known only
	// at the end, and the order needs every table.
	kinds   [2]statements
	table   *schema.Table
	shape   upsertShape // table's
	upserts int64
	deletes int64
}

const (
	upserts = iota
	deletes
)

// statements is one kind's statements: the file, the stretches of it each table's take (merged while
// one table's statements follow each other, so they grow with the changes of table, not with the rows),
// and the rows gathered for the next statement.
type statements struct {
	body        *os.File
	w           *bufio.Writer
	size        int64
	stretches   []stretch
	pending     []string
	pendingKeys []string // key tuples of pending upserts
	// pendingIdentities are the key and identity values of pending upserts, where the table has upsertShape.identities.
	pendingIdentities []string
	pendingBytes      int
	open              bool // the table's statement is written up to its last rows so far (upsertShape.whole)
}

// stretch is where statements of one table lie in a body file.
type stretch struct {
	table     string
	off, size int64
}

// NewRepairScript writes the script to path on Commit.
func NewRepairScript(path, source, target string) (*RepairScript, error) {
	if path == "-" {
		// Not stdout, as diff's --out - is: the script is put together at the end, its header first, and
		// was written to a file named "-".
		return nil, errors.New("repair --out -: write the script to a file, review it, then run it with psql")
	}
	if dirPath(path) {
		// It failed once every row was read, naming a temporary file ("rename ./.x.tmp-1: file exists").
		return nil, fmt.Errorf("repair --out %s is a directory: give the script a file's path, such as %s", path, filepath.Join(path, "repair.sql"))
	}
	out, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	s := &RepairScript{source: source, target: target, out: out}
	for i := range s.kinds {
		body, err := os.CreateTemp("", "rowdiff-repair-body-*")
		if err != nil {
			s.Abort()
			return nil, err
		}
		s.kinds[i].body, s.kinds[i].w = body, bufio.NewWriter(body)
	}
	return s, nil
}

// Upsert makes the target's row with row's key equal row.
func (s *RepairScript) Upsert(t *schema.Table, row schema.Row) error {
	if err := s.switchTo(t); err != nil {
		return err
	}
	vals := make([]string, 0, len(t.Columns))
	for i, c := range t.Columns {
		if !row[i].Null && !utf8.ValidString(row[i].S) {
			return fmt.Errorf("table %s: column %q of a row to write holds bytes that are not UTF-8 (the source's database is "+
				"SQL_ASCII): the repair script is UTF-8 and cannot carry them", t, c.Name)
		}
		switch {
		case c.Generated:
		case c.EnumLabel:
			vals = append(vals, untypedLiteral(row[i]))
		case c.Zone != "" && c.TargetType == "timestamp without time zone" && !row[i].Null:
			// As the diff read the target's timestamps: with AT TIME ZONE, not as the session's TimeZone
			// would, which reads an abbreviation that is also a zone (CET), and a number, otherwise, and the
			// repaired rows came out an hour, or ten, away (found by an exploratory helper).
			vals = append(vals, "("+literal(row[i], c.WriteType())+" AT TIME ZONE "+schema.QuoteLiteral(c.Zone)+")")
		default:
			vals = append(vals, literal(row[i], c.WriteType()))
		}
	}
	k := &s.kinds[upserts]
	key := make([]string, len(t.Key))
	for i, c := range t.Key {
		key[i] = literal(row[c], t.Columns[c].WriteType())
	}
	if s.shape.rowByRow {
		k.add(rowUpsert(t, s.shape, vals, key))
	} else {
		k.add("(" + strings.Join(vals, ", ") + ")")
		k.pendingKeys = append(k.pendingKeys, "("+strings.Join(key, ", ")+")")
		if len(s.shape.identities) > 0 {
			with := slices.Clone(key)
			for _, n := range s.shape.identities {
				with = append(with, vals[n])
			}
			k.pendingIdentities = append(k.pendingIdentities, "("+strings.Join(with, ", ")+")")
		}
	}
	s.upserts++
	return s.flushIfFull(upserts)
}

// upsertShape is how a table's upserts are written, the same for each of its rows.
type upsertShape struct {
	cols []string // the written columns, quoted: every one but the generated
	// set says which of cols an upsert of an existing row sets: the non-key ones, and a numeric key,
	// which has many texts per value (1.0 = 1.00). The conflict finds the target's row by value, and
	// setting the key too gives it the source's text, which --exact compares; the new value equals the
	// old, so foreign keys referencing it still match.
	set        []bool
	overriding string // " OVERRIDING SYSTEM VALUE" where a column is an identity GENERATED ALWAYS
	// identities are the non-key identity GENERATED ALWAYS columns, as positions in cols. Only an INSERT
	// with OVERRIDING SYSTEM VALUE writes them, never an UPDATE: the rows whose identity value differs
	// from the source's are deleted and inserted again. Only those: a delete fires the ON DELETE actions
	// of the foreign keys that reference the row, and a repair that deleted every changed row wiped the
	// referencing rows of other tables (ON DELETE CASCADE) where only an ordinary column differed.
	identities []int
	// rowByRow: the table is partitioned on some node and not on another (Table.Mixed), or the target
	// has no unique index ON CONFLICT can use (Table.NoArbiter) or a column the script leaves to it
	// without a default (Table.Unwritten), see rowUpsert.
	rowByRow bool
	// whole: the table's upserts are one statement, and its deletes another, however many rows they
	// hold. PostgreSQL checks a foreign key that is not deferrable at the end of each statement, so with
	// one from the table to itself (Table.SelfReferencing), a row that references a row of a later
	// statement of 500 failed the script, as did deleting a row whose referencing rows a later statement
	// deletes. Not where the upserts are row by row, or delete and insert rows again for their identity;
	// the deletes, which write no column, are whole wherever the table references itself: a target with
	// a column the script leaves out (Table.Unwritten) went row by row, and its deletes of a
	// self-referencing table in statements of 500 failed (found by an exploratory helper).
	whole bool
}

func shapeOf(t *schema.Table) upsertShape {
	var sh upsertShape
	for i, c := range t.Columns {
		if c.Generated {
			continue
		}
		sh.cols = append(sh.cols, schema.QuoteIdent(c.Name))
		sh.set = append(sh.set, (!t.IsKey(i) || c.Base == "numeric") && !c.IdentityAlways)
		if c.IdentityAlways {
			sh.overriding = " OVERRIDING SYSTEM VALUE"
			if !t.IsKey(i) {
				sh.identities = append(sh.identities, len(sh.cols)-1)
			}
		}
	}
	sh.rowByRow = t.Mixed || t.NoArbiter || t.Unwritten
	sh.whole = t.SelfReferencing && !sh.rowByRow && len(sh.identities) == 0
	return sh
}

// identityCols lists the non-key identity GENERATED ALWAYS columns, quoted, comma-separated.
func (sh upsertShape) identityCols() string {
	names := make([]string, len(sh.identities))
	for i, n := range sh.identities {
		names[i] = sh.cols[n]
	}
	return strings.Join(names, ", ")
}

// rowUpsert is the upsert of one row (vals, its literals of sh.cols, and key, its key's) where ON
// CONFLICT cannot serve: into a table that is partitioned on some node and not on another (Table.Mixed),
// whose rows may be in tables inheriting from it, which its unique index, and so ON CONFLICT, does not
// see (an upsert added a second row of the key to the parent, beside the child's); and into a target with
// no unique index ON CONFLICT can use (Table.NoArbiter: none on the key, or a deferrable one), where the
// script failed when applied. An UPDATE and an INSERT ... WHERE NOT EXISTS of the table as rowdiff reads
// it (the whole hierarchy of a Mixed table) see them, without deleting rows that others may reference. One
// row at a time, with literals: an enum column takes an untyped literal in an UPDATE's SET or an INSERT's
// SELECT, not from a VALUES list.
func rowUpsert(t *schema.Table, sh upsertShape, vals, key []string) string {
	var sets, keyCols, setCols, setVals []string
	for n, q := range sh.cols {
		if sh.set[n] {
			sets = append(sets, q+" = "+vals[n])
			setCols, setVals = append(setCols, q), append(setVals, vals[n])
		}
	}
	for _, k := range t.Key {
		keyCols = append(keyCols, schema.QuoteIdent(t.Columns[k].Name))
	}
	// Operators named in pg_catalog, as in rowdiff's own queries (schema.op): the script runs on the
	// target under its search_path, where a public.=(varchar, varchar) would be an exact match before
	// pg_catalog's text equality, and run, as whoever runs the script.
	match := fmt.Sprintf("(%s) OPERATOR(pg_catalog.=) (%s)", strings.Join(keyCols, ", "), strings.Join(key, ", "))
	var b strings.Builder
	if len(sh.identities) > 0 {
		var vs []string
		for _, n := range sh.identities {
			vs = append(vs, vals[n])
		}
		fmt.Fprintf(&b, "DELETE FROM %s WHERE %s AND (%s) OPERATOR(pg_catalog.<>) (%s);\n", t.From(), match, sh.identityCols(), strings.Join(vs, ", "))
	}
	if len(sets) > 0 {
		fmt.Fprintf(&b, "UPDATE %s SET %s WHERE %s AND %s;\n", t.From(), strings.Join(sets, ", "), match, unlike(setCols, setVals))
	}
	fmt.Fprintf(&b, "INSERT INTO %s (%s)%s SELECT %s WHERE NOT EXISTS (SELECT 1 FROM %s WHERE %s);\n",
		t.Ident(), strings.Join(sh.cols, ", "), sh.overriding, strings.Join(vals, ", "), t.From(), match)
	return b.String()
}

// Delete removes the target's row with key.
func (s *RepairScript) Delete(t *schema.Table, key schema.Key) error {
	if err := s.switchTo(t); err != nil {
		return err
	}
	vals := make([]string, len(key))
	for i, k := range t.Key {
		typ := t.Columns[k].WriteType()
		if schema.NarrowInteger(t.Columns[k].Base) {
			// A key from another node's records may lie past the target's type, whose cast then failed
			// the script (found by an exploratory helper); an int8 compares with it through its index.
			typ = "int8"
		}
		vals[i] = literal(schema.Value{S: key[i]}, typ)
	}
	s.kinds[deletes].add("(" + strings.Join(vals, ", ") + ")")
	s.deletes++
	return s.flushIfFull(deletes)
}

func (s *RepairScript) switchTo(t *schema.Table) error {
	if s.table != t {
		for kind := range s.kinds {
			if err := s.flush(kind, true); err != nil {
				return err
			}
		}
		s.table, s.shape = t, shapeOf(t)
	}
	return nil
}

func (s *RepairScript) flushIfFull(kind int) error {
	k := &s.kinds[kind]
	if len(k.pending) < repairBatch && k.pendingBytes < repairBatchBytes {
		return nil
	}
	return s.flush(kind, false)
}

// add appends one row's tuple to the statement being gathered.
func (k *statements) add(tuple string) {
	k.pending = append(k.pending, tuple)
	k.pendingBytes += len(tuple)
}

// write appends a statement of table to the body.
func (k *statements) write(table, stmt string) error {
	if _, err := k.w.WriteString(stmt); err != nil {
		return err
	}
	n := int64(len(stmt))
	if last := len(k.stretches) - 1; last >= 0 && k.stretches[last].table == table {
		k.stretches[last].size += n
	} else {
		k.stretches = append(k.stretches, stretch{table, k.size, n})
	}
	k.size += n
	return nil
}

// flush writes the pending rows as a statement of the current table. A table with SelfReferencing's
// foreign key (upsertShape.whole) has one statement of each kind, written as its rows come and ended at
// the last (last), so that memory stays flat.
func (s *RepairScript) flush(kind int, last bool) error {
	k := &s.kinds[kind]
	if len(k.pending) == 0 && !k.open {
		return nil
	}
	upsert := kind == upserts
	t := s.table
	var keyCols []string
	for _, k := range t.Key {
		keyCols = append(keyCols, schema.QuoteIdent(t.Columns[k].Name))
	}
	var b strings.Builder
	sh := s.shape
	tuples := strings.Join(k.pending, ",\n  ")
	if k.open && len(k.pending) > 0 {
		b.WriteString(",\n  " + tuples)
	}
	switch {
	case k.open:
	case upsert && sh.rowByRow:
		b.WriteString(strings.Join(k.pending, "")) // whole statements (rowUpsert)
	case upsert:
		if len(sh.identities) > 0 {
			// Identity and key columns are NOT NULL, so NOT (... = ANY ...) means what it says.
			fmt.Fprintf(&b, "-- %s: the rows whose %s differs from the source's are deleted and inserted again "+
				"(an identity GENERATED ALWAYS cannot be updated): the foreign keys that reference them take their ON DELETE action.\n",
				comment(t.String()), comment(sh.identityCols()))
			fmt.Fprintf(&b, "DELETE FROM %s WHERE (%s) OPERATOR(pg_catalog.=) ANY (VALUES\n  %s)\nAND NOT ((%s, %s) OPERATOR(pg_catalog.=) ANY (VALUES\n  %s));\n", t.From(), strings.Join(keyCols, ", "),
				strings.Join(k.pendingKeys, ",\n  "), strings.Join(keyCols, ", "), sh.identityCols(), strings.Join(k.pendingIdentities, ",\n  "))
		}
		// Aliased: in a table named excluded, EXCLUDED."excluded" was ambiguous, and every script for it
		// failed (found by an exploratory helper).
		fmt.Fprintf(&b, "INSERT INTO %s AS rowdiff_target (%s)%s VALUES\n  %s", t.Ident(), strings.Join(sh.cols, ", "), sh.overriding, tuples)
	default:
		fmt.Fprintf(&b, "DELETE FROM %s WHERE (%s) OPERATOR(pg_catalog.=) ANY (VALUES\n  %s", t.From(), strings.Join(keyCols, ", "), tuples)
	}
	k.open = (upsert && sh.whole || !upsert && t.SelfReferencing) && !last
	switch {
	case k.open:
	case upsert && !sh.rowByRow:
		var sets, setCols, excluded []string
		for n, q := range sh.cols {
			if sh.set[n] {
				sets = append(sets, q+" = EXCLUDED."+q)
				setCols, excluded = append(setCols, "rowdiff_target."+q), append(excluded, "EXCLUDED."+q)
			}
		}
		fmt.Fprintf(&b, "\nON CONFLICT (%s) ", strings.Join(keyCols, ", "))
		if len(sets) == 0 {
			b.WriteString("DO NOTHING;\n")
		} else {
			fmt.Fprintf(&b, "DO UPDATE SET %s\nWHERE %s;\n", strings.Join(sets, ", "), unlike(setCols, excluded))
		}
	case !upsert:
		b.WriteString(");\n")
	}
	clear(k.pending) // the tuples of wide rows can go now
	k.pending, k.pendingKeys, k.pendingIdentities, k.pendingBytes = k.pending[:0], k.pendingKeys[:0], k.pendingIdentities[:0], 0
	return k.write(t.String(), b.String())
}

// unlike is the condition that a row's columns cols (SQL expressions) differ from vals in their text, under
// the script's text settings: an upsert leaves a row that already equals the source's alone, so that its
// triggers do not fire and no new row version is written for it. A diff of three nodes lists keys where
// only another node differed, and the target's rows there were rewritten: a trigger that changed them on
// UPDATE made them differ. Text tells apart every two values rowdiff does (it is --exact's equality), so a
// row the condition skips does not differ from the source's.
func unlike(cols, vals []string) string {
	return fmt.Sprintf("ROW(%s)::text IS DISTINCT FROM ROW(%s)::text", strings.Join(cols, ", "), strings.Join(vals, ", "))
}

// comment is s made fit for the rest of a -- comment line: a table or column name may hold a line
// break, after which its text ran as SQL, before the script's BEGIN (a table named
// "t<newline>DROP TABLE public.victim; --" dropped the victim, in an exploratory helper's run).
func comment(s string) string { return lineBreaks.Replace(s) }

var lineBreaks = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// literal is v as a quoted SQL literal with an explicit cast. Standard-conforming strings are set by the
// script header, so only single quotes need doubling (backslashes, as in bytea's \x, stay literal).
func literal(v schema.Value, typ string) string {
	return untypedLiteral(v) + "::" + typ
}

// untypedLiteral is v as a quoted SQL literal of no type yet, which INSERT ... VALUES gives its target
// column's type.
func untypedLiteral(v schema.Value) string {
	if v.Null {
		return "NULL"
	}
	return "'" + strings.ReplaceAll(v.S, "'", "''") + "'"
}

// Commit writes the header and the statements to the target path. tables are the tables of the
// statements, those that others reference first (see RepairScript).
func (s *RepairScript) Commit(tables []string, started time.Time) error {
	if err := s.commit(tables, started); err != nil {
		s.Abort()
		return fmt.Errorf("write repair script: %w", err)
	}
	s.removeBodies()
	return s.out.commit()
}

func (s *RepairScript) commit(tables []string, started time.Time) error {
	for kind := range s.kinds {
		if err := s.flush(kind, true); err != nil {
			return err
		}
		if err := s.kinds[kind].w.Flush(); err != nil {
			return err
		}
	}
	h := bufio.NewWriter(s.out)
	fmt.Fprintf(h, "-- rowdiff %s repair script\n", Version)
	fmt.Fprintf(h, "-- source: %s\n-- target: %s\n-- tables: %s\n", comment(s.source), comment(s.target), comment(strings.Join(tables, ", ")))
	fmt.Fprintf(h, "-- generated: %s\n", started.UTC().Format(time.RFC3339))
	fmt.Fprintf(h, "-- keys: %d (%d upserted from the source's current rows, %d deleted because the source lacks them)\n", s.upserts+s.deletes, s.upserts, s.deletes)
	fmt.Fprintf(h, "-- Review it, then run it on the target: psql -v ON_ERROR_STOP=1 -f <this file> <target>\n")
	// Every setting is the transaction's own (SET LOCAL): set for the session, they stayed on a pooler's
	// server connection for its next client, which then ran with row_security off and pg_catalog first
	// (found by an exploratory helper, through PgBouncer in transaction mode).
	// Deferrable constraints, a foreign key of a table to itself among them, are checked at COMMIT,
	// when every row is in place.
	fmt.Fprintf(h, "BEGIN;\nSET CONSTRAINTS ALL DEFERRED;\n")
	// The literals are in the text forms rowdiff read them in: the target parses them under the same settings,
	// and in UTF-8, which psql would otherwise take for the target database's encoding (LATIN1 made é two
	// characters, without an error).
	fmt.Fprintf(h, "SET LOCAL client_encoding = 'UTF8';\nSET LOCAL standard_conforming_strings = on;\n")
	// A role under row-level security would skip the rows its policies hide and commit without an error
	// (deletes of rows it could not see left them in place, in an exploratory helper's run): with
	// row_security off, PostgreSQL refuses such a role's statements instead, as for pg_dump's.
	fmt.Fprintf(h, "SET LOCAL row_security = off;\n%s;\n", schema.CatalogFirst)
	for _, kv := range schema.TextSettings {
		fmt.Fprintf(h, "SET LOCAL %s = %s;\n", kv[0], schema.QuoteLiteral(kv[1]))
	}
	reversed := slices.Clone(tables)
	slices.Reverse(reversed)
	for kind, order := range [][]string{tables, reversed} {
		k := &s.kinds[kind]
		var copied int64
		for _, table := range order {
			for _, st := range k.stretches {
				if st.table != table {
					continue
				}
				n, err := io.Copy(h, io.NewSectionReader(k.body, st.off, st.size))
				if err != nil {
					return err
				}
				copied += n
			}
		}
		if copied != k.size {
			return fmt.Errorf("the order of tables %q leaves out some of the statements' tables", tables)
		}
	}
	fmt.Fprintf(h, "COMMIT;\n")
	return h.Flush()
}

func (s *RepairScript) removeBodies() {
	for _, k := range s.kinds {
		if k.body != nil {
			k.body.Close()
			os.Remove(k.body.Name())
		}
	}
}

// Abort removes every temporary file; nothing is left at the target path.
func (s *RepairScript) Abort() error {
	s.removeBodies()
	s.out.abort()
	return nil
}
