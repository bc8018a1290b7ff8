package pipeline

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/rowdiff/rowdiff/sinks"
)

// parquetKeys streams the keys of a rowdiff Parquet export: the export has a row per key and node, so
// the rows of the first node listed in its metadata give every key once. Key values are turned back
// into the PostgreSQL text forms the JSON Lines output would hold.
type parquetKeys struct {
	path      string
	f         *os.File
	r         *parquet.Reader
	table     string
	cols      []string
	columns   []string // the table's columns the file holds (sinks.ParquetMetaColumns)
	node      string
	nodeCol   int
	keyCols   []int
	conv      []func(parquet.Value) (string, error)
	buf       []parquet.Row
	n, i, row int
}

func openParquetKeys(path string) (*parquetKeys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--in: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--in: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("--in %s: %w", path, err)
	}
	k := &parquetKeys{path: path, f: f, buf: make([]parquet.Row, 256)}
	bad := func(what string) (*parquetKeys, error) {
		f.Close()
		return nil, fmt.Errorf("--in %s: not a rowdiff Parquet export (%s)", path, what)
	}
	var nodes []string
	table, ok1 := pf.Lookup(sinks.ParquetMetaTable)
	keyJSON, ok2 := pf.Lookup(sinks.ParquetMetaKey)
	nodesJSON, ok3 := pf.Lookup(sinks.ParquetMetaNodes)
	if !ok1 || !ok2 || !ok3 || json.Unmarshal([]byte(keyJSON), &k.cols) != nil || json.Unmarshal([]byte(nodesJSON), &nodes) != nil || len(nodes) == 0 {
		return bad("no rowdiff metadata")
	}
	k.table, k.node = table, nodes[0]
	var columns []struct{ Name string }
	if meta, ok := pf.Lookup(sinks.ParquetMetaColumns); !ok || json.Unmarshal([]byte(meta), &columns) != nil {
		return bad("no " + sinks.ParquetMetaColumns)
	}
	for _, c := range columns {
		k.columns = append(k.columns, c.Name)
	}
	leaf, ok := pf.Schema().Lookup(sinks.ParquetColNode)
	if !ok {
		return bad("no diff_node column")
	}
	// Only the node and key columns are read: the others hold values of any size, and reading whole rows
	// of 2 MiB values, 256 at a time, made a recheck of 300 of them peak at 1.1 GiB.
	keys := parquet.Group{sinks.ParquetColNode: leaf.Node}
	for _, c := range k.cols {
		leaf, ok := pf.Schema().Lookup(c)
		if !ok {
			return bad("no key column " + c)
		}
		keys[c] = leaf.Node
		k.conv = append(k.conv, textOf(leaf.Node.Type().LogicalType()))
	}
	projected := parquet.NewSchema("rowdiff_keys", keys)
	k.r = parquet.NewReader(pf, projected)
	leaf, _ = projected.Lookup(sinks.ParquetColNode)
	k.nodeCol = leaf.ColumnIndex
	for _, c := range k.cols {
		leaf, _ := projected.Lookup(c)
		k.keyCols = append(k.keyCols, leaf.ColumnIndex)
	}
	return k, nil
}

func (k *parquetKeys) close() { k.f.Close() }

func (k *parquetKeys) compared() ([]string, error) { return k.columns, nil }

func (k *parquetKeys) next() (keyRecord, error) {
	for {
		if k.i == k.n {
			n, err := k.r.ReadRows(k.buf)
			if n == 0 {
				if err == nil || errors.Is(err, io.EOF) {
					return keyRecord{}, io.EOF
				}
				return keyRecord{}, fmt.Errorf("read %s: %w", k.path, err)
			}
			k.n, k.i = n, 0
		}
		r := k.buf[k.i]
		k.i++
		k.row++
		if string(r[k.nodeCol].ByteArray()) != k.node {
			continue
		}
		rec := keyRecord{Table: k.table, Columns: k.cols}
		for j, c := range k.keyCols {
			v := r[c]
			if v.IsNull() {
				return rec, fmt.Errorf("%s: row %d (of every node's rows): key column %s holds null, which the export writes for a "+
					"value Parquet cannot hold (an infinite date or timestamp, or one past Parquet's range); recheck from the JSON Lines output instead", k.path, k.row, k.cols[j])
			}
			s, err := k.conv[j](v)
			if err != nil {
				return rec, fmt.Errorf("%s: row %d: key column %s: %w", k.path, k.row, k.cols[j], err)
			}
			rec.Key = append(rec.Key, s)
		}
		return rec, nil
	}
}

