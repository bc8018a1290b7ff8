package sinks

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"reflect"
	"slices"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/rowdiff/rowdiff/schema"
)

// The sink's own columns, always first and always required.
const (
	ParquetColTable   = "diff_table"
	ParquetColKind    = "diff_kind"
	ParquetColNode    = "diff_node"
	ParquetColPresent = "diff_present"
)

// Footer key/value metadata keys, written on Commit.
const (
	ParquetMetaVersion  = "rowdiff.version"
	ParquetMetaTable    = "rowdiff.table"
	ParquetMetaNodes    = "rowdiff.nodes"    // JSON array of node names, in --node order
	ParquetMetaKey      = "rowdiff.key"      // JSON array of key column names, in key order
	ParquetMetaColumns  = "rowdiff.columns"  // JSON array of {"name","type"}: the PostgreSQL type of each table column
	ParquetMetaStarted  = "rowdiff.started"  // RFC 3339, UTC
	ParquetMetaFinished = "rowdiff.finished" // RFC 3339, UTC
	ParquetMetaComplete = "rowdiff.complete" // "true" or "false"
)

// Memory limits. parquet-go keeps the compressed pages of the current row group in memory until the group
// is flushed, plus one uncompressed page buffer per column, so the sink flushes a row group whenever the
// writer's estimate of what it holds passes parquetRowGroupBytes, and sizes page buffers so that all of
// them together stay well below that.
const (
	parquetRowGroupBytes  = 2 << 20
	parquetMaxPageBuffer  = 128 << 10 // at most this, so zstd compresses each page as one small block
	parquetMinPageBuffer  = 8 << 10
	parquetWriteBuffer    = 256 << 10
	parquetScratchKeepCap = 1 << 20 // a scratch buffer grown past this by one huge value is dropped after use
	// parquetBatchValues bounds the values of one batch: the column writers' cost per call is paid once
	// per batch and column instead of once per difference.
	parquetBatchValues = 16 << 10
	// parquetBatchBytes bounds the text a batch keeps alive, for large values: two batches are in
	// flight at once, one being filled and one being encoded.
	parquetBatchBytes = 1 << 20
)

// Parquet writes differences in long format: one row per differing key and node.
//
// Columns, in this order:
//
//	diff_table   STRING, required: schema.table
//	diff_kind    STRING, required: "changed" or "missing"
//	diff_node    STRING, required: the node's name
//	diff_present BOOLEAN, required: whether the key exists on that node
//	<column>...  every table column under its own name, optional, in table order
//
// On a row whose diff_present is false every table column is null except the key columns, which hold the
// differing key so that rows of one key can be grouped; on present rows the key columns hold the node's own
// value (equal to the key, possibly not in the same text form, e.g. numeric 2.5 and 2.50).
//
// Table columns are typed from their PostgreSQL type (Column.Base):
//
//	int2, int4, int8          INT32 INT(16), INT32 INT(32), INT64 INT(64)
//	float4, float8            FLOAT, DOUBLE (NaN and ±Infinity kept)
//	numeric(p,s), p ≤ 38      DECIMAL(p,s) on INT32 (p ≤ 9), INT64 (p ≤ 18) or the smallest
//	                          FIXED_LEN_BYTE_ARRAY holding p digits; parsed exactly from the text form
//	other numeric             STRING (unconstrained, p > 38, negative scale or scale > p)
//	bool                      BOOLEAN
//	uuid                      FIXED_LEN_BYTE_ARRAY(16) UUID
//	date                      INT32 DATE (days since 1970-01-01, proleptic Gregorian; BC dates included)
//	timestamp                 INT64 TIMESTAMP(MICROS, isAdjustedToUTC=false)
//	timestamptz               INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)
//	bytea                     BYTE_ARRAY (the decoded bytes)
//	json, jsonb               BYTE_ARRAY JSON (the text as PostgreSQL prints it)
//	text, varchar, bpchar,    BYTE_ARRAY STRING with the PostgreSQL text form (session pinned to
//	enums, arrays, all else   TimeZone=UTC, DateStyle=ISO, IntervalStyle=postgres, extra_float_digits=3)
//
// Values a Parquet type cannot hold are written as null, so they are indistinguishable from SQL NULL in
// this format (the JSON Lines format keeps them): date, timestamp and timestamptz 'infinity' and
// '-infinity', timestamps in the last ~30 years of PostgreSQL's range (294247 AD on, beyond int64
// microseconds since 1970), and 'NaN' in a DECIMAL column. A value that does not parse as its column's
// type is an error from Write.
//
// The file is zstd-compressed and streamed: row groups are flushed at about 2 MiB, so memory stays flat
// whatever the number of differences, but for the footer parquet-go builds as it goes (row-group metadata
// and page index entries, about a byte per output row in the bench's 10M-row run). Columns of
// variable-length values (BYTE_ARRAY) carry no min/max statistics, in pages or column chunks: the writer
// would keep every page's bounds, whole values, until the footer. Footer key/value metadata
// (rowdiff.version, rowdiff.table, rowdiff.nodes, rowdiff.key, rowdiff.columns, rowdiff.started,
// rowdiff.finished, rowdiff.complete) is written on Commit. It is not safe for concurrent use. It runs a
// goroutine of its own, which Commit or Abort stops: one of them must be called.
type Parquet struct {
	t     *schema.Table
	nodes []string
	file  *atomicFile

	cols   []pqColumn // per table column
	keyPos []int      // per table column: its position in schema.Diff.Key, or -1
	// The values of the sink's own columns, the same in every row they appear in.
	table   parquet.Value
	kinds   map[string]parquet.Value
	names   []parquet.Value
	present [2]parquet.Value
	cur     *pqBatch // the batch Write fills
	limit   int      // rows in a full batch
	done    bool

	// The encoder goroutine hands full batches to parquet-go (encoding and compression) while Write
	// converts the next one: the two take about the same time, and a diff where every row differs
	// waits on both. It alone uses w and base until it has stopped (encoded is closed).
	full    chan *pqBatch // unbuffered: a batch changes hands only when the encoder is ready for it
	free    chan *pqBatch // capacity 2, room for both batches: the encoder never blocks giving one back
	errc    chan error    // capacity 1: the encoder reports its first error without blocking
	encoded chan struct{}
	err     error // the encoder's error, once Write has seen it
	w       *parquet.GenericWriter[any]
	base    int64 // writer size right after the last row-group flush
}

