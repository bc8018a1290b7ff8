package pipeline

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestParseKeyRecord reads the table and key of records as rowdiff writes them, and in other field
// orders (jq -S sorts them), keeping the key columns in the record's order.
func TestParseKeyRecord(t *testing.T) {
	wide := strings.Repeat("x", 1<<20)
	for _, c := range []struct{ line, table string }{
		{`{"table":"public.t","key":{"b":"x,y","a":7},"kind":"changed","nodes":{"n1":{"v":"` + wide + `"},"n2":null}}`, "public.t"},
		{`{"key":{"b":"x,y","a":7},"kind":"missing","nodes":{"n1":null},"table":"s.\"T\""}`, `s."T"`},
		{`{"nodes":{"n1":{"a":[1,{"k":"}"}]}},"key":{"b":"x,y","a":7.0e0},"table":"public.t"}`, "public.t"},
	} {
		rec, err := parseKeyRecord([]byte(c.line))
		if err != nil {
			t.Fatalf("%.80s: %v", c.line, err)
		}
		wantKey := []string{"x,y", "7"}
		if strings.Contains(c.line, "7.0e0") {
			wantKey[1] = "7.0e0" // the number's text, as written
		}
		if rec.Table != c.table || !slices.Equal(rec.Columns, []string{"b", "a"}) || !slices.Equal(rec.Key, wantKey) {
			t.Errorf("%.80s: got %q %q %q", c.line, rec.Table, rec.Columns, rec.Key)
		}
	}
	for _, bad := range []string{`[1]`, `{"table":"public.t"}`, `{"key":{"a":1}}`, `{"table":"public.t","key":[1]}`, `{"table":"public.t","key":{"a":null}}`, `{"table":"public.t","key":{}}`} {
		if _, err := parseKeyRecord([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// BenchmarkParseKeyRecordWide reads the key of a record of two 2 MiB rows, which parsing stops short of.
func BenchmarkParseKeyRecordWide(b *testing.B) {
	wide := strings.Repeat("c4ca4238a0b923820dcc509a6f75849b", 1<<16)
	line := []byte(`{"table":"public.wide","key":{"id":1},"kind":"changed","nodes":{"a":{"id":1,"v":"` + wide + `"},"b":{"id":1,"v":"` + wide + `x"}}}`)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := parseKeyRecord(line); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCutLastRecord: the last record of an interrupted --out - is cut short, and one cut after its key
// was read as whole. A last line without its line break must be a whole record; one with it, or a whole
// one without, passes. Appended to (>>), the next run's first record is glued to the cut one, and was
// dropped: such a line is refused.
func TestCutLastRecord(t *testing.T) {
	const rec = `{"table":"public.t","key":{"id":1},"kind":"changed","nodes":{"a":{"id":1,"v":"x"},"b":{"id":1,"v":"y"}}}`
	cut := rec[:len(rec)-20]
	// The next run's records appended after a cut one: the first is glued to it.
	glued := rec + "\n" + cut + rec + "\n" + rec + "\n"
	for body, wantErr := range map[string]bool{rec + "\n" + cut: true, rec + "\n" + rec: false, rec + "\n" + rec + "\n": false, glued: true} {
		path := filepath.Join(t.TempDir(), "in.jsonl")
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := openKeys(path)
		if err != nil {
			t.Fatal(err)
		}
		var last error
		for {
			if _, err := src.next(); err != nil {
				if err != io.EOF {
					last = err
				}
				break
			}
		}
		src.close()
		if (last != nil) != wantErr {
			t.Errorf("%q: error %v, want an error: %v", body, last, wantErr)
		}
	}
}