// textOf returns the conversion of a key value of the given Parquet logical type to PostgreSQL text.
func textOf(lt *format.LogicalType) func(parquet.Value) (string, error) {
	var t any
	if lt != nil {
		t = lt.Value
	}
	switch t := t.(type) {
	case *format.IntType:
		if t.BitWidth == 64 {
			return func(v parquet.Value) (string, error) { return strconv.FormatInt(v.Int64(), 10), nil }
		}
		return func(v parquet.Value) (string, error) { return strconv.FormatInt(int64(v.Int32()), 10), nil }
	case *format.DecimalType:
		scale := int(t.Scale)
		return func(v parquet.Value) (string, error) {
			var u big.Int
			switch v.Kind() {
			case parquet.Int32:
				u.SetInt64(int64(v.Int32()))
			case parquet.Int64:
				u.SetInt64(v.Int64())
			default:
				b := v.ByteArray()
				u.SetBytes(b)
				if len(b) > 0 && b[0]&0x80 != 0 { // two's complement
					u.Sub(&u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
				}
			}
			return decimalText(&u, scale), nil
		}
	case *format.UUIDType:
		return func(v parquet.Value) (string, error) {
			b := v.ByteArray()
			if len(b) != 16 {
				return "", errors.New("uuid is not 16 bytes")
			}
			h := hex.EncodeToString(b)
			return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
		}
	case *format.DateType:
		return func(v parquet.Value) (string, error) {
			return pgDate(time.Unix(int64(v.Int32())*86400, 0).UTC(), "2006-01-02", ""), nil
		}
	case *format.TimestampType:
		zone := ""
		if t.IsAdjustedToUTC {
			zone = "+00"
		}
		return func(v parquet.Value) (string, error) {
			ts := time.UnixMicro(v.Int64()).UTC()
			return pgDate(ts, "2006-01-02 15:04:05.999999", zone), nil
		}
	case *format.StringType, *format.EnumType, *format.JsonType:
		return func(v parquet.Value) (string, error) { return string(v.ByteArray()), nil }
	}
	return func(v parquet.Value) (string, error) {
		switch v.Kind() {
		case parquet.Boolean:
			return map[bool]string{true: "t", false: "f"}[v.Boolean()], nil
		case parquet.ByteArray: // bytea
			return `\x` + hex.EncodeToString(v.ByteArray()), nil
		case parquet.Int32:
			return strconv.FormatInt(int64(v.Int32()), 10), nil
		case parquet.Int64:
			return strconv.FormatInt(v.Int64(), 10), nil
		}
		return "", fmt.Errorf("unsupported key value kind %v", v.Kind())
	}
}

// pgDate formats t like PostgreSQL's ISO output, then zone: years before 1 AD as "YYYY-MM-DD ...+00 BC"
// (Go's year 0 is 1 BC; PostgreSQL puts the era after the zone).
func pgDate(t time.Time, layout, zone string) string {
	y := t.Year()
	if y > 0 {
		return t.Format(layout) + zone
	}
	return fmt.Sprintf("%04d", 1-y) + t.Format(layout[4:]) + zone + " BC"
}

func decimalText(u *big.Int, scale int) string {
	neg := u.Sign() < 0
	digits := new(big.Int).Abs(u).String()
	if scale > 0 {
		for len(digits) <= scale {
			digits = "0" + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}