// pqBatch is a batch of rows on their way to the column writers. The values are kept per Parquet column:
// each column writer takes its values as they are, with no rows to take apart.
type pqBatch struct {
	cols  [][]parquet.Value
	buf   []byte // the bytes values decode to (bytea, uuid, wide decimals)
	rows  int
	bytes int // text bytes of the values, which the batch keeps alive until it is encoded
}

// pqKind is how one table column is converted from text.
type pqKind uint8

const (
	pqString pqKind = iota
	pqJSON
	pqBytea
	pqInt16
	pqInt32
	pqInt64
	pqFloat
	pqDouble
	pqBool
	pqDecimal32
	pqDecimal64
	pqDecimalFixed
	pqUUID
	pqDate
	pqTimestamp
	pqTimestampTZ
)

type pqColumn struct {
	kind  pqKind
	scale int // DECIMAL scale
	size  int // FIXED_LEN_BYTE_ARRAY length of a DECIMAL
	node  parquet.Node
}

var parquetOwnColumns = []string{ParquetColTable, ParquetColKind, ParquetColNode, ParquetColPresent}

// parquetColumnsFit fails when a column of t has the name of one of the sink's own columns.
func parquetColumnsFit(t *schema.Table) error {
	if err := NamesApart(t); err != nil {
		return err
	}
	for i, c := range t.Columns {
		if !slices.Contains(parquetOwnColumns, c.Name) {
			continue
		}
		// A key column cannot be left out (--exclude-columns refuses it, as a helper met after following
		// the advice).
		way := "leave it out with --exclude-columns " + schema.QuoteIdent(c.Name) + " or use --format jsonl"
		if t.IsKey(i) {
			way = "it is a key column, which every output holds: use --format jsonl"
		}
		return fmt.Errorf("column %q of %s has the name of a column the Parquet output adds itself; %s", c.Name, t, way)
	}
	return nil
}

