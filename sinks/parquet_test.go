package sinks_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	_ "github.com/apache/arrow-go/v18/arrow/extensions" // registers arrow.uuid, so UUID columns read as uuid
	"github.com/apache/arrow-go/v18/arrow/memory"
	pq "github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pqschema "github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// The files are read back with Apache Arrow's Go Parquet implementation, which shares no code with
// parquet-go, and the expected values come from the standard library (time, math/big, encoding/hex),
// not from the sink's own parsers.

var pqNodes = []string{"a", "b"}

// pqAllTypes has a column of every type the sink maps, declared the way the pipeline describes them.
func pqAllTypes() *schema.Table {
	num := func(name string, p, s int) schema.Column {
		typ := "numeric"
		if p >= 0 {
			typ = fmt.Sprintf("numeric(%d,%d)", p, s)
		}
		return schema.Column{Name: name, Type: typ, Base: "numeric", Category: "N", Precision: p, Scale: s}
	}
	col := func(name, typ, base, cat string) schema.Column {
		return schema.Column{Name: name, Type: typ, Base: base, Category: cat, Precision: -1, Scale: -1}
	}
	return &schema.Table{Schema: "public", Name: "all_types", Key: []int{0}, Columns: []schema.Column{
		col("id", "bigint", "int8", "N"),
		col("i2", "smallint", "int2", "N"),
		col("i4", "integer", "int4", "N"),
		col("f4", "real", "float4", "N"),
		col("f8", "double precision", "float8", "N"),
		num("n5", 5, 2),
		num("n18", 18, 4),
		num("n38", 38, 0),
		num("n38s", 38, 10),
		num("nu", -1, -1),
		num("n40", 40, 2),
		num("nneg", 3, -2),
		col("b", "boolean", "bool", "B"),
		col("t", "text", "text", "S"),
		col("vc", "character varying(10)", "varchar", "S"),
		col("bp", "character(3)", "bpchar", "S"),
		col("e", "mood", "mood", "E"),
		col("u", "uuid", "uuid", "U"),
		col("d", "date", "date", "D"),
		col("ts", "timestamp without time zone", "timestamp", "D"),
		col("tz", "timestamp with time zone", "timestamptz", "D"),
		col("by", "bytea", "bytea", "U"),
		col("j", "json", "json", "U"),
		col("jb", "jsonb", "jsonb", "U"),
		col("arr", "integer[]", "_int4", "A"),
		col("iv", "interval", "interval", "T"),
	}}
}

