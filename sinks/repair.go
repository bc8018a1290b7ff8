package sinks

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

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
// script itself. Not safe for concurrent use.
type RepairScript struct {
	source, target string
	body           *os.File // statements; the header needs counts known only at the end
	w              *bufio.Writer
	out            *atomicFile
	pending        []string
	pendingKeys    []string // key tuples of pending upserts
	pendingBytes   int
	table          *schema.Table
	upsert         bool
	upserts        int64
	deletes        int64
}

// NewRepairScript writes the script to path on Commit.
func NewRepairScript(path, source, target string) (*RepairScript, error) {
	out, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	body, err := os.CreateTemp("", "rowdiff-repair-body-*")
	if err != nil {
		out.abort()
		return nil, err
	}
	return &RepairScript{source: source, target: target, out: out, body: body, w: bufio.NewWriter(body)}, nil
}

// Upsert makes the target's row with row's key equal row.
func (s *RepairScript) Upsert(t *schema.Table, row schema.Row) error {
	if err := s.switchTo(t, true); err != nil {
		return err
	}
	vals := make([]string, 0, len(t.Columns))
	for i, c := range t.Columns {
		switch {
		case c.Generated:
		case c.EnumLabel:
			vals = append(vals, untypedLiteral(row[i]))
		default:
			vals = append(vals, literal(row[i], c.Type))
		}
	}
	s.add("(" + strings.Join(vals, ", ") + ")")
	key := make([]string, len(t.Key))
	for i, k := range t.Key {
		key[i] = literal(row[k], t.Columns[k].Type)
	}
	s.pendingKeys = append(s.pendingKeys, "("+strings.Join(key, ", ")+")")
	s.upserts++
	return s.flushIfFull()
}

// Delete removes the target's row with key.
func (s *RepairScript) Delete(t *schema.Table, key schema.Key) error {
	if err := s.switchTo(t, false); err != nil {
		return err
	}
	vals := make([]string, len(key))
	for i, k := range t.Key {
		vals[i] = literal(schema.Value{S: key[i]}, t.Columns[k].Type)
	}
	s.add("(" + strings.Join(vals, ", ") + ")")
	s.deletes++
	return s.flushIfFull()
}

func (s *RepairScript) switchTo(t *schema.Table, upsert bool) error {
	if s.table != t || s.upsert != upsert {
		if err := s.flush(); err != nil {
			return err
		}
		s.table, s.upsert = t, upsert
	}
	return nil
}

func (s *RepairScript) flushIfFull() error {
	if len(s.pending) < repairBatch && s.pendingBytes < repairBatchBytes {
		return nil
	}
	return s.flush()
}

// add appends one row's tuple to the statement being gathered.
func (s *RepairScript) add(tuple string) {
	s.pending = append(s.pending, tuple)
	s.pendingBytes += len(tuple)
}