// NewParquet writes to path (a temporary file beside it until Commit) for table t and the given node names.
// It fails when a table column has the name of one of the sink's own columns (diff_table, diff_kind,
// diff_node, diff_present).
func NewParquet(path string, t *schema.Table, nodes []string) (*Parquet, error) {
	if path == "-" {
		return nil, errors.New("parquet output cannot go to stdout; give --out a file path")
	}
	if err := parquetColumnsFit(t); err != nil {
		return nil, err
	}
	s := &Parquet{
		t:      t,
		nodes:  nodes,
		cols:   make([]pqColumn, len(t.Columns)),
		keyPos: make([]int, len(t.Columns)),
		table:  parquet.ByteArrayValue([]byte(validUTF8(t.String()))).Level(0, 0, 0),
		kinds: map[string]parquet.Value{
			schema.Changed: kindValue(schema.Changed),
			schema.Missing: kindValue(schema.Missing),
		},
		present: [2]parquet.Value{parquet.BooleanValue(false).Level(0, 0, 3), parquet.BooleanValue(true).Level(0, 0, 3)},
	}
	for i := range s.keyPos {
		s.keyPos[i] = -1
	}
	for i, k := range t.Key {
		s.keyPos[k] = i
	}
	for _, n := range nodes {
		s.names = append(s.names, parquet.ByteArrayValue([]byte(n)).Level(0, 0, 2))
	}
	dict := func(n parquet.Node) parquet.Node { return parquet.Encoded(n, &parquet.RLEDictionary) }
	fields := []pqField{
		{ParquetColTable, dict(parquet.String())},
		{ParquetColKind, dict(parquet.String())},
		{ParquetColNode, dict(parquet.String())},
		{ParquetColPresent, parquet.Leaf(parquet.BooleanType)},
	}
	for i, c := range t.Columns {
		s.cols[i] = parquetColumnFor(c)
		fields = append(fields, pqField{validUTF8(c.Name), parquet.Optional(s.cols[i].node)})
	}
	width := len(fields)
	s.limit = max(len(nodes), parquetBatchValues/width)
	newBatch := func() *pqBatch {
		b := &pqBatch{cols: make([][]parquet.Value, width)}
		for i := range b.cols {
			b.cols[i] = make([]parquet.Value, 0, s.limit+len(nodes))
		}
		return b
	}
	s.cur = newBatch()
	page := parquetRowGroupBytes / 4 / width
	page = max(parquetMinPageBuffer, min(parquetMaxPageBuffer, page))

	opts := []parquet.WriterOption{
		parquet.NewSchema("rowdiff", newPQGroup(fields)),
		// The fastest zstd level: at the default one compression took a third of a 100%-different
		// diff's time, for files about 10% smaller.
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.PageBufferSize(page),
		parquet.WriteBufferSize(parquetWriteBuffer),
	}
	// The writer keeps every page's min and max value until the footer is written, whole (its size limit
	// truncates a view of them): for variable-length values that is memory growing with the file, by up
	// to two whole values per page. And every page's header carries its min and max value, whole and
	// twice (the current and the deprecated fields): a page of two 2 MiB values that compressed to 908
	// bytes had an 8 MiB header. Those columns get neither; fixed-size ones keep both, so engines can
	// still skip row groups and pages by key, number or time.
	// A wide DECIMAL is a FIXED_LEN_BYTE_ARRAY, whose bounds parquet-go orders as unsigned bytes: -1 came
	// out above 5, where readers compare DECIMAL bounds as signed numbers and could skip rows they need.
	for i, c := range s.cols {
		if c.node.Type().Kind() == parquet.ByteArray || c.kind == pqDecimalFixed {
			name := validUTF8(t.Columns[i].Name)
			opts = append(opts, parquet.SkipPageBounds(name), parquet.SkipPageStatistics(name))
		}
	}
	// The sink's own columns hold a handful of values each, interleaved in every page (both nodes' rows of
	// a key, changed and missing keys), so their bounds would skip nothing; working them out took about
	// 5 % of the CPU of a diff where every row differs.
	for _, name := range []string{ParquetColTable, ParquetColKind, ParquetColNode, ParquetColPresent} {
		opts = append(opts, parquet.SkipPageBounds(name), parquet.SkipPageStatistics(name))
	}
	f, err := createAtomic(path)
	if err != nil {
		return nil, err
	}
	s.file = f
	s.w = parquet.NewGenericWriter[any](f, opts...)
	s.full, s.free, s.errc, s.encoded = make(chan *pqBatch), make(chan *pqBatch, 2), make(chan error, 1), make(chan struct{})
	s.free <- newBatch()
	go s.encode()
	return s, nil
}