// pqWantType is the Parquet physical type, logical type and FIXED_LEN_BYTE_ARRAY length of each column.
var pqWantType = map[string]struct {
	phys    pq.Type
	logical pqschema.LogicalType
	length  int
}{
	"diff_table":   {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"diff_kind":    {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"diff_node":    {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"diff_present": {pq.Types.Boolean, pqschema.NoLogicalType{}, -1},
	"id":           {pq.Types.Int64, pqschema.NewIntLogicalType(64, true), -1},
	"i2":           {pq.Types.Int32, pqschema.NewIntLogicalType(16, true), -1},
	"i4":           {pq.Types.Int32, pqschema.NewIntLogicalType(32, true), -1},
	"f4":           {pq.Types.Float, pqschema.NoLogicalType{}, -1},
	"f8":           {pq.Types.Double, pqschema.NoLogicalType{}, -1},
	"n5":           {pq.Types.Int32, pqschema.NewDecimalLogicalType(5, 2), -1},
	"n18":          {pq.Types.Int64, pqschema.NewDecimalLogicalType(18, 4), -1},
	"n38":          {pq.Types.FixedLenByteArray, pqschema.NewDecimalLogicalType(38, 0), 16},
	"n38s":         {pq.Types.FixedLenByteArray, pqschema.NewDecimalLogicalType(38, 10), 16},
	"nu":           {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"n40":          {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"nneg":         {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"b":            {pq.Types.Boolean, pqschema.NoLogicalType{}, -1},
	"t":            {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"vc":           {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"bp":           {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"e":            {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"u":            {pq.Types.FixedLenByteArray, pqschema.UUIDLogicalType{}, 16},
	"d":            {pq.Types.Int32, pqschema.DateLogicalType{}, -1},
	"ts":           {pq.Types.Int64, pqschema.NewTimestampLogicalType(false, pqschema.TimeUnitMicros), -1},
	"tz":           {pq.Types.Int64, pqschema.NewTimestampLogicalType(true, pqschema.TimeUnitMicros), -1},
	"by":           {pq.Types.ByteArray, pqschema.NoLogicalType{}, -1},
	"j":            {pq.Types.ByteArray, pqschema.JSONLogicalType{}, -1},
	"jb":           {pq.Types.ByteArray, pqschema.JSONLogicalType{}, -1},
	"arr":          {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
	"iv":           {pq.Types.ByteArray, pqschema.StringLogicalType{}, -1},
}

// pqRow builds a row from text forms; "\N" is NULL.
func pqRow(vals ...string) schema.Row {
	r := make(schema.Row, len(vals))
	for i, v := range vals {
		if v == `\N` {
			r[i] = schema.Value{Null: true}
		} else {
			r[i] = schema.Value{S: v}
		}
	}
	return r
}

// pqAllTypesDiffs covers NULLs, NaN and infinities, 38-digit and negative numerics, BC and infinite dates and
// timestamps, bytea, json, arrays and keys absent on one node, in PostgreSQL's text forms (TimeZone=UTC,
// DateStyle=ISO, extra_float_digits=3, bytea_output=hex).
func pqAllTypesDiffs(t *schema.Table) []schema.Diff {
	//        id   i2        i4             f4              f8                        n5         n18                    n38                                        n38s                                         nu                        n40                                          nneg      b    t                    vc            bp     e        u                                      d                 ts                                 tz                                    by               j                       jb                               arr                  iv
	a1 := pqRow("1", "1", "2", "1.5", "0.1", "1.23", "12345678901234.5678", "12345678901234567890123456789012345678", "1234567890123456789012345678.0123456789", "3.14159", "12345678901234567890123456789012345678.99", "1200", "t", "hello", "v", "ab ", "happy", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2024-01-02", "2024-01-02 03:04:05.123456", "2024-01-02 03:04:05.123456+00", `\x00ff10`, `{"a": [1, 2]}`, `{"a": [1, 2], "b": null}`, "{1,2,NULL}", "1 day 02:00:00")
	b1 := pqRow("1", "-1", "-2", "-1.5", "-0.1", "-1.23", "-12345678901234.5678", "-12345678901234567890123456789012345678", "-1234567890123456789012345678.0123456789", "-3.14159", "-12345678901234567890123456789012345678.99", "-1200", "f", "héllo\n\"x\"", "w", "xy ", "sad", "00000000-0000-0000-0000-000000000000", "1970-01-01", "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999+00", `\x`, `[]`, `{}`, `{{1,2},{3,4}}`, "-1 days")
	a2 := pqRow("2", `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`, `\N`)
	b2 := pqRow("2", "-32768", "-2147483648", "NaN", "Infinity", "999.99", "99999999999999.9999", "99999999999999999999999999999999999999", "-9999999999999999999999999999.9999999999", "NaN", "Infinity", "-100", "f", "", "", "   ", "ok", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "0044-03-15 BC", "0044-03-15 12:00:00.5 BC", "0001-01-01 00:00:00+00 BC", `\x`, `null`, `"s"`, "{}", "00:00:00")
	a3 := pqRow("3", "32767", "2147483647", "-Infinity", "-Infinity", "-999.99", "0.0001", "0", "0.0000000001", "-0", "0.00", "0", "t", "x", "y", "z  ", "happy", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "infinity", "infinity", "-infinity", `\xdeadbeef`, `{"k": "v"}`, `[1, "x"]`, `{"a b","c\"d"}`, "1 year 2 mons")
	b4 := pqRow("4", "0", "0", "3.4028235e+38", "1.7976931348623157e+308", "NaN", "NaN", "NaN", "NaN", "1e-5", "0", "0", "f", "y", "z", "   ", "sad", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "-infinity", "-infinity", "infinity", `\x00`, `1`, `2`, "{}", "00:00:00")
	a5 := pqRow("5", "5", "5", "1e-45", "5e-324", "0.00", "-0.0001", "-1", "-0.0000000001", "123456789012345678901234567890123456789012345.678", "1.00", "0", "t", "🦆", "ü", "ä  ", "ok", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "4713-01-01 BC", "4713-01-01 00:00:00 BC", "2000-02-29 12:30:00+00", `\x41`, `{}`, `{}`, "{NULL}", "-00:00:01")
	b5 := pqRow("5", "5", "5", "1e-45", "5e-324", "0.00", "-0.0001", "-1", "-0.0000000001", "123456789012345678901234567890123456789012345.678", "1.00", "0", "t", "🦆", "ü", "ä  ", "ok", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "2000-02-29", "9999-12-31 23:59:59.999999", "2000-02-29 12:30:00.000001+00", `\x41`, `{}`, `{}`, "{NULL}", "-00:00:01")
	return []schema.Diff{
		{Table: t, Key: schema.Key{"1"}, Kind: schema.Changed, Rows: []schema.Row{a1, b1}},
		{Table: t, Key: schema.Key{"2"}, Kind: schema.Changed, Rows: []schema.Row{a2, b2}},
		{Table: t, Key: schema.Key{"3"}, Kind: schema.Missing, Rows: []schema.Row{a3, nil}},
		{Table: t, Key: schema.Key{"4"}, Kind: schema.Missing, Rows: []schema.Row{nil, b4}},
		{Table: t, Key: schema.Key{"5"}, Kind: schema.Changed, Rows: []schema.Row{a5, b5}},
	}
}

// pqOracle is the value a reader should see for one text form, computed with the standard library:
// int64, float64, bool, string, []byte, decimal unscaled integers as decimal strings, dates as days since
// the epoch, timestamps as microseconds since the epoch, nil for null.
func pqOracle(t *testing.T, c schema.Column, v schema.Value) any {
	t.Helper()
	if v.Null {
		return nil
	}
	s := v.S
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("oracle: column %s: %q: %v", c.Name, s, err)
		}
	}
	switch c.Base {
	case "int2", "int4", "int8":
		n, err := strconv.ParseInt(s, 10, 64)
		must(err)
		return n
	case "float4":
		f, err := strconv.ParseFloat(s, 32)
		must(err)
		return float64(float32(f))
	case "float8":
		f, err := strconv.ParseFloat(s, 64)
		must(err)
		return f
	case "bool":
		return s == "t"
	case "numeric":
		if c.Precision < 1 || c.Precision > 38 || c.Scale < 0 || c.Scale > c.Precision {
			return s
		}
		if s == "NaN" {
			return nil
		}
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("oracle: %q is no number", s)
		}
		r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Scale)), nil)))
		if !r.IsInt() {
			t.Fatalf("oracle: %q has more than %d decimals", s, c.Scale)
		}
		return r.Num().String()
	case "uuid":
		b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
		must(err)
		return b
	case "bytea":
		b, err := hex.DecodeString(strings.TrimPrefix(s, `\x`))
		must(err)
		return b
	case "date", "timestamp", "timestamptz":
		if s == "infinity" || s == "-infinity" {
			return nil
		}
		bc := strings.HasSuffix(s, " BC")
		s = strings.TrimSuffix(s, " BC")
		layout := "2006-01-02"
		switch c.Base {
		case "timestamp":
			layout = "2006-01-02 15:04:05.999999"
		case "timestamptz":
			layout = "2006-01-02 15:04:05.999999-07"
		}
		tm, err := time.Parse(layout, s)
		must(err)
		if bc { // 1 BC is year 0 of the proleptic Gregorian calendar Go uses
			tm = time.Date(1-tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), tm.Location())
		}
		if c.Base == "date" {
			return tm.Unix() / 86400
		}
		return tm.UnixMicro()
	}
	return s
}

// pqCell is the value at i of a column Arrow read, in pqOracle's terms.
func pqCell(t *testing.T, arr arrow.Array, i int) any {
	t.Helper()
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case array.ExtensionArray:
		return pqCell(t, a.Storage(), i)
	case *array.Int16:
		return int64(a.Value(i))
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float32:
		return float64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return bytes.Clone(a.Value(i))
	case *array.FixedSizeBinary:
		return bytes.Clone(a.Value(i))
	case *array.Decimal32:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Decimal64:
		return strconv.FormatInt(int64(a.Value(i)), 10)
	case *array.Decimal128:
		return a.Value(i).BigInt().String()
	case *array.Date32:
		return int64(a.Value(i))
	case *array.Timestamp:
		if u := a.DataType().(*arrow.TimestampType).Unit; u != arrow.Microsecond {
			t.Fatalf("timestamp unit %v, want microseconds", u)
		}
		return int64(a.Value(i))
	}
	t.Fatalf("unexpected Arrow array %T (%v)", arr, arr.DataType())
	return nil
}

func pqSame(want, got any) bool {
	if w, ok := want.(float64); ok {
		g, ok := got.(float64)
		return ok && (w == g && math.Signbit(w) == math.Signbit(g) || math.IsNaN(w) && math.IsNaN(g))
	}
	if g, ok := got.([]byte); ok {
		if w, ok := want.(string); ok { // json is binary to Arrow
			return w == string(g)
		}
	}
	return reflect.DeepEqual(want, got)
}

// pqRead is a Parquet file as Arrow reads it.
type pqRead struct {
	meta   *file.Reader
	names  []string
	fields map[string]arrow.Field
	rows   []map[string]any
}

func readParquet(t *testing.T, path string) *pqRead {
	t.Helper()
	rd, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatalf("arrow cannot open %s: %v", path, err)
	}
	t.Cleanup(func() { rd.Close() })
	fr, err := pqarrow.NewFileReader(rd, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatalf("arrow cannot read %s: %v", path, err)
	}
	defer tbl.Release()
	out := &pqRead{meta: rd, rows: make([]map[string]any, tbl.NumRows()), fields: map[string]arrow.Field{}}
	for i := range out.rows {
		out.rows[i] = map[string]any{}
	}
	for c := 0; c < int(tbl.NumCols()); c++ {
		name := tbl.Schema().Field(c).Name
		out.names = append(out.names, name)
		out.fields[name] = tbl.Schema().Field(c)
		r := 0
		for _, chunk := range tbl.Column(c).Data().Chunks() {
			for i := 0; i < chunk.Len(); i++ {
				out.rows[r][name] = pqCell(t, chunk, i)
				r++
			}
		}
	}
	return out
}

func writeParquet(t testing.TB, path string, tbl *schema.Table, diffs []schema.Diff, m sinks.Meta) {
	t.Helper()
	s, err := sinks.NewParquet(path, tbl, pqNodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if err := s.Write(d); err != nil {
			s.Abort()
			t.Fatal(err)
		}
	}
	if err := s.Commit(m); err != nil {
		t.Fatal(err)
	}
}

func TestParquetTypesAndValues(t *testing.T) {
	tbl := pqAllTypes()
	diffs := pqAllTypesDiffs(tbl)
	path := filepath.Join(t.TempDir(), "out.parquet")
	writeParquet(t, path, tbl, diffs, sinks.Meta{Table: tbl.String(), Nodes: pqNodes, Complete: true})
	f := readParquet(t, path)

	// Schema: the sink's columns first, then the table's in table order, each with its physical and
	// logical type; the sink's columns are required, the table's optional.
	wantNames := []string{"diff_table", "diff_kind", "diff_node", "diff_present"}
	for _, c := range tbl.Columns {
		wantNames = append(wantNames, c.Name)
	}
	if !reflect.DeepEqual(f.names, wantNames) {
		t.Fatalf("columns %v, want %v", f.names, wantNames)
	}
	sch := f.meta.MetaData().Schema
	for i, name := range wantNames {
		col := sch.Column(i)
		w := pqWantType[name]
		if col.PhysicalType() != w.phys || !col.LogicalType().Equals(w.logical) || col.TypeLength() != w.length && w.length > 0 {
			t.Errorf("column %s: %v %v len %d, want %v %v len %d", name, col.PhysicalType(), col.LogicalType(), col.TypeLength(), w.phys, w.logical, w.length)
		}
		if wantOpt := i >= 4; (col.MaxDefinitionLevel() == 1) != wantOpt {
			t.Errorf("column %s: max definition level %d, want optional=%v", name, col.MaxDefinitionLevel(), wantOpt)
		}
	}
	// How Arrow understands the logical types.
	for name, want := range map[string]string{
		"u":   "extension<arrow.uuid>",
		"ts":  "timestamp[us]",
		"tz":  "timestamp[us, tz=UTC]",
		"d":   "date32",
		"n38": "decimal(38, 0)",
		"i2":  "int16",
		"by":  "binary",
	} {
		if got := f.fields[name].Type.String(); got != want {
			t.Errorf("column %s: Arrow type %s, want %s", name, got, want)
		}
	}
	rg := f.meta.MetaData().RowGroup(0)
	for i := range wantNames {
		cc, err := rg.ColumnChunk(i)
		if err != nil {
			t.Fatal(err)
		}
		if cc.Compression() != compress.Codecs.Zstd {
			t.Errorf("column %s: compression %v, want zstd", wantNames[i], cc.Compression())
		}
	}

	// Values: one row per key and node, in write order.
	if len(f.rows) != len(diffs)*len(pqNodes) {
		t.Fatalf("%d rows, want %d", len(f.rows), len(diffs)*len(pqNodes))
	}
	for di, d := range diffs {
		for n, node := range pqNodes {
			got := f.rows[di*len(pqNodes)+n]
			want := map[string]any{"diff_table": "public.all_types", "diff_kind": d.Kind, "diff_node": node, "diff_present": d.Rows[n] != nil}
			for j, c := range tbl.Columns {
				switch {
				case d.Rows[n] != nil:
					want[c.Name] = pqOracle(t, c, d.Rows[n][j])
				case j == tbl.Key[0]: // an absent row still names its key
					want[c.Name] = pqOracle(t, c, schema.Value{S: d.Key[0]})
				default:
					want[c.Name] = nil
				}
			}
			for _, name := range wantNames {
				if !pqSame(want[name], got[name]) {
					t.Errorf("key %s node %s column %s: got %#v, want %#v", d.Key[0], node, name, got[name], want[name])
				}
			}
		}
	}

	// Spot checks written out by hand, so a shared mistake of pqOracle and sink cannot hide.
	spot := []struct {
		row  int
		col  string
		want any
	}{
		{0, "n38", "12345678901234567890123456789012345678"},
		{1, "n38s", "-12345678901234567890123456780123456789"},
		{3, "n38s", "-99999999999999999999999999999999999999"},
		{0, "tz", int64(1704164645123456)},
		{1, "tz", int64(-1)},
		{1, "d", int64(0)},
		// These four were computed by PostgreSQL 15 itself ('0044-03-15 BC'::date - '1970-01-01'::date,
		// extract(epoch from ...)*1000000), not by hand.
		{3, "d", int64(-735160)},             // 0044-03-15 BC
		{3, "ts", int64(-63517780799500000)}, // 0044-03-15 12:00:00.5 BC
		{3, "tz", int64(-62167219200000000)}, // 0001-01-01 00:00:00+00 BC
		{8, "d", int64(-2440550)},            // 4713-01-01 BC
		{3, "f4", math.NaN()},
		{3, "f8", math.Inf(1)},
		{3, "n5", "99999"},
		{4, "d", nil}, {4, "ts", nil}, {4, "tz", nil}, // ±infinity
		{5, "n5", nil}, // NaN in a DECIMAL
		{5, "diff_present", false},
		{5, "id", int64(3)},
		{0, "by", []byte{0, 0xff, 0x10}},
		{0, "u", []byte{0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11}},
		{0, "jb", `{"a": [1, 2], "b": null}`},
		{0, "arr", "{1,2,NULL}"},
		{1, "t", "héllo\n\"x\""},
	}
	for _, s := range spot {
		if got := f.rows[s.row][s.col]; !pqSame(s.want, got) {
			t.Errorf("row %d column %s: got %#v, want %#v", s.row, s.col, got, s.want)
		}
	}
}

// TestParquetTimestampLimits: PostgreSQL's range reaches past int64 microseconds since 1970 (294247 AD);
// such values and dates at both ends of the range.
func TestParquetTimestampLimits(t *testing.T) {
	tbl := &schema.Table{Schema: "s", Name: "lim", Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "integer", Base: "int4"},
		{Name: "ts", Type: "timestamp without time zone", Base: "timestamp"},
		{Name: "tz", Type: "timestamp with time zone", Base: "timestamptz"},
		{Name: "d", Type: "date", Base: "date"},
	}}
	maxT := time.UnixMicro(math.MaxInt64).UTC()
	maxText := fmt.Sprintf("%d-%s", maxT.Year(), maxT.Format("01-02 15:04:05.000000"))
	cases := []struct {
		ts, tz, d string
		wantTS    any
		wantTZ    any
		wantD     any
	}{
		{maxText, maxText + "+00", "5874897-12-31", int64(math.MaxInt64), int64(math.MaxInt64), time.Date(5874897, 12, 31, 0, 0, 0, 0, time.UTC).Unix() / 86400},
		{"294276-12-31 23:59:59.999999", "294276-12-31 23:59:59.999999+00", "4713-01-01 BC", nil, nil, time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400},
		{"4713-01-01 00:00:00 BC", "4714-11-24 00:00:00+00 BC", "10000-01-01", time.Date(-4712, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400},
		{"2024-06-01 00:00:00", "2024-06-01 05:30:00+05:30", "2024-06-01", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400},
		{"2024-06-01 00:00:00", "2024-05-31 23:06:32-00:53:28", "2024-06-01", time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC).Unix() / 86400},
	}
	var diffs []schema.Diff
	for i, c := range cases {
		id := strconv.Itoa(i)
		diffs = append(diffs, schema.Diff{Table: tbl, Key: schema.Key{id}, Kind: schema.Missing,
			Rows: []schema.Row{pqRow(id, c.ts, c.tz, c.d), nil}})
	}
	path := filepath.Join(t.TempDir(), "lim.parquet")
	writeParquet(t, path, tbl, diffs, sinks.Meta{})
	f := readParquet(t, path)
	for i, c := range cases {
		got := f.rows[2*i]
		for _, x := range []struct {
			col  string
			want any
		}{{"ts", c.wantTS}, {"tz", c.wantTZ}, {"d", c.wantD}} {
			if !pqSame(x.want, got[x.col]) {
				t.Errorf("case %d %s: got %#v, want %#v", i, x.col, got[x.col], x.want)
			}
		}
	}
}

