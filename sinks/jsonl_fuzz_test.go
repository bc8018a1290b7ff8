package sinks

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rowdiff/rowdiff/schema"
)

// FuzzJSONLines checks that every record the JSON Lines writer produces parses back to the same values,
// whatever bytes the columns hold.
func FuzzJSONLines(f *testing.F) {
	f.Add("42", "t", `{"a": [1, 2]}`, "text\twith \"quotes\" \\ and \n newline", true)
	f.Add("-9223372036854775808", "f", "not json", "\u2028\x00\x7f", false)
	f.Add("12abc", "x", "null", "NULL", true)
	f.Add("", "", "", "", false)
	f.Add("1", "t", "{\"a\": \"caf\xe9\"}", "k\xe9\xea", false) // a SQL_ASCII node's bytes
	f.Fuzz(func(t *testing.T, i, b, j, s string, absent bool) {
		tbl := &schema.Table{Schema: "public", Name: `od"d`, Columns: []schema.Column{
			{Name: "id", Base: "int8"}, {Name: "flag", Base: "bool"}, {Name: "doc", Base: "jsonb"}, {Name: "s\x01", Base: "text"},
		}, Key: []int{0, 3}}
		row := schema.Row{{S: i}, {S: b}, {S: j}, {S: s}}
		other := schema.Row{{Null: true}, {Null: true}, {Null: true}, {S: ""}}
		d := schema.Diff{Table: tbl, Key: schema.Key{i, s}, Kind: schema.Changed, Rows: []schema.Row{row, other}}
		if absent {
			d.Kind, d.Rows[1] = schema.Missing, nil
		}
		line := AppendJSON(nil, d, []string{"a", "b"})
		var got struct {
			Table string                     `json:"table"`
			Key   map[string]json.RawMessage `json:"key"`
			Kind  string                     `json:"kind"`
			Nodes map[string]map[string]json.RawMessage
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, line)
		}
		if !utf8.Valid(line) {
			t.Fatalf("output is not UTF-8: %q", line)
		}
		if strings.ContainsRune(string(line), '\n') {
			t.Fatalf("record spans lines: %q", line)
		}
		if got.Table != `public."od""d"` || got.Kind != d.Kind || len(got.Nodes) != 2 {
			t.Fatalf("header fields: %+v", got)
		}
		if absent != (got.Nodes["b"] == nil) {
			t.Fatalf("node b presence: %s", line)
		}
		// Text values must come back byte for byte where they are UTF-8 (a SQL_ASCII node's may not be).
		var sv string
		if err := json.Unmarshal(got.Nodes["a"]["s\x01"], &sv); err != nil || (utf8.ValidString(s) && sv != s) {
			t.Fatalf("text %q came back as %q (%v)", s, sv, err)
		}
		// Integers, booleans and JSON are embedded only when valid; otherwise they are strings.
		var iv any
		if err := json.Unmarshal(got.Nodes["a"]["id"], &iv); err != nil {
			t.Fatal(err)
		}
		if str, ok := iv.(string); ok && str != i && utf8.ValidString(i) {
			t.Fatalf("int %q came back as %q", i, str)
		}
		// A JSON value comes back as the same JSON (whitespace aside); anything else as its text.
		var want, back bytes.Buffer
		if json.Compact(&want, []byte(validUTF8(j))) == nil {
			if err := json.Compact(&back, got.Nodes["a"]["doc"]); err != nil || back.String() != want.String() {
				t.Fatalf("json %q came back as %s (%v)", j, got.Nodes["a"]["doc"], err)
			}
		} else if err := json.Unmarshal(got.Nodes["a"]["doc"], &sv); err != nil || (utf8.ValidString(j) && sv != j) {
			t.Fatalf("not-json %q came back as %s (%v)", j, got.Nodes["a"]["doc"], err)
		}
		if !absent && string(got.Nodes["b"]["id"]) != "null" {
			t.Fatalf("NULL came back as %s", got.Nodes["b"]["id"])
		}
	})
}