// parquetColumnFor picks the Parquet type of one table column.
func parquetColumnFor(c schema.Column) pqColumn {
	switch c.Base {
	case "int2":
		return pqColumn{kind: pqInt16, node: parquet.Int(16)}
	case "int4":
		return pqColumn{kind: pqInt32, node: parquet.Int(32)}
	case "int8":
		return pqColumn{kind: pqInt64, node: parquet.Int(64)}
	case "float4":
		return pqColumn{kind: pqFloat, node: parquet.Leaf(parquet.FloatType)}
	case "float8":
		return pqColumn{kind: pqDouble, node: parquet.Leaf(parquet.DoubleType)}
	case "bool":
		return pqColumn{kind: pqBool, node: parquet.Leaf(parquet.BooleanType)}
	case "uuid":
		return pqColumn{kind: pqUUID, node: parquet.UUID()}
	case "date":
		return pqColumn{kind: pqDate, node: parquet.Date()}
	case "timestamp":
		return pqColumn{kind: pqTimestamp, node: parquet.TimestampAdjusted(parquet.Microsecond, false)}
	case "timestamptz":
		return pqColumn{kind: pqTimestampTZ, node: parquet.TimestampAdjusted(parquet.Microsecond, true)}
	case "bytea":
		return pqColumn{kind: pqBytea, node: parquet.Leaf(parquet.ByteArrayType)}
	case "json", "jsonb":
		return pqColumn{kind: pqJSON, node: parquet.JSON()}
	case "numeric":
		p, sc := c.Precision, c.Scale
		// PostgreSQL 15 allows a negative scale and a scale above the precision; DECIMAL allows neither.
		if p < 1 || p > 38 || sc < 0 || sc > p {
			break
		}
		switch {
		case p <= 9:
			return pqColumn{kind: pqDecimal32, scale: sc, node: parquet.Decimal(sc, p, parquet.Int32Type)}
		case p <= 18:
			return pqColumn{kind: pqDecimal64, scale: sc, node: parquet.Decimal(sc, p, parquet.Int64Type)}
		default:
			n := decimalBytes(p)
			return pqColumn{kind: pqDecimalFixed, scale: sc, size: n, node: parquet.Decimal(sc, p, parquet.FixedLenByteArrayType(n))}
		}
	}
	return pqColumn{kind: pqString, node: parquet.String()}
}

// decimalBytes is the smallest two's-complement width n holding every p-digit number: 10^p ≤ 2^(8n-1).
func decimalBytes(p int) int {
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
	for n := 1; ; n++ {
		if limit.Cmp(new(big.Int).Lsh(big.NewInt(1), uint(8*n-1))) <= 0 {
			return n
		}
	}
}

// Write appends one row per node. The rows are written in batches: the strings of d must not change
// after Write returns (Go strings never do; rowdiff's row readers hand out fresh ones).
func (s *Parquet) Write(d schema.Diff) error {
	if s.done {
		return errors.New("parquet output: write after commit or abort")
	}
	if d.Table != s.t && d.Table != nil && d.Table.String() != s.t.String() {
		return fmt.Errorf("parquet output holds the columns of %s, not %s", s.t, d.Table)
	}
	if len(d.Rows) != len(s.nodes) {
		return fmt.Errorf("parquet output: a difference with %d rows for %d nodes", len(d.Rows), len(s.nodes))
	}
	kind, ok := s.kinds[d.Kind]
	if !ok {
		kind = kindValue(d.Kind)
	}
	b := s.cur
	for n := range s.nodes {
		present := d.Rows[n] != nil
		for j := range s.cols {
			var v schema.Value
			switch {
			case present:
				v = d.Rows[n][j]
			case s.keyPos[j] >= 0:
				v = schema.Value{S: d.Key[s.keyPos[j]]}
			default:
				v = schema.Value{Null: true}
			}
			b.bytes += len(v.S)
			pv, err := s.value(j, v)
			if err != nil {
				b.truncate(b.rows) // none of the difference's rows
				return err
			}
			def := 1 // definition level: 1 present, 0 null
			if pv.IsNull() {
				def = 0
			}
			b.cols[4+j] = append(b.cols[4+j], pv.Level(0, def, 4+j))
		}
		b.cols[0] = append(b.cols[0], s.table)
		b.cols[1] = append(b.cols[1], kind)
		b.cols[2] = append(b.cols[2], s.names[n])
		b.cols[3] = append(b.cols[3], s.present[btoi(present)])
	}
	b.rows += len(s.nodes)
	if b.rows+len(s.nodes) > s.limit || b.bytes > parquetBatchBytes {
		return s.handOver()
	}
	return nil
}

func kindValue(kind string) parquet.Value { return parquet.ByteArrayValue([]byte(kind)).Level(0, 0, 1) }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// truncate drops the values of rows past the first n from every column.
func (b *pqBatch) truncate(n int) {
	for i := range b.cols {
		b.cols[i] = b.cols[i][:min(n, len(b.cols[i]))]
	}
}