// TestParquetBadValue: text that is not of the column's type fails Write with the column named, and the
// failed run leaves no file.
func TestParquetBadValue(t *testing.T) {
	for _, c := range []struct{ base, typ, text string }{
		{"int4", "integer", "12x"},
		{"int2", "smallint", "40000"},
		{"float8", "double precision", "one"},
		{"bool", "boolean", "maybe"},
		{"uuid", "uuid", "a0eebc99-9c0b-4ef8"},
		{"date", "date", "2024/01/02"},
		{"timestamp", "timestamp without time zone", "2024-01-02T03:04:05"},
		{"timestamptz", "timestamp with time zone", "2024-01-02 03:04:05"},
		{"bytea", "bytea", `\x0`},
		{"numeric", "numeric(5,2)", "1000.00"},
		{"numeric", "numeric(5,2)", "1.234"},
	} {
		tbl := &schema.Table{Schema: "s", Name: "t", Key: []int{0}, Columns: []schema.Column{
			{Name: "id", Type: "integer", Base: "int4"},
			{Name: "v", Type: c.typ, Base: c.base, Precision: 5, Scale: 2},
		}}
		dir := t.TempDir()
		s, err := sinks.NewParquet(filepath.Join(dir, "x.parquet"), tbl, pqNodes)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Write(schema.Diff{Table: tbl, Key: schema.Key{"1"}, Kind: schema.Missing, Rows: []schema.Row{pqRow("1", c.text), nil}})
		if err == nil || !strings.Contains(err.Error(), `column "v"`) || !strings.Contains(err.Error(), strconv.Quote(c.text)) {
			t.Errorf("%s %q: error %v, want one naming column \"v\" and the value", c.typ, c.text, err)
		}
		s.Abort()
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s: files left after Abort: %v", c.typ, ents)
		}
	}
}

