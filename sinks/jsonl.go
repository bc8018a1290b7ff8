package sinks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rowdiff/rowdiff/schema"
)

// JSONLines writes one JSON object per differing key:
//
//	{"table":"public.orders","key":{"id":42},"kind":"changed","nodes":{"a":{...},"b":null}}
//
// Integers and booleans are JSON numbers and booleans, json and jsonb are embedded (line breaks in a json
// value become spaces), everything else is the PostgreSQL text form. It is not safe for concurrent use.
type JSONLines struct {
	nodes []string
	w     *bufio.Writer
	file  *atomicFile
	buf   []byte
}

// NewJSONLines writes to path ("-" is stdout) for the given node names.
func NewJSONLines(path string, nodes []string) (*JSONLines, error) {
	s := &JSONLines{nodes: nodes}
	if path == "-" {
		s.file = stdStream(os.Stdout, 1, "stdout")
	} else {
		f, err := createAtomic(path)
		if err != nil {
			return nil, err
		}
		s.file = f
	}
	// 64 KiB is enough to write in big sequential chunks; it stays in memory the whole run.
	s.w = bufio.NewWriterSize(s.file, 64<<10)
	return s, nil
}

// Write appends one record.
func (s *JSONLines) Write(d schema.Diff) error {
	s.buf = AppendJSON(s.buf[:0], d, s.nodes)
	s.buf = append(s.buf, '\n')
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// Interrupt makes a write that waits for a reader of a pipe or named pipe fail at once, and every later
// one; it may be called while another goroutine writes. See interrupt.
func (s *JSONLines) Interrupt() { interrupt(s.file.File) }

// Commit flushes and moves the file into place.
func (s *JSONLines) Commit(Meta) error {
	if err := s.w.Flush(); err != nil {
		s.Abort()
		return fmt.Errorf("write output: %w", err)
	}
	return s.file.commit()
}

// Abort removes the temporary file; the target path is left as it was.
func (s *JSONLines) Abort() error {
	s.file.abort()
	return nil
}

// AppendJSON appends the JSON object of one difference (without a newline).
func AppendJSON(b []byte, d schema.Diff, nodes []string) []byte {
	t := d.Table
	b = append(b, `{"table":`...)
	b = appendString(b, t.String())
	b = append(b, `,"key":{`...)
	for i, k := range t.Key {
		if i > 0 {
			b = append(b, ',')
		}
		c := t.Columns[k]
		b = appendString(b, c.Name)
		b = append(b, ':')
		b = appendValue(b, c, schema.Value{S: d.Key[i]})
	}
	b = append(b, `},"kind":`...)
	b = appendString(b, d.Kind)
	b = append(b, `,"nodes":{`...)
	for i, name := range nodes {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, name)
		b = append(b, ':')
		row := d.Rows[i]
		if row == nil {
			b = append(b, "null"...)
			continue
		}
		b = append(b, '{')
		for j, c := range t.Columns {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c.Name)
			b = append(b, ':')
			b = appendValue(b, c, row[j])
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

func appendValue(b []byte, c schema.Column, v schema.Value) []byte {
	if v.Null {
		return append(b, "null"...)
	}
	switch c.Kind() {
	case schema.KindInt:
		if jsonInteger(v.S) {
			return append(b, v.S...)
		}
	case schema.KindBool:
		switch v.S {
		case "t":
			return append(b, "true"...)
		case "f":
			return append(b, "false"...)
		}
	case schema.KindJSON:
		// The server outputs valid JSON for json and jsonb; checking keeps every line parseable whatever
		// arrives. json.Valid takes any bytes in a string, which a SQL_ASCII node's json may hold.
		js := validUTF8(v.S)
		if json.Valid(stringBytes(js)) { // read only: no copy of the value
			return appendOneLine(b, js)
		}
	}
	return appendString(b, v.S)
}

// appendOneLine writes valid JSON text js with its line breaks turned into spaces: a json column keeps its
// input as typed, pretty-printed values included, and a record must stay on one line. In valid JSON a line
// break can only be whitespace between tokens, so the value does not change.
func appendOneLine(b []byte, js string) []byte {
	for {
		i := strings.IndexAny(js, "\n\r")
		if i < 0 {
			return append(b, js...)
		}
		b = append(append(b, js[:i]...), ' ')
		js = js[i+1:]
	}
}

// appendString writes s as a JSON string. A SQL_ASCII node's text may be any bytes: each byte that is not
// part of valid UTF-8 is written as U+FFFD rather than as broken JSON.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Copy the run of bytes that need no escaping in one go.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < utf8.RuneSelf && s[j] != '"' && s[j] != '\\' && s[j] != 0x7f {
			j++
		}
		b = append(b, s[i:j]...)
		if i = j; i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, `\u202`...)
			b = append(b, hex[r&15])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// jsonInteger reports whether s is an int64 written as JSON writes numbers: PostgreSQL's output always
// is, but ParseInt also takes "+5" and "007", which are not JSON.
func jsonInteger(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || digits[0] < '0' || digits[0] > '9' || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}