// handOver gives the batch to the encoder and takes the other one, empty, to fill. It waits while the
// encoder is still busy with the previous batch.
func (s *Parquet) handOver() error {
	if err := s.encoderErr(); err != nil {
		return err
	}
	s.full <- s.cur
	s.cur = <-s.free
	return s.encoderErr()
}

// encoderErr returns the encoder's error, once it has reported one.
func (s *Parquet) encoderErr() error {
	if s.err == nil {
		select {
		case s.err = <-s.errc:
		default:
		}
	}
	return s.err
}

// stopEncoder hands over the last rows, if any and if flush is set, and waits until the encoder has
// written them and returned; it reports the encoder's error.
func (s *Parquet) stopEncoder(flush bool) error {
	if flush && s.cur.rows > 0 {
		s.full <- s.cur
	}
	s.cur = nil
	close(s.full)
	<-s.encoded
	return s.encoderErr()
}

// encode is the encoder goroutine: it writes each batch it is given, empties it, and gives it back.
// After an error it writes nothing more but keeps taking batches, so that Write never blocks for good.
func (s *Parquet) encode() {
	defer close(s.encoded)
	failed := false
	for b := range s.full {
		if !failed {
			if err := s.writeBatch(b); err != nil {
				s.errc <- fmt.Errorf("write output %s: %w", s.file.path, err)
				failed = true
			}
		}
		for i := range b.cols {
			clear(b.cols[i]) // the values point into strings and buffers that can go now
		}
		b.truncate(0)
		b.buf, b.rows, b.bytes = b.buf[:0], 0, 0
		if cap(b.buf) > parquetScratchKeepCap {
			b.buf = nil
		}
		s.free <- b
	}
}

// parquetRowsPerWrite is how many rows go to a column writer at once: it can only start a new page
// between calls, so this bounds how far a page outgrows its buffer with large values.
const parquetRowsPerWrite = 64

// writeBatch hands b's values to the column writers and flushes a row group when one is full.
func (s *Parquet) writeBatch(b *pqBatch) error {
	cws := s.w.ColumnWriters()
	for i, vals := range b.cols {
		for len(vals) > 0 {
			n := min(len(vals), parquetRowsPerWrite)
			if _, err := cws[i].WriteRowValues(vals[:n]); err != nil {
				return err
			}
			vals = vals[n:]
		}
	}
	// Flushing bounds memory: the writer holds the whole current row group.
	if s.w.Size()-s.base >= parquetRowGroupBytes {
		if err := s.w.Flush(); err != nil {
			return err
		}
		s.base = s.w.Size()
	}
	return nil
}