func TestParquetMetadata(t *testing.T) {
	tbl := pqAllTypes()
	path := filepath.Join(t.TempDir(), "meta.parquet")
	started := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	finished := started.Add(90 * time.Second)
	writeParquet(t, path, tbl, pqAllTypesDiffs(tbl)[:1], sinks.Meta{Table: "public.all_types", Nodes: []string{"a", "b,c"},
		Started: started, Finished: finished, Complete: false})
	kv := readParquet(t, path).meta.MetaData().KeyValueMetadata()
	get := func(k string) string {
		v := kv.FindValue(k)
		if v == nil {
			t.Fatalf("no footer metadata %q", k)
		}
		return *v
	}
	if got := get("rowdiff.version"); got != sinks.Version {
		t.Errorf("version %q", got)
	}
	if got := get("rowdiff.table"); got != "public.all_types" {
		t.Errorf("table %q", got)
	}
	var ns []string
	if err := json.Unmarshal([]byte(get("rowdiff.nodes")), &ns); err != nil || !reflect.DeepEqual(ns, []string{"a", "b,c"}) {
		t.Errorf("nodes %q (%v)", get("rowdiff.nodes"), err)
	}
	var keys []string
	if err := json.Unmarshal([]byte(get("rowdiff.key")), &keys); err != nil || !reflect.DeepEqual(keys, []string{"id"}) {
		t.Errorf("key %q (%v)", get("rowdiff.key"), err)
	}
	var cols []struct{ Name, Type string }
	if err := json.Unmarshal([]byte(get("rowdiff.columns")), &cols); err != nil || len(cols) != len(tbl.Columns) || cols[6].Type != "numeric(18,4)" {
		t.Errorf("columns %q (%v)", get("rowdiff.columns"), err)
	}
	for k, want := range map[string]time.Time{"rowdiff.started": started, "rowdiff.finished": finished} {
		got, err := time.Parse(time.RFC3339, get(k))
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s %q (%v), want %v in UTC", k, get(k), err, want)
		}
	}
	if got := get("rowdiff.complete"); got != "false" {
		t.Errorf("complete %q", got)
	}
}