func (s *RepairScript) flush() error {
	if len(s.pending) == 0 {
		return nil
	}
	t := s.table
	var keyCols []string
	for _, k := range t.Key {
		keyCols = append(keyCols, schema.QuoteIdent(t.Columns[k].Name))
	}
	var b strings.Builder
	zone := t.Zone()
	if s.upsert && zone != "" {
		// Its values are timestamptz literals with their offset: a timestamp column on the target takes
		// them as local times in the session's TimeZone, which for these statements is the column's zone.
		fmt.Fprintf(&b, "SET LOCAL TimeZone = %s;\n", schema.QuoteLiteral(zone))
	}
	if s.upsert {
		var cols, sets []string
		overriding, identityValue := "", false
		for i, c := range t.Columns {
			if c.Generated {
				continue
			}
			q := schema.QuoteIdent(c.Name)
			cols = append(cols, q)
			if c.IdentityAlways {
				overriding = " OVERRIDING SYSTEM VALUE"
				identityValue = identityValue || !t.IsKey(i)
			}
			if !t.IsKey(i) {
				sets = append(sets, q+" = EXCLUDED."+q)
			}
		}
		if identityValue {
			// An identity column GENERATED ALWAYS can only be written by an INSERT with OVERRIDING
			// SYSTEM VALUE, never by an UPDATE: replace the rows instead of upserting them.
			fmt.Fprintf(&b, "DELETE FROM %s WHERE (%s) IN (\n  %s);\n", t.From(), strings.Join(keyCols, ", "), strings.Join(s.pendingKeys, ",\n  "))
			fmt.Fprintf(&b, "INSERT INTO %s (%s)%s VALUES\n  %s;\n", t.Ident(), strings.Join(cols, ", "), overriding, strings.Join(s.pending, ",\n  "))
		} else {
			fmt.Fprintf(&b, "INSERT INTO %s (%s)%s VALUES\n  %s\nON CONFLICT (%s) ", t.Ident(), strings.Join(cols, ", "),
				overriding, strings.Join(s.pending, ",\n  "), strings.Join(keyCols, ", "))
			if len(sets) == 0 {
				b.WriteString("DO NOTHING;\n")
			} else {
				fmt.Fprintf(&b, "DO UPDATE SET %s;\n", strings.Join(sets, ", "))
			}
		}
	} else {
		fmt.Fprintf(&b, "DELETE FROM %s WHERE (%s) IN (\n  %s);\n", t.From(), strings.Join(keyCols, ", "), strings.Join(s.pending, ",\n  "))
	}
	if s.upsert && zone != "" {
		fmt.Fprintf(&b, "SET LOCAL TimeZone = %s;\n", schema.QuoteLiteral(schema.TextSetting("TimeZone")))
	}
	clear(s.pending) // the tuples of wide rows can go now
	s.pending, s.pendingKeys, s.pendingBytes = s.pending[:0], s.pendingKeys[:0], 0
	_, err := s.w.WriteString(b.String())
	return err
}

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

// Commit writes the header and the statements to the target path.
func (s *RepairScript) Commit(tables []string, started time.Time) error {
	err := s.flush()
	if err == nil {
		err = s.w.Flush()
	}
	if err == nil {
		_, err = s.body.Seek(0, io.SeekStart)
	}
	if err != nil {
		s.Abort()
		return fmt.Errorf("write repair script: %w", err)
	}
	h := bufio.NewWriter(s.out)
	fmt.Fprintf(h, "-- rowdiff %s repair script\n", Version)
	fmt.Fprintf(h, "-- source: %s\n-- target: %s\n-- tables: %s\n", s.source, s.target, strings.Join(tables, ", "))
	fmt.Fprintf(h, "-- generated: %s\n", started.UTC().Format(time.RFC3339))
	fmt.Fprintf(h, "-- keys: %d (%d upserted from the source's current rows, %d deleted because the source lacks them)\n", s.upserts+s.deletes, s.upserts, s.deletes)
	fmt.Fprintf(h, "-- Review it, then run it on the target: psql -v ON_ERROR_STOP=1 -f <this file> <target>\n")
	// The literals are in the text forms rowdiff read them in: the target parses them under the same settings.
	fmt.Fprintf(h, "SET standard_conforming_strings = on;\n")
	for _, kv := range schema.TextSettings {
		fmt.Fprintf(h, "SET %s = %s;\n", kv[0], schema.QuoteLiteral(kv[1]))
	}
	fmt.Fprintf(h, "BEGIN;\n")
	if _, err := io.Copy(h, s.body); err != nil {
		s.Abort()
		return fmt.Errorf("write repair script: %w", err)
	}
	fmt.Fprintf(h, "COMMIT;\n")
	if err := h.Flush(); err != nil {
		s.Abort()
		return fmt.Errorf("write repair script: %w", err)
	}
	s.body.Close()
	os.Remove(s.body.Name())
	return s.out.commit()
}

// Abort removes every temporary file; nothing is left at the target path.
func (s *RepairScript) Abort() error {
	s.body.Close()
	os.Remove(s.body.Name())
	s.out.abort()
	return nil
}