// value converts column j's text form; bytes it decodes go to the batch's buf, which stays untouched
// until the batch is encoded.
func (s *Parquet) value(j int, v schema.Value) (parquet.Value, error) {
	if v.Null {
		return nullValue, nil
	}
	c := &s.cols[j]
	str := v.S
	switch c.kind {
	case pqString, pqJSON:
		return parquet.ByteArrayValue(stringBytes(validUTF8(str))), nil
	case pqBytea:
		if len(str) < 2 || str[0] != '\\' || str[1] != 'x' || len(str)%2 != 0 {
			return s.bad(j, str, "not hex bytea output")
		}
		start := len(s.cur.buf)
		for i := 2; i < len(str); i += 2 {
			hi, ok1 := unhex(str[i])
			lo, ok2 := unhex(str[i+1])
			if !ok1 || !ok2 {
				s.cur.buf = s.cur.buf[:start]
				return s.bad(j, str, "bad hex digit")
			}
			s.cur.buf = append(s.cur.buf, hi<<4|lo)
		}
		return parquet.ByteArrayValue(s.cur.buf[start:len(s.cur.buf):len(s.cur.buf)]), nil
	case pqInt16, pqInt32, pqInt64:
		bitSize := 64
		switch c.kind {
		case pqInt16:
			bitSize = 16
		case pqInt32:
			bitSize = 32
		}
		n, err := strconv.ParseInt(str, 10, bitSize)
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		if c.kind == pqInt64 {
			return parquet.Int64Value(n), nil
		}
		return parquet.Int32Value(int32(n)), nil
	case pqFloat:
		f, err := strconv.ParseFloat(str, 32)
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		return parquet.FloatValue(float32(f)), nil
	case pqDouble:
		f, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		return parquet.DoubleValue(f), nil
	case pqBool:
		switch str {
		case "t", "true":
			return parquet.BooleanValue(true), nil
		case "f", "false":
			return parquet.BooleanValue(false), nil
		}
		return s.bad(j, str, "not a boolean")
	case pqDecimal32, pqDecimal64, pqDecimalFixed:
		if str == "NaN" || str == "Infinity" || str == "-Infinity" {
			return nullValue, nil
		}
		hi, lo, err := parseDecimal(str, c.scale, s.t.Columns[j].Precision)
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		switch c.kind {
		case pqDecimal32:
			return parquet.Int32Value(int32(int64(lo))), nil
		case pqDecimal64:
			return parquet.Int64Value(int64(lo)), nil
		}
		start := len(s.cur.buf)
		for i := c.size - 1; i >= 0; i-- {
			// Big-endian two's complement: byte i counted from the least significant end.
			var b byte
			switch {
			case i < 8:
				b = byte(lo >> (8 * i))
			case i < 16:
				b = byte(hi >> (8 * (i - 8)))
			}
			s.cur.buf = append(s.cur.buf, b)
		}
		return parquet.FixedLenByteArrayValue(s.cur.buf[start:len(s.cur.buf):len(s.cur.buf)]), nil
	case pqUUID:
		start := len(s.cur.buf)
		for i := 0; i < len(str); {
			if str[i] == '-' {
				i++
				continue
			}
			hi, ok1 := unhex(str[i])
			var lo byte
			ok2 := i+1 < len(str)
			if ok2 {
				lo, ok2 = unhex(str[i+1])
			}
			if !ok1 || !ok2 || len(s.cur.buf)-start == 16 {
				s.cur.buf = s.cur.buf[:start]
				return s.bad(j, str, "not a uuid")
			}
			s.cur.buf = append(s.cur.buf, hi<<4|lo)
			i += 2
		}
		if len(s.cur.buf)-start != 16 {
			s.cur.buf = s.cur.buf[:start]
			return s.bad(j, str, "not a uuid")
		}
		return parquet.FixedLenByteArrayValue(s.cur.buf[start:len(s.cur.buf):len(s.cur.buf)]), nil
	case pqDate:
		if str == "infinity" || str == "-infinity" {
			return nullValue, nil
		}
		days, rest, err := parseDate(str)
		if err == nil && rest != "" {
			err = errors.New("trailing text")
		}
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		if days < math.MinInt32 || days > math.MaxInt32 {
			return nullValue, nil
		}
		return parquet.Int32Value(int32(days)), nil
	case pqTimestamp, pqTimestampTZ:
		if str == "infinity" || str == "-infinity" {
			return nullValue, nil
		}
		us, ok, err := parseTimestamp(str, c.kind == pqTimestampTZ)
		if err != nil {
			return s.bad(j, str, err.Error())
		}
		if !ok {
			return nullValue, nil
		}
		return parquet.Int64Value(us), nil
	}
	return parquet.ByteArrayValue(stringBytes(validUTF8(str))), nil
}

// nullValue stands for SQL NULL and for values a Parquet type cannot hold.
var nullValue = parquet.NullValue()

func (s *Parquet) bad(j int, str, why string) (parquet.Value, error) {
	c := s.t.Columns[j]
	if len(str) > 64 {
		str = str[:64] + "..."
	}
	return parquet.Value{}, fmt.Errorf("parquet output: column %q (%s): cannot convert %q: %s", c.Name, c.Type, str, why)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseDecimal parses numeric text ("-123.40") into the unscaled integer value·10^scale as a 128-bit two's
// complement (hi, lo), exactly. The text may have at most scale fraction digits and the result at most
// digits digits in all.
func parseDecimal(s string, scale, digits int) (hi, lo uint64, err error) {
	neg := false
	switch {
	case s == "":
		return 0, 0, errors.New("empty")
	case s[0] == '-':
		neg, s = true, s[1:]
	case s[0] == '+':
		s = s[1:]
	}
	n, frac, dot, seen := 0, 0, false, false
	add := func(d byte) {
		var carry uint64
		h, l := bits.Mul64(lo, 10)
		hi = hi*10 + h
		lo, carry = bits.Add64(l, uint64(d), 0)
		hi += carry
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if dot {
				frac++
				if frac > scale {
					return 0, 0, fmt.Errorf("more than %d fraction digits", scale)
				}
			}
			if n > 0 || c != '0' {
				n++
			}
			add(c - '0')
		case c == '.' && !dot:
			dot = true
		default:
			return 0, 0, fmt.Errorf("unexpected %q", c)
		}
	}
	if !seen {
		return 0, 0, errors.New("no digits")
	}
	for ; frac < scale; frac++ {
		if n > 0 {
			n++
		}
		add(0)
	}
	if n > digits {
		return 0, 0, fmt.Errorf("more than %d digits", digits)
	}
	if neg {
		var borrow uint64
		lo, borrow = bits.Sub64(0, lo, 0)
		hi, _ = bits.Sub64(0, hi, borrow)
	}
	return hi, lo, nil
}