func TestParquetColumnNameCollision(t *testing.T) {
	for _, name := range []string{"diff_table", "diff_kind", "diff_node", "diff_present"} {
		tbl := &schema.Table{Schema: "public", Name: "t", Key: []int{0}, Columns: []schema.Column{
			{Name: "id", Type: "integer", Base: "int4"},
			{Name: name, Type: "text", Base: "text"},
		}}
		dir := t.TempDir()
		s, err := sinks.NewParquet(filepath.Join(dir, "x.parquet"), tbl, pqNodes)
		if err == nil {
			s.Abort()
			t.Fatalf("column %s: no error", name)
		}
		if !strings.Contains(err.Error(), strconv.Quote(name)) || !strings.Contains(err.Error(), "public.t") {
			t.Errorf("column %s: error %q does not name the column and table", name, err)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("files left: %v", ents)
		}
	}
	// Near misses are fine.
	tbl := &schema.Table{Schema: "public", Name: "t", Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "integer", Base: "int4"},
		{Name: "Diff_Kind", Type: "text", Base: "text"},
		{Name: "diff_", Type: "text", Base: "text"},
	}}
	s, err := sinks.NewParquet(filepath.Join(t.TempDir(), "x.parquet"), tbl, pqNodes)
	if err != nil {
		t.Fatal(err)
	}
	s.Abort()
}

func TestParquetAbortLeavesNothing(t *testing.T) {
	tbl := pqAllTypes()
	for _, existing := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "out.parquet")
		if existing {
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s, err := sinks.NewParquet(path, tbl, pqNodes)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2000; i++ {
			for _, d := range pqAllTypesDiffs(tbl) {
				if err := s.Write(d); err != nil {
					t.Fatal(err)
				}
			}
		}
		if ents, _ := os.ReadDir(dir); len(ents) != map[bool]int{false: 1, true: 2}[existing] {
			t.Fatalf("before Abort, want the temporary file (and the old target): %v", ents)
		}
		if err := s.Abort(); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(dir)
		if !existing && len(ents) != 0 {
			t.Errorf("files left after Abort: %v", ents)
		}
		if existing {
			if b, _ := os.ReadFile(path); len(ents) != 1 || string(b) != "old" {
				t.Errorf("after Abort the directory holds %v and the target %q, want only the old target", ents, b)
			}
		}
		if err := s.Commit(sinks.Meta{}); err == nil {
			t.Errorf("Commit after Abort succeeded")
		}
	}
}

func TestParquetCommitReplacesTarget(t *testing.T) {
	tbl := pqAllTypes()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.parquet")
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeParquet(t, path, tbl, nil, sinks.Meta{Complete: true})
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "out.parquet" {
		t.Fatalf("directory holds %v, want only out.parquet", ents)
	}
	if f := readParquet(t, path); len(f.rows) != 0 || len(f.names) != 4+len(tbl.Columns) {
		t.Errorf("empty run: %d rows, %d columns", len(f.rows), len(f.names))
	}
	if _, err := sinks.NewParquet(filepath.Join(dir, "missing-dir", "x.parquet"), tbl, pqNodes); err == nil {
		t.Errorf("no error for a directory that does not exist")
	}
}

