// Package stages holds the steps a range goes through: the range producer cuts the key space, hashers hash
// ranges bucket by bucket on every node, the splitter turns differing buckets into finer work, and the row
// compare streams the rows of differing leaves and reports each differing key.
//
// Stages do not start goroutines of their own beyond a call's fan-out to its nodes, and never keep a
// connection: the pipeline hands each call one connection per node and owns their lifecycle.
package stages

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc"

	"github.com/rowdiff/rowdiff/schema"
)

// Env is what every stage needs to know about the run. It is read-only once the run starts.
type Env struct {
	SQL   *schema.SQL
	Nodes []string
	// LeafRows is the bucket size the hashers aim for; a differing bucket of at most 4*LeafRows rows is
	// compared row by row instead of being split again.
	LeafRows int64
	// Fanout is the most buckets one hash query reports.
	Fanout int
	Stats  *Stats
}

// Stats are the run's counters, updated by the stages and read by the summary.
type Stats struct {
	RangesHashed   atomic.Int64
	RangesSplit    atomic.Int64
	RangesCompared atomic.Int64
	RowsCompared   atomic.Int64
	// Rows counts each node's rows as the top-level ranges are hashed (or compared, see CountRows).
	Rows []atomic.Int64
	// FullRows and FullDiffering count the keys, and the differing ones, of the compares with CountRows.
	FullRows, FullDiffering atomic.Int64
}

// leafSized reports whether a bucket of rows rows is small enough to compare row by row (a leaf).
func (e *Env) leafSized(rows int64) bool { return rows <= 4*e.LeafRows }

// NewStats returns zeroed counters for n nodes.
func NewStats(n int) *Stats { return &Stats{Rows: make([]atomic.Int64, n)} }

// Task is one unit of work in the queue: exactly one of Hash and Compare is set.
type Task struct {
	Hash    *HashTask
	Compare *CompareTask
}

// HashTask asks for range Range to be hashed on every node, bucket by bucket.
type HashTask struct {
	Range   schema.Range
	Buckets schema.Buckets
	// Depth is 0 for the producer's ranges and grows by one with each split.
	Depth int
	// Probe, when set, receives once, after the range is hashed, the share of its rows that lie in
	// differing buckets of at most 4*LeafRows rows (counting the largest node count of each bucket). It
	// must have room for that value.
	Probe chan<- float64
}

// CompareTask asks for rows to be compared one by one: those of Ranges (ascending, disjoint); or, with
// Parent set, those of the bucket Spans of Parent's range, or those of Parent's range that fall in the
// listed Buckets (of a key hash). With Full the rows travel whole at once, because most of them differ
// anyway.
type CompareTask struct {
	Ranges []schema.Range
	Parent *HashTask
	// Spans stand for key ranges of an arithmetic cut (Parent.Buckets.Width > 0): 16 bytes each instead
	// of two keys, so that the compares queued by a few hashed ranges stay small.
	Spans   []Span
	Buckets []int64
	Full    bool
	// CountRows adds each node's rows to Stats.Rows, for the producer's own compares, which stand in
	// for a top-level hash.
	CountRows bool
	// Lone are buckets of Parent that seem to differ by one row each: their rows are fetched by key
	// and checked, and a bucket whose row does not check out is compared whole.
	Lone []LoneRow
}

// LoneRow is the row a bucket seems to differ by (BucketDiff.Lone): its key, its row hash, and the nodes
// that should hold it (bit i for node i; the others should lack it).
type LoneRow struct {
	Bucket, Key, Hash int64
	Has               uint64
}

// Span is the buckets From to To (inclusive) of a hashed range.
type Span struct{ From, To int64 }

// KeyRanges returns the key ranges t compares: Ranges, or those of Spans.
func (t *CompareTask) KeyRanges() []schema.Range {
	if t.Spans == nil {
		return t.Ranges
	}
	return spanRanges(t.Parent, t.Spans)
}

// spanRanges returns the key ranges of the bucket spans of p.
func spanRanges(p *HashTask, spans []Span) []schema.Range {
	rs := make([]schema.Range, len(spans))
	for i, sp := range spans {
		rs[i] = schema.Range{Lo: schema.BucketRange(p.Range, p.Buckets, sp.From).Lo, Hi: schema.BucketRange(p.Range, p.Buckets, sp.To).Hi}
	}
	return rs
}

// Describe says what t does to table, in the words of the errors of the stage that runs it.
func (t Task) Describe(table *schema.Table) string {
	switch c := t.Compare; {
	case t.Hash != nil:
		return fmt.Sprintf("hash range %s of %s", describe(t.Hash.Range), table)
	case c.Lone != nil:
		return fmt.Sprintf("fetch %d lone row(s) of range %s of %s", len(c.Lone), describe(c.Parent.Range), table)
	case c.Buckets != nil:
		return fmt.Sprintf("compare %d bucket(s) of range %s of %s", len(c.Buckets), describe(c.Parent.Range), table)
	default:
		rs := c.KeyRanges()
		return fmt.Sprintf("compare %d range(s) from %s of %s", len(rs), describe(rs[0]), table)
	}
}

// describe renders a range for error messages.
func describe(r schema.Range) string {
	b := func(k schema.Key, open string) string {
		if k == nil {
			return open
		}
		return "(" + strings.Join(k, ", ") + ")"
	}
	return fmt.Sprintf("[%s, %s)", b(r.Lo, "-inf"), b(r.Hi, "+inf"))
}

// queryAll starts sql on every node at once and returns each node's rows. pgx's Query waits for the
// server's first reply, which a query that aggregates or sorts sends only once it has read its input, so
// each node's query is issued, and its first row read, from its own goroutine: the nodes then work in
// parallel, and a node that fails cancels the others at once instead of after their whole query. The
// rows must be read with ctx live; the returned cancel ends them. On error every query is closed.
func queryAll(ctx context.Context, conns []*pgx.Conn, sql string, args []any) ([]pgx.Rows, context.CancelFunc, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	rows := make([]pgx.Rows, len(conns))
	errs := make([]error, len(conns))
	var first atomic.Int64 // the node that failed first: the others fail because of the cancel
	first.Store(-1)
	var wg conc.WaitGroup
	for i, conn := range conns {
		wg.Go(func() {
			r, err := conn.Query(ctx, sql, args...)
			if err == nil {
				p := &peeked{Rows: r, pending: true}
				if p.has = r.Next(); !p.has {
					err = r.Err()
				}
				rows[i] = p
			}
			if err != nil {
				errs[i] = err
				first.CompareAndSwap(-1, int64(i))
				cancel()
			}
		})
	}
	wg.Wait()
	if i := first.Load(); i >= 0 {
		return nil, cancel, int(i), closeAll(rows, errs[i])
	}
	return rows, cancel, 0, nil
}

func closeAll(rows []pgx.Rows, err error) error {
	for _, r := range rows {
		if r != nil {
			r.Close()
		}
	}
	return err
}

// peeked is rows whose first row was read ahead by queryAll.
type peeked struct {
	pgx.Rows
	pending, has bool
}

func (p *peeked) Next() bool {
	if p.pending {
		p.pending = false
		return p.has
	}
	return p.Rows.Next()
}
