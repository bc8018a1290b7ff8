package stages

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// fetchBatch is how many differing keys one full-row fetch asks for: big enough to amortize a round trip,
// small enough that a batch of wide rows stays a few megabytes.
const fetchBatch = 256

// ScanBatch is how many keys one fetch asks for from a table read by key hash (schema.Table.KeyScan):
// some node has no index for them, so every fetch costs it a scan of its whole table. A recheck of 3,003
// keys of a 1M-row table scanned that node 12 times in batches of fetchBatch.
const ScanBatch = 16384

// keysPerFetch is how many keys one fetch of t's rows asks for.
func keysPerFetch(t *schema.Table) int {
	if t.KeyScan != "" {
		return ScanBatch
	}
	return fetchBatch
}

// Compare streams the rows of t's ranges from every node in key order, merges the streams, and calls emit
// once per key whose rows differ (under the equality the range hash uses) or that is absent on some node.
// Without Full the streams carry each key's row hash, and the differing keys' rows are fetched afterwards.
// With Full they carry whole rows, and for Ranges and Spans no hash: the rows' text decides
// (schema.Table.TextDecides) but for keys whose rows differ only in columns text cannot decide, which are
// fetched again with their hashes. A full compare of Buckets (every differing bucket of a range, or of the
// whole table) keeps the hash. Memory does not depend on the number of rows: each stream holds one row,
// and a compare keeps only the keys still to fetch, at most the rows of one task (maxCompareRows or
// maxFullRows, as estimated). emit is called from the calling goroutine; its error stops the compare.
func Compare(ctx context.Context, conns []*pgx.Conn, env *Env, t CompareTask, emit func(schema.Diff) error) error {
	if t.Lone != nil {
		return compareLone(ctx, conns, env, t, emit)
	}
	shape := keyHash
	switch {
	case t.Full && t.Buckets != nil:
		shape = keyHashRow // see schema.SQL.SelectBuckets
	case t.Full:
		// Most rows differ, and their text tells without the server hashing every row.
		shape = keyRow
	}
	var sql string
	var args []any
	if t.Buckets != nil {
		env.Stats.RangesCompared.Add(int64(len(t.Buckets)))
		sql, args = env.SQL.SelectBuckets(t.Parent.Range, t.Parent.Buckets, t.Buckets, t.Full)
	} else {
		rs := t.KeyRanges()
		env.Stats.RangesCompared.Add(int64(len(rs)))
		sql, args = env.SQL.Select(rs, t.Full)
	}
	where := func() string { return Task{Compare: &t}.Describe(env.SQL.T) }
	var keys []schema.Key
	var counted []int64
	if t.CountRows {
		counted = make([]int64, len(conns))
	}
	var differing int64
	emitted := func(d schema.Diff) error {
		differing++
		return emit(d)
	}
	err := merge(ctx, conns, env, sql, args, shape, where, counted, func(key schema.Key, rows []schema.Row, _ []int64, decided bool) error {
		if decided {
			return emitted(newDiff(env, key, rows))
		}
		// The key's text lives in a buffer the cursors reuse or in a row about to be dropped: keep a copy.
		k := make(schema.Key, len(key))
		for i, v := range key {
			k[i] = strings.Clone(v)
		}
		keys = append(keys, k)
		return nil
	})
	if err == nil {
		err = compareKeys(ctx, conns, env, keys, nil, emitted)
	}
	if t.CountRows {
		for i, n := range counted {
			env.Stats.Rows[i].Add(n)
		}
		env.Stats.FullRows.Add(slices.Max(counted))
		env.Stats.FullDiffering.Add(differing)
	}
	return err
}

// CompareKeys reads the full rows of keys from every node, in batches, and calls emit for each key whose
// rows still differ: all of a recheck (compareKeys is the second half of a leaf compare).
//
// Each node's rows read count in env.Stats.Rows: a recheck's summary said 0 rows on every node, as if the
// nodes were empty (found by an exploratory helper).
func CompareKeys(ctx context.Context, conns []*pgx.Conn, env *Env, keys []schema.Key, emit func(schema.Diff) error) error {
	counted := make([]int64, len(conns))
	err := compareKeys(ctx, conns, env, keys, counted, emit)
	for i, n := range counted {
		env.Stats.Rows[i].Add(n)
	}
	return err
}