// parseDate parses the ISO date at the start of s ("2024-01-02", "10000-01-01") into days since
// 1970-01-01 and returns the text after the date. A " BC" at the very end of s, where PostgreSQL puts it
// for dates and timestamps alike ("0044-03-15 12:00:00+00 BC"), applies to the date and is removed from
// the rest.
func parseDate(s string) (days int64, rest string, err error) {
	year, i := atoiPrefix(s)
	if i == 0 || i > 9 || i >= len(s) || s[i] != '-' {
		return 0, "", errors.New("bad year")
	}
	s = s[i+1:]
	month, i := atoiPrefix(s)
	if i != 2 || len(s) < 3 || s[2] != '-' || month < 1 || month > 12 {
		return 0, "", errors.New("bad month")
	}
	s = s[3:]
	day, i := atoiPrefix(s)
	if i != 2 || day < 1 || day > 31 {
		return 0, "", errors.New("bad day")
	}
	s = s[2:]
	if len(s) >= 3 && s[len(s)-3:] == " BC" {
		// 1 BC is astronomical year 0.
		year = 1 - year
		s = s[:len(s)-3]
	}
	return daysFromCivil(year, month, day), s, nil
}

// daysFromCivil counts days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	doy := (153*((m+9)%12)+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

func atoiPrefix(s string) (n int64, digits int) {
	for digits < len(s) && digits < 18 && s[digits] >= '0' && s[digits] <= '9' {
		n = n*10 + int64(s[digits]-'0')
		digits++
	}
	return n, digits
}

// parseTimestamp parses "2024-01-02 03:04:05.123456" (timestamp) or "2024-01-02 03:04:05.123456+00"
// (timestamptz; offsets ±HH, ±HH:MM and ±HH:MM:SS), either possibly followed by " BC", into microseconds
// since 1970-01-01 00:00 UTC. ok is false when the instant does not fit an int64.
func parseTimestamp(s string, tz bool) (us int64, ok bool, err error) {
	days, rest, err := parseDate(s)
	if err != nil {
		return 0, false, err
	}
	if len(rest) < 9 || rest[0] != ' ' || rest[3] != ':' || rest[6] != ':' {
		return 0, false, errors.New("bad time")
	}
	h, n1 := atoiPrefix(rest[1:3])
	m, n2 := atoiPrefix(rest[4:6])
	sec, n3 := atoiPrefix(rest[7:9])
	if n1 != 2 || n2 != 2 || n3 != 2 {
		return 0, false, errors.New("bad time")
	}
	rest = rest[9:]
	var frac int64
	if len(rest) > 0 && rest[0] == '.' {
		f, n := atoiPrefix(rest[1:])
		if n == 0 || n > 6 {
			return 0, false, errors.New("bad fraction")
		}
		for i := n; i < 6; i++ {
			f *= 10
		}
		frac = f
		rest = rest[1+n:]
	}
	secs := h*3600 + m*60 + sec
	if tz {
		if len(rest) < 3 || (rest[0] != '+' && rest[0] != '-') {
			return 0, false, errors.New("bad time zone offset")
		}
		sign := int64(1)
		if rest[0] == '-' {
			sign = -1
		}
		rest = rest[1:]
		var off int64
		for k, unit := range []int64{3600, 60, 1} {
			if k > 0 {
				if rest == "" {
					break
				}
				if rest[0] != ':' {
					return 0, false, errors.New("bad time zone offset")
				}
				rest = rest[1:]
			}
			v, n := atoiPrefix(rest)
			if n != 2 {
				return 0, false, errors.New("bad time zone offset")
			}
			off += v * unit
			rest = rest[2:]
		}
		secs -= sign * off
	}
	if rest != "" {
		return 0, false, errors.New("trailing text")
	}
	// days·86400e6 + secs·1e6 + frac, failing on int64 overflow (only near PostgreSQL's upper limit).
	hiDays, loDays := bits.Mul64(uint64(abs64(days)), 86400*1e6)
	if hiDays != 0 || loDays > math.MaxInt64 {
		return 0, false, nil
	}
	d := int64(loDays)
	if days < 0 {
		d = -d
	}
	t := secs*1e6 + frac
	if (t > 0 && d > math.MaxInt64-t) || (t < 0 && d < math.MinInt64-t) {
		return 0, false, nil
	}
	return d + t, true, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// Commit writes the footer with the run's metadata and moves the file into place.
func (s *Parquet) Commit(m Meta) error {
	if err := s.finish(m); err != nil {
		return err
	}
	return s.file.place()
}

// finish is Commit but for the move: the file stays under its temporary name, for Abort to remove.
func (s *Parquet) finish(m Meta) error {
	if s.done {
		return errors.New("parquet output: commit after commit or abort")
	}
	s.done = true
	if err := s.stopEncoder(true); err != nil {
		s.file.abort()
		return err
	}
	table := m.Table
	if table == "" {
		table = s.t.String()
	}
	nodes := m.Nodes
	if nodes == nil {
		nodes = s.nodes
	}
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	cols := make([]col, len(s.t.Columns))
	for i, c := range s.t.Columns {
		cols[i] = col{c.Name, c.Type}
	}
	keys := make([]string, len(s.t.Key))
	for i, k := range s.t.Key {
		keys[i] = s.t.Columns[k].Name
	}
	s.w.SetKeyValueMetadata(ParquetMetaVersion, Version)
	s.w.SetKeyValueMetadata(ParquetMetaTable, validUTF8(table))
	s.w.SetKeyValueMetadata(ParquetMetaNodes, jsonString(nodes))
	s.w.SetKeyValueMetadata(ParquetMetaKey, jsonString(keys))
	s.w.SetKeyValueMetadata(ParquetMetaColumns, jsonString(cols))
	s.w.SetKeyValueMetadata(ParquetMetaStarted, m.Started.UTC().Format(time.RFC3339Nano))
	s.w.SetKeyValueMetadata(ParquetMetaFinished, m.Finished.UTC().Format(time.RFC3339Nano))
	s.w.SetKeyValueMetadata(ParquetMetaComplete, strconv.FormatBool(m.Complete))
	if err := s.w.Close(); err != nil {
		s.file.abort()
		return fmt.Errorf("write output %s: %w", s.file.path, err)
	}
	return s.file.finish()
}

func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only strings and structs of strings are marshalled
	}
	return string(b)
}