// TestParquetMatchesJSONLines: the two sinks given the same differences hold the same keys, kinds, node
// presence and values.
func TestParquetMatchesJSONLines(t *testing.T) {
	tbl := pqAllTypes()
	diffs := pqAllTypesDiffs(tbl)
	dir := t.TempDir()
	pqPath, jlPath := filepath.Join(dir, "d.parquet"), filepath.Join(dir, "d.jsonl")
	writeParquet(t, pqPath, tbl, diffs, sinks.Meta{})
	jl, err := sinks.NewJSONLines(jlPath, pqNodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if err := jl.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := jl.Commit(sinks.Meta{}); err != nil {
		t.Fatal(err)
	}

	// JSON Lines → key|node → column → pqOracle value. A JSON value goes back to its text form first:
	// strings as they are, numbers, booleans and embedded JSON as written.
	type rec struct {
		Table string                                `json:"table"`
		Key   map[string]json.RawMessage            `json:"key"`
		Kind  string                                `json:"kind"`
		Nodes map[string]map[string]json.RawMessage `json:"nodes"`
	}
	text := func(c schema.Column, raw json.RawMessage) schema.Value {
		if string(raw) == "null" {
			return schema.Value{Null: true}
		}
		if c.Kind() == schema.KindBool {
			return schema.Value{S: map[string]string{"true": "t", "false": "f"}[string(raw)]}
		}
		var s string
		if c.Kind() == schema.KindText && json.Unmarshal(raw, &s) == nil {
			return schema.Value{S: s}
		}
		return schema.Value{S: string(raw)}
	}
	fromJSON := map[string]map[string]any{}
	jf, err := os.Open(jlPath)
	if err != nil {
		t.Fatal(err)
	}
	defer jf.Close()
	sc := bufio.NewScanner(jf)
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		key := string(r.Key["id"])
		for _, node := range pqNodes {
			vals, present := r.Nodes[node]
			m := map[string]any{"diff_table": r.Table, "diff_kind": r.Kind, "diff_present": vals != nil}
			if _, ok := r.Nodes[node]; !ok || !present {
				t.Fatalf("JSON record for key %s lacks node %s", key, node)
			}
			for _, c := range tbl.Columns {
				switch {
				case vals != nil:
					m[c.Name] = pqOracle(t, c, text(c, vals[c.Name]))
				case c.Name == "id":
					m[c.Name] = pqOracle(t, c, text(c, r.Key["id"]))
				default:
					m[c.Name] = nil
				}
			}
			fromJSON[key+"|"+node] = m
		}
	}
	fromPQ := map[string]map[string]any{}
	for _, r := range readParquet(t, pqPath).rows {
		k := fmt.Sprint(r["id"]) + "|" + r["diff_node"].(string)
		delete(r, "diff_node")
		fromPQ[k] = r
	}
	keys := func(m map[string]map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	if !reflect.DeepEqual(keys(fromJSON), keys(fromPQ)) {
		t.Fatalf("keys and nodes differ: jsonl %v, parquet %v", keys(fromJSON), keys(fromPQ))
	}
	for k, j := range fromJSON {
		p := fromPQ[k]
		if len(j) != len(p) {
			t.Errorf("%s: jsonl has %d fields, parquet %d", k, len(j), len(p))
		}
		for name, jv := range j {
			// JSON Lines writes a json null and SQL NULL alike, as null.
			if b, ok := p[name].([]byte); ok && jv == nil && string(b) == "null" && tbl.Columns[tbl.ColumnIndex(name)].Kind() == schema.KindJSON {
				continue
			}
			if !pqSame(jv, p[name]) {
				t.Errorf("%s column %s: jsonl gives %#v, parquet %#v", k, name, jv, p[name])
			}
		}
	}
}

// pqWideTable is a realistic table for the memory tests: a key, numbers, text, a timestamp, a jsonb.
func pqWideTable() *schema.Table {
	return &schema.Table{Schema: "public", Name: "orders", Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "bigint", Base: "int8"},
		{Name: "customer", Type: "integer", Base: "int4"},
		{Name: "amount", Type: "numeric(12,2)", Base: "numeric", Precision: 12, Scale: 2},
		{Name: "big", Type: "numeric(30,6)", Base: "numeric", Precision: 30, Scale: 6},
		{Name: "ratio", Type: "double precision", Base: "float8"},
		{Name: "note", Type: "text", Base: "text"},
		{Name: "ref", Type: "uuid", Base: "uuid"},
		{Name: "created", Type: "timestamp with time zone", Base: "timestamptz"},
		{Name: "attrs", Type: "jsonb", Base: "jsonb"},
		{Name: "blob", Type: "bytea", Base: "bytea"},
	}}
}