// compareKeys is CompareKeys, adding each node's rows to counted unless nil: a compare's rows were
// counted as its range was hashed.
func compareKeys(ctx context.Context, conns []*pgx.Conn, env *Env, keys []schema.Key, counted []int64, emit func(schema.Diff) error) error {
	return fetch(ctx, conns, env, keys, counted, func(key schema.Key, rows []schema.Row, _ []int64) error {
		return emit(newDiff(env, key, rows))
	})
}

// fetch reads the row hash and full row of keys (in key order) from every node, keysPerFetch keys a query,
// and calls differ as merge does for each key absent somewhere or whose rows differ. It adds each node's
// rows to counted, unless nil.
func fetch(ctx context.Context, conns []*pgx.Conn, env *Env, keys []schema.Key, counted []int64,
	differ func(key schema.Key, rows []schema.Row, hashes []int64) error) error {
	for len(keys) > 0 {
		n := min(len(keys), keysPerFetch(env.SQL.T))
		sql, args := env.SQL.Fetch(keys[:n])
		err := merge(ctx, conns, env, sql, args, keyHashRow, func() string { return "fetch rows of " + env.SQL.T.String() }, counted, func(key schema.Key, rows []schema.Row, hashes []int64, _ bool) error {
			return differ(key, rows, hashes)
		})
		if err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// compareLone fetches the lone rows of t by key and emits each one that checks out: held by exactly the
// nodes its bucket said, with the row hash its bucket said, so that the rest of the bucket hashes alike
// on every node. The buckets whose row does not check out are compared whole.
func compareLone(ctx context.Context, conns []*pgx.Conn, env *Env, t CompareTask, emit func(schema.Diff) error) error {
	keys := make([]schema.Key, len(t.Lone))
	for i, l := range t.Lone {
		keys[i] = schema.Key{strconv.FormatInt(l.Key, 10)}
	}
	checked := make([]bool, len(t.Lone))
	// The fetched keys are some of keys, in the same (key) order, and an integer's text is one string.
	j := 0
	err := fetch(ctx, conns, env, keys, nil, func(key schema.Key, rows []schema.Row, hashes []int64) error {
		for j < len(keys) && keys[j][0] != key[0] {
			j++
		}
		if j == len(keys) {
			return nil
		}
		l := t.Lone[j]
		for i, r := range rows {
			if has := l.Has&(1<<i) != 0; (r != nil) != has || (has && hashes[i] != l.Hash) {
				return nil
			}
		}
		checked[j] = true
		env.Stats.RangesCompared.Add(1) // a bucket that does not check out is counted by its compare
		return emit(newDiff(env, key, rows))
	})
	if err != nil {
		return err
	}
	var spans []Span
	for i, l := range t.Lone {
		if !checked[i] {
			spans = append(spans, Span{l.Bucket, l.Bucket})
		}
	}
	for len(spans) > 0 {
		n := min(len(spans), maxCompareRanges)
		if err := Compare(ctx, conns, env, CompareTask{Parent: t.Parent, Spans: spans[:n]}, emit); err != nil {
			return err
		}
		spans = spans[n:]
	}
	return nil
}

func newDiff(env *Env, key schema.Key, rows []schema.Row) schema.Diff {
	kind := schema.Changed
	for _, r := range rows {
		if r == nil {
			kind = schema.Missing
		}
	}
	return schema.Diff{Table: env.SQL.T, Key: key, Kind: kind, Rows: rows}
}

// rowShape is what a compare query returns for each key.
type rowShape uint8

const (
	keyHash    rowShape = iota // the key and the row hash
	keyHashRow                 // the key, the row hash and every column
	keyRow                     // the key and every column
)

// merge runs sql on every node and walks the key-ordered streams together, calling differ for every key
// that is absent somewhere or whose rows differ: rows[i] is node i's row (nil if absent; only filled
// when the shape has columns), hashes[i] its row hash if the shape has one (the slice is reused by the
// next call). decided is false for a keyHash stream's keys (their rows are still to be read) and for a
// keyRow stream's keys whose rows differ only in columns whose text does not decide (their hashes are
// still to be compared). counted, if not nil, gets each node's number of rows added. what names the
// work in its errors, and is called only for one.
func merge(ctx context.Context, conns []*pgx.Conn, env *Env, sql string, args []any, shape rowShape, what func() string,
	counted []int64, differ func(key schema.Key, rows []schema.Row, hashes []int64, decided bool) error) error {
	t := env.SQL.T
	curs := make([]*cursor, len(conns))
	defer func() {
		for _, c := range curs {
			if c != nil {
				c.rows.Close()
			}
		}
	}()
	qargs := append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)
	all, cancel, failed, err := queryAll(ctx, conns, sql, qargs)
	defer cancel()
	if err != nil {
		return fmt.Errorf("node %s: %s: %w", env.Nodes[failed], what(), err)
	}
	for i, rows := range all {
		// A keyRow stream's rows mostly differ and are kept: slab memory suits them better than copies.
		curs[i] = &cursor{rows: rows, t: t, shape: shape, node: env.Nodes[i], reuse: shape != keyRow}
	}
	if counted == nil {
		counted = make([]int64, len(curs))
	}
	var decides []bool // for keyRow: whether each column's text decides its equality, looked up once
	if shape == keyRow {
		decides = make([]bool, len(t.Columns))
		for j := range decides {
			decides[j] = t.TextDecides(j)
		}
	}
	for _, c := range curs {
		if err := c.next(); err != nil {
			return fmt.Errorf("%s: %w", what(), err)
		}
	}
	at := make([]bool, len(curs))
	hashes := make([]int64, len(curs))
	for {
		var low schema.Key
		for _, c := range curs {
			if !c.done && (low == nil || t.CompareKeys(c.key, low) < 0) {
				low = c.key
			}
		}
		if low == nil {
			return nil
		}
		// decided: some node lacks the key, or some node's row differs from the first's in its hash or in a
		// column whose text decides. Rows whose texts differ only elsewhere are neither same nor decided.
		same, decided := true, false
		var first *cursor
		for i, c := range curs {
			at[i] = !c.done && t.CompareKeys(c.key, low) == 0
			switch {
			case !at[i]:
				same, decided = false, true
			case first == nil:
				first = c
			case shape == keyRow:
				if !decided {
					eq, differs := sameText(decides, first.row, c.row)
					same, decided = same && eq, differs
				}
			case c.hash != first.hash:
				same, decided = false, true
			}
		}
		if shape == keyHash {
			decided = false // the rows are still to be read
		}
		if !same {
			rows := make([]schema.Row, len(curs))
			key := low
			for i, c := range curs {
				hashes[i] = 0
				if at[i] {
					rows[i] = c.row
					if c.reuse && c.row != nil { // a keyHash stream has no row; its key is copied by whoever keeps it
						rows[i] = kept(c.row)
						if c == first {
							key = make(schema.Key, len(t.Key))
							for k, j := range t.Key {
								key[k] = rows[i][j].S
							}
						}
					}
					if rows[i] == nil {
						rows[i] = schema.Row{}
					}
					hashes[i] = c.hash
				}
			}
			if err := differ(key, rows, hashes, decided); err != nil {
				return err
			}
		}
		for i, c := range curs {
			if at[i] {
				counted[i]++
				if err := c.next(); err != nil {
					return fmt.Errorf("%s: %w", what(), err)
				}
			}
		}
		env.Stats.RowsCompared.Add(1)
	}
}

// kept copies a row out of the buffers its cursor reuses, all its text in one allocation.
func kept(row schema.Row) schema.Row {
	n := 0
	for _, v := range row {
		n += len(v.S)
	}
	buf := make([]byte, 0, n)
	for _, v := range row {
		buf = append(buf, v.S...)
	}
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	out := make(schema.Row, len(row))
	at := 0
	for i, v := range row {
		out[i] = schema.Value{S: all[at : at+len(v.S)], Null: v.Null}
		at += len(v.S)
	}
	return out
}

// sameText compares two rows by their text: eq when every column's text is the same, differs when the
// texts of a column whose text decides its equality (decides[j]) differ.
func sameText(decides []bool, a, b schema.Row) (eq, differs bool) {
	eq = true
	for j := range a {
		if a[j] != b[j] {
			if decides[j] {
				return false, true
			}
			eq = false
		}
	}
	return eq, false
}

// cursor is one node's position in a key-ordered stream. Values are copied out of pgx's buffer because
// the other streams advance while this row is held. A stream with reuse alternates two buffers (the
// previous key must survive for the order check), so it allocates nothing per row; whoever keeps a key or
// row beyond the next one must copy it (merge copies the rows it hands on, see kept). Other streams cut
// their rows from slab.
type cursor struct {
	rows  pgx.Rows
	t     *schema.Table
	shape rowShape
	node  string
	// reuse makes the stream reuse two buffers for its rows: whoever keeps a row or key past the next
	// one copies it (merge's streams; FetchRows's rows are kept, and cut from slab).
	reuse bool
	done  bool
	key   schema.Key
	hash  int64
	row   schema.Row
	bufs  [2][]byte
	keys  [2]schema.Key
	vals  [2]schema.Row
	flip  int
	slab  slab
}

// slab hands out the memory of rows that are kept (full rows, without reuse) from chunks: a few
// allocations per hundred rows instead of three per row, which in a diff where every row differs was most
// of the reading side's allocation. Chunks start small and double, so the many short fetches of a diff
// with few differences do not each take a whole chunk. A chunk stays alive while any row cut from it
// does; rows are used and dropped in stream order, so that is about one chunk per stream more than the
// rows themselves. A chunk of values or strings also keeps alive the text of every row cut from it, so a
// wide row (wide) takes none of the slab's memory: through their chunk of values, the 300 rows of 2 MiB
// of a diff where all differ kept each other alive, and it peaked at 700-780 MiB instead of 70.
type slab struct {
	b          []byte
	s          []string
	v          []schema.Value
	nb, ns, nv int // the size of the next chunk of each (0: the first)
}

// Chunk sizes: the first and the largest. A row longer than an eighth of the largest text chunk gets
// memory of its own, so one wide value does not pin a chunk of small ones, nor a chunk a value much
// larger than itself.
const (
	slabFirstBytes, slabBytes = 1 << 10, 32 << 10
	slabFirstItems            = 32
	slabStrings, slabValues   = 256, 512
)

// cut returns the next n elements of *chunk (zeroed, capacity n), starting a chunk of *next elements (at
// least first and n) when it lacks room; the chunk after that is twice as big, up to most.
func cut[T any](chunk *[]T, next *int, first, most, n int) []T {
	if cap(*chunk)-len(*chunk) < n {
		size := max(*next, first, n)
		*chunk, *next = make([]T, 0, size), min(2*size, most)
	}
	l := len(*chunk)
	*chunk = (*chunk)[:l+n]
	return (*chunk)[l : l+n : l+n]
}

// wide reports whether a row of n bytes of text gets memory of its own instead of the slab's.
func wide(n int) bool { return n > slabBytes/8 }

// bytes returns room for n bytes (length 0, capacity n); n must not be wide.
func (s *slab) bytes(n int) []byte { return cut(&s.b, &s.nb, slabFirstBytes, slabBytes, n)[:0] }

// strings returns n zeroed strings.
func (s *slab) strings(n int) []string { return cut(&s.s, &s.ns, slabFirstItems, slabStrings, n) }

// values returns n zeroed values.
func (s *slab) values(n int) []schema.Value { return cut(&s.v, &s.nv, slabFirstItems, slabValues, n) }

func (c *cursor) next() error {
	if !c.rows.Next() {
		c.done = true
		if err := c.rows.Err(); err != nil {
			return fmt.Errorf("node %s: %w", c.node, err)
		}
		return nil
	}
	raw := c.rows.RawValues()
	nk := len(c.t.Key)
	// One allocation holds every text value of the row; keys and values are substrings of it.
	n := 0
	for _, v := range raw {
		n += len(v)
	}
	reuse, own := c.reuse, !c.reuse && wide(n)
	var buf []byte
	var key schema.Key
	switch {
	case reuse:
		c.flip ^= 1
		buf, key = c.bufs[c.flip][:0], c.keys[c.flip]
		if key == nil {
			key = make(schema.Key, nk)
			c.keys[c.flip] = key
		}
	case own:
		buf, key = make([]byte, 0, n), make(schema.Key, nk)
	default:
		buf, key = c.slab.bytes(n), c.slab.strings(nk)
	}
	for _, v := range raw {
		buf = append(buf, v...)
	}
	if reuse {
		c.bufs[c.flip] = buf
	}
	// Without reuse buf is never written again; with reuse, not before the row after next.
	all := unsafe.String(unsafe.SliceData(buf), len(buf))
	at := 0
	text := func(v []byte) string {
		s := all[at : at+len(v)]
		at += len(v)
		return s
	}
	// A keyHash stream is the key columns then the hash; the others are the hash (keyHashRow) then
	// every column, the key's among them.
	cols := 0
	if c.shape == keyHash {
		for i, v := range raw[:nk] {
			key[i] = text(v)
		}
		cols = nk
	}
	if c.shape != keyRow {
		h, err := strconv.ParseInt(text(raw[cols]), 10, 64)
		if err != nil {
			return fmt.Errorf("node %s: row hash: %w", c.node, err)
		}
		c.hash = h
		cols++
	}
	if c.shape != keyHash {
		var row schema.Row
		switch {
		case reuse:
			row = c.vals[c.flip]
			if row == nil {
				row = make(schema.Row, len(c.t.Columns))
				c.vals[c.flip] = row
			}
			clear(row)
		case own:
			row = make(schema.Row, len(c.t.Columns))
		default:
			row = c.slab.values(len(c.t.Columns))
		}
		for i, v := range raw[cols:] {
			if v == nil {
				row[i].Null = true
			} else {
				row[i].S = text(v)
			}
		}
		for i, j := range c.t.Key {
			key[i] = row[j].S
		}
		c.row = row
	}
	if c.key != nil && c.t.CompareKeys(c.key, key) >= 0 {
		if c.t.KeyUnchecked {
			// Said where it is the likely cause: no --key was given where a primary key came from
			// another node, or covered one table of an inheritance hierarchy read whole.
			return fmt.Errorf("node %s: key (%v) is not unique or arrives out of order after (%v): no unique index holds the key "+
				"columns unique on every node (a --key must name unique columns)", c.node, key, c.key)
		}
		return fmt.Errorf("node %s: key (%v) is not unique or arrives out of order after (%v); --key must name unique columns", c.node, key, c.key)
	}
	c.key = key
	return nil
}

// FetchRows reads the current full rows of keys from one node (conn, named node), in batches and key
// order, and calls found for each key that exists there.
func FetchRows(ctx context.Context, conn *pgx.Conn, env *Env, node string, keys []schema.Key, found func(schema.Key, schema.Row) error) error {
	for len(keys) > 0 {
		n := min(len(keys), keysPerFetch(env.SQL.T))
		sql, args := env.SQL.Fetch(keys[:n])
		rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
		if err != nil {
			return fmt.Errorf("node %s: fetch rows of %s: %w", node, env.SQL.T, err)
		}
		c := &cursor{rows: rows, t: env.SQL.T, shape: keyHashRow, node: node}
		for {
			if err := c.next(); err != nil {
				rows.Close()
				return fmt.Errorf("fetch rows of %s: %w", env.SQL.T, err)
			}
			if c.done {
				break
			}
			if err := found(c.key, c.row); err != nil {
				rows.Close()
				return err
			}
		}
		keys = keys[n:]
	}
	return nil
}