// Abort removes the temporary file; the target path is left as it was.
func (s *Parquet) Abort() error {
	if !s.done {
		s.done = true
		s.stopEncoder(false) // its error does not matter: the file goes
	}
	s.file.abort() // after finish too: the file has not moved
	return nil
}

// pqGroup is a group node that keeps its fields in the given order (parquet.Group sorts them by name).
type pqGroup struct{ fields []parquet.Field }

type pqField struct {
	name string
	node parquet.Node
}

func newPQGroup(fields []pqField) *pqGroup {
	g := &pqGroup{fields: make([]parquet.Field, len(fields))}
	for i, f := range fields {
		g.fields[i] = &pqGroupField{f.node, f.name}
	}
	return g
}

func (g *pqGroup) ID() int                     { return 0 }
func (g *pqGroup) String() string              { return "rowdiff" }
func (g *pqGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *pqGroup) Optional() bool              { return false }
func (g *pqGroup) Repeated() bool              { return false }
func (g *pqGroup) Required() bool              { return true }
func (g *pqGroup) Leaf() bool                  { return false }
func (g *pqGroup) Encoding() encoding.Encoding { return nil }
func (g *pqGroup) Compression() compress.Codec { return nil }
func (g *pqGroup) Fields() []parquet.Field     { return g.fields }

// GoType is only used by parquet-go's reflection-based writes, which this sink never makes.
func (g *pqGroup) GoType() reflect.Type { return reflect.TypeFor[map[string]any]() }

type pqGroupField struct {
	parquet.Node
	name string
}

func (f *pqGroupField) Name() string { return f.name }

// Value is only used by parquet-go's reflection-based writes, which this sink never makes.
func (f *pqGroupField) Value(base reflect.Value) reflect.Value {
	if base.Kind() == reflect.Map {
		return base.MapIndex(reflect.ValueOf(f.name))
	}
	return reflect.Value{}
}

// Interrupt makes a write that waits for the reader of a named pipe fail at once, and every later one;
// it may be called while another goroutine writes. See interrupt.
func (p *Parquet) Interrupt() {
	if p.file != nil {
		interrupt(p.file.File)
	}
}