// pqNoise is 1 MiB of pseudo-random bytes (splitmix64) in hex, made once.
var pqNoise = sync.OnceValue(func() string {
	b := make([]byte, 1<<20)
	var x uint64
	for k := 0; k < len(b); k += 8 {
		x += 0x9e3779b97f4a7c15
		z := (x ^ x>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		binary.LittleEndian.PutUint64(b[k:], z^z>>31)
	}
	return hex.EncodeToString(b)
})

// pqWideDiff makes difference i. Every value depends on i and the bytea holds 160 pseudo-random bytes, so the
// data does not compress away: 300k differences make a file larger than the memory bound, and a sink that
// kept its file in memory would fail TestParquetMemoryFlat.
func pqWideDiff(tbl *schema.Table, i int) schema.Diff {
	id := strconv.Itoa(i)
	noise := pqNoise()
	mk := func(v, node int) schema.Row {
		// Rows take consecutive slices of the pool: a slice repeats only 6.5k rows (~2 MiB of data) later,
		// far beyond zstd's reach inside one page. (The next difference's row on node a has the same v, hence node in the offset.)
		const width = 2 * 160
		off := ((2*v + node) * width) % (len(noise) - width + 1)
		return pqRow(id, strconv.Itoa(v%100000), fmt.Sprintf("%d.%02d", v%1000000, v%100), fmt.Sprintf("%d.%06d", v*7919, v%1000000),
			strconv.FormatFloat(float64(v)/7, 'g', -1, 64), "note number "+strconv.Itoa(v*31)+" with some padding text",
			fmt.Sprintf("%08x-0000-4000-8000-%012x", v, v*3), time.Unix(int64(v)*17, 0).UTC().Format("2006-01-02 15:04:05+00"),
			`{"n": `+strconv.Itoa(v)+`, "tag": "t`+strconv.Itoa(v%13)+`"}`, `\x`+noise[off:off+width])
	}
	d := schema.Diff{Table: tbl, Key: schema.Key{id}, Kind: schema.Changed, Rows: []schema.Row{mk(i, 0), mk(i+1, 1)}}
	if i%10 == 0 {
		d.Kind, d.Rows[1] = schema.Missing, nil
	}
	return d
}

// TestParquetMemoryFlat writes 300k differences (600k rows) and asserts that the heap in use never
// exceeds a fixed bound: the sink streams, it does not hold the file in memory.
func TestParquetMemoryFlat(t *testing.T) {
	const n = 300_000
	const bound = 64 << 20
	tbl := pqWideTable()
	path := filepath.Join(t.TempDir(), "big.parquet")
	s, err := sinks.NewParquet(path, tbl, pqNodes)
	if err != nil {
		t.Fatal(err)
	}
	pqNoise()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	start, peak := ms.HeapInuse, uint64(0)
	for i := 0; i < n; i++ {
		if err := s.Write(pqWideDiff(tbl, i)); err != nil {
			t.Fatal(err)
		}
		if i%1000 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err := s.Commit(sinks.Meta{Complete: true}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	t.Logf("%d rows, %d row groups, file %.1f MiB, heap in use at start %.1f MiB, peak %.1f MiB",
		rd.NumRows(), rd.NumRowGroups(), float64(st.Size())/(1<<20), float64(start)/(1<<20), float64(peak)/(1<<20))
	if rd.NumRows() != 2*n {
		t.Errorf("%d rows, want %d", rd.NumRows(), 2*n)
	}
	if rd.NumRowGroups() < 2 {
		t.Errorf("%d row groups: the sink never flushed", rd.NumRowGroups())
	}
	if st.Size() < bound*5/4 {
		t.Errorf("file of %d MiB: too small to show the sink does not keep it in memory", st.Size()>>20)
	}
	if peak > bound {
		t.Errorf("peak heap in use %.1f MiB, over the %d MiB bound", float64(peak)/(1<<20), bound>>20)
	}
}

// BenchmarkParquet1MRows writes 1M differences (2M rows) per iteration and reports the peak heap in use,
// which should not grow with the number of rows. The differences are made up front and reused, so
// allocs/op are the sink's own.
func BenchmarkParquet1MRows(b *testing.B) {
	const n = 1_000_000
	tbl := pqWideTable()
	pool := make([]schema.Diff, 4096)
	for i := range pool {
		pool[i] = pqWideDiff(tbl, i)
	}
	dir := b.TempDir()
	var ms runtime.MemStats
	peak := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		s, err := sinks.NewParquet(filepath.Join(dir, "bench.parquet"), tbl, pqNodes)
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := s.Write(pool[i%len(pool)]); err != nil {
				b.Fatal(err)
			}
			if i%10000 == 0 {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
		if err := s.Commit(sinks.Meta{Complete: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	if st, err := os.Stat(filepath.Join(dir, "bench.parquet")); err == nil {
		b.ReportMetric(float64(st.Size())/(1<<20), "file-MiB")
	}
}

// TestParquetManyBatches writes enough differences to fill many of the sink's row batches and several row
// groups (one missing every tenth, bytea decoded into the sink's scratch buffer) and reads every row back
// in order: a batch that lost, repeated or overwrote rows, or a scratch buffer reused too early, shows.
func TestParquetManyBatches(t *testing.T) {
	const n = 20_000
	tbl := pqWideTable()
	diffs := make([]schema.Diff, n)
	for i := range diffs {
		diffs[i] = pqWideDiff(tbl, i)
	}
	path := filepath.Join(t.TempDir(), "many.parquet")
	writeParquet(t, path, tbl, diffs, sinks.Meta{Complete: true})
	got := readParquet(t, path)
	if got.meta.NumRowGroups() < 2 {
		t.Errorf("%d row groups, want several", got.meta.NumRowGroups())
	}
	if len(got.rows) != 2*n {
		t.Fatalf("%d rows, want %d", len(got.rows), 2*n)
	}
	for i, d := range diffs {
		for node := range pqNodes {
			r := got.rows[2*i+node]
			if r[sinks.ParquetColKind] != d.Kind || r[sinks.ParquetColNode] != pqNodes[node] {
				t.Fatalf("row %d: kind %v node %v, want %s %s", 2*i+node, r[sinks.ParquetColKind], r[sinks.ParquetColNode], d.Kind, pqNodes[node])
			}
			for j, c := range tbl.Columns {
				var want any
				switch {
				case d.Rows[node] != nil:
					want = pqOracle(t, c, d.Rows[node][j])
				case j == 0:
					want = pqOracle(t, c, schema.Value{S: d.Key[0]})
				}
				if !pqSame(want, r[c.Name]) {
					t.Fatalf("difference %d node %s column %s: read %v, want %v", i, pqNodes[node], c.Name, r[c.Name], want)
				}
			}
		}
	}
}

// TestParquetMemoryLargeValues writes differences whose text values are 4 KiB each and checks that the
// heap left in use after a garbage collection stays flat between 25,000 and 100,000 differences, once
// the writer's buffers have grown to their size. The Parquet footer needs some metadata per row group,
// which is small; but parquet-go also keeps every page's min and max value, whole, until the footer is
// written, which for values this size made memory grow by 26 MiB per 75,000 differences.
func TestParquetMemoryLargeValues(t *testing.T) {
	tbl := &schema.Table{Schema: "public", Name: "docs", Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "bigint", Base: "int8"},
		{Name: "body", Type: "text", Base: "text"},
	}}
	noise := pqNoise()
	const size = 4 << 10
	diff := func(i int) schema.Diff {
		body := func(v int) string {
			off := (v * 2 * size) % (len(noise) - size)
			return noise[off : off+size]
		}
		id := strconv.Itoa(i)
		return schema.Diff{Table: tbl, Key: schema.Key{id}, Kind: schema.Changed,
			Rows: []schema.Row{pqRow(id, body(2*i)), pqRow(id, body(2*i+1))}}
	}
	s, err := sinks.NewParquet(filepath.Join(t.TempDir(), "docs.parquet"), tbl, pqNodes)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Abort()
	inUse := func() float64 {
		// A compressor takes several MiB. Give the encoder goroutine time to finish the batch in hand, so
		// that its compressor is back in parquet-go's pool, then collect twice: pooled objects survive one
		// collection in sync.Pool's victim cache.
		time.Sleep(100 * time.Millisecond)
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapInuse) / (1 << 20)
	}
	// The sink encodes in a goroutine of its own, so one sample may catch a batch or a compression in
	// flight: each figure is the least of five samples, 1,000 differences apart. What the sink keeps
	// only grows, so it shows in every sample.
	at25k, at100k := math.Inf(1), math.Inf(1)
	for i := range 100_000 {
		if err := s.Write(diff(i)); err != nil {
			t.Fatal(err)
		}
		switch {
		case i >= 21_000 && i <= 25_000 && i%1000 == 0:
			at25k = min(at25k, inUse())
		case i >= 95_000 && i%1000 == 999:
			at100k = min(at100k, inUse())
		}
	}
	t.Logf("heap in use: %.1f MiB after 25,000 differences, %.1f MiB after 100,000", at25k, at100k)
	if at100k-at25k > 6 {
		t.Errorf("heap in use grew by %.1f MiB over 75,000 differences (%.0f MiB of values): the sink keeps what it wrote",
			at100k-at25k, 75_000*2*size/float64(1<<20))
	}
}

// TestParquetLargeValuesCompress: text values of 1 MiB that compress well make a small file, which an
// independent reader reads back whole. parquet-go writes each page's min and max value, whole and twice,
// into the page's header, where no compression reaches: 16 differences of such values made a file
// several times the size of the values themselves.
func TestParquetLargeValuesCompress(t *testing.T) {
	tbl := &schema.Table{Schema: "public", Name: "docs", Key: []int{0}, Columns: []schema.Column{
		{Name: "id", Type: "bigint", Base: "int8"},
		{Name: "body", Type: "text", Base: "text"},
	}}
	const n, size = 16, 1 << 20
	body := func(i int) string { return strings.Repeat(fmt.Sprintf("%031d\n", i), size/32) }
	var diffs []schema.Diff
	for i := range n {
		id := strconv.Itoa(i)
		diffs = append(diffs, schema.Diff{Table: tbl, Key: schema.Key{id}, Kind: schema.Changed,
			Rows: []schema.Row{pqRow(id, body(2*i)), pqRow(id, body(2*i+1))}})
	}
	path := filepath.Join(t.TempDir(), "docs.parquet")
	writeParquet(t, path, tbl, diffs, sinks.Meta{Complete: true})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	values := int64(2 * n * size)
	t.Logf("%d MiB of values, file of %d KiB", values>>20, st.Size()>>10)
	if st.Size() > values/64 {
		t.Errorf("file of %d KiB for %d MiB of values that compress well: more than a sixty-fourth", st.Size()>>10, values>>20)
	}
	got := readParquet(t, path)
	if len(got.rows) != 2*n {
		t.Fatalf("%d rows read back, want %d", len(got.rows), 2*n)
	}
	for r, row := range got.rows {
		if want := body(r); row["body"] != want {
			t.Fatalf("row %d: body of %d bytes read back, want the %d bytes written", r, len(fmt.Sprint(row["body"])), len(want))
		}
	}
}

// TestParquetDecimalStatistics: a reader may skip a row group by its column chunk's min and max, which
// for DECIMAL are signed. parquet-go orders FIXED_LEN_BYTE_ARRAY bounds as unsigned bytes, so a wide
// DECIMAL column holding -1 and 5 had min 5 and max -1: a reader pruning on them would skip the rows
// of 0 < n < 5. Such columns carry no bounds; the narrower ones, stored as integers, keep theirs.
func TestParquetDecimalStatistics(t *testing.T) {
	tbl := pqAllTypes()
	path := filepath.Join(t.TempDir(), "stats.parquet")
	writeParquet(t, path, tbl, pqAllTypesDiffs(tbl), sinks.Meta{Complete: true})
	rd, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	signed := func(b []byte) *big.Int {
		v := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		return v
	}
	for g := 0; g < rd.NumRowGroups(); g++ {
		rg := rd.MetaData().RowGroup(g)
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			name := cc.PathInSchema().String()
			st, err := cc.Statistics()
			if err != nil {
				t.Fatal(err)
			}
			switch s := st.(type) {
			case *metadata.FixedLenByteArrayStatistics:
				if _, decimal := rd.MetaData().Schema.Column(c).LogicalType().(pqschema.DecimalLogicalType); decimal && s.HasMinMax() && signed(s.Min()).Cmp(signed(s.Max())) > 0 {
					t.Errorf("row group %d, column %s: min %v > max %v (as signed DECIMAL)", g, name, signed(s.Min()), signed(s.Max()))
				}
			case *metadata.Int64Statistics:
				if name == "id" && (!s.HasMinMax() || s.Min() != 1 || s.Max() != 5) {
					t.Errorf("row group %d, column id: bounds %v [%d, %d], want [1, 5]", g, s.HasMinMax(), s.Min(), s.Max())
				}
			}
		}
	}
}

// TestParquetBytesNotUTF8: a SQL_ASCII node's text may be any bytes, which a Parquet STRING may not hold;
// each byte that is not part of valid UTF-8 is written as U+FFFD, as in JSON Lines, and valid text as it is.
func TestParquetBytesNotUTF8(t *testing.T) {
	tbl := &schema.Table{Schema: "s", Name: "t", Key: []int{0}, Columns: []schema.Column{
		{Name: "k", Type: "text", Base: "text"},
		{Name: "v", Type: "text", Base: "text"},
		{Name: "a", Type: "text[]", Base: "_text", Category: "A", ElemBase: "text"},
	}}
	path := filepath.Join(t.TempDir(), "x.parquet")
	writeParquet(t, path, tbl, []schema.Diff{{Table: tbl, Key: schema.Key{"k\xe9"}, Kind: schema.Changed,
		Rows: []schema.Row{pqRow("k\xe9", "caf\xe9\xea", "{\xff}"), pqRow("k\xe9", "café", "{x}")}}}, sinks.Meta{Complete: true})
	got := readParquet(t, path)
	want := []map[string]string{{"k": "k\ufffd", "v": "caf\ufffd\ufffd", "a": "{\ufffd}"}, {"k": "k\ufffd", "v": "café", "a": "{x}"}}
	if len(got.rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(got.rows), len(want))
	}
	for i, w := range want {
		for col, v := range w {
			if got.rows[i][col] != v {
				t.Errorf("row %d column %s: %q, want %q", i, col, got.rows[i][col], v)
			}
		}
	}
}
