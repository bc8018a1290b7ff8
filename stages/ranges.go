package stages

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// Produce cuts the whole key space into the initial tasks, hash tasks of about blockRows rows cut into
// Fanout buckets, and sends them to out in key order. It returns when every task is sent (the caller
// closes out) or ctx ends. coords are the nodes' coordinator connections; Produce holds one's lock only
// while a statement of its runs there. estRows is the planner's row estimate (<= 0 when unknown).
//
// A single integer key is cut arithmetically between the smallest and largest key of all nodes, which
// costs two index probes per node. Its first task is a probe, a thirty-second of the first range: when
// most of the probe's rows lie in differing leaf-sized buckets, the table is taken to differ throughout,
// and the rest goes to full row compares (in chunks of maxFullRows) instead of being hashed first, which
// would only find every bucket different. Once the compares finished since the previous chunk was sent
// found most rows equal, hashing resumes; the chunks already decided (one per busy worker, and the one
// waiting in the producer) are still compared whole. Any other key (and an integer key without
// statistics) is cut into ranges of rangeBuckets*LeafRows rows at keys of the first node, read from its
// index as the ranges are needed, and each range is hashed in rangeBuckets buckets of a hash of the key;
// the first and last ranges are open, so a key that exists only on another node still falls in some
// range. There the whole first range is the probe. A random key, and a key no index serves on some node,
// is read by key hash throughout (schema.Table.ByKeyHash): one hash task of the whole table, after a
// sample of its first range for a random key that an index serves (produceKeyHash).
func Produce(ctx context.Context, coords *Coordinators, env *Env, estRows float64, out chan<- Task) error {
	t := env.SQL.T
	if t.ByKeyHash() {
		return produceKeyHash(ctx, coords, env, estRows, out)
	}
	if t.IntegerKey() {
		done, err := produceIntegers(ctx, coords, env, estRows, out)
		if done || err != nil {
			return err
		}
	}
	return produceSampled(ctx, coords, env, out)
}

// Coordinators are the nodes' coordinator connections, in their snapshots (Conns[i] is node i's), each
// with a lock that whoever runs a statement there holds: a keepalive pings only those it can lock.
type Coordinators struct {
	Conns []*pgx.Conn
	Held  []sync.Mutex
}

// NewCoordinators makes Coordinators of conns.
func NewCoordinators(conns []*pgx.Conn) *Coordinators {
	return &Coordinators{Conns: conns, Held: make([]sync.Mutex, len(conns))}
}

// Buckets of the one hash of a table read by key hash. Past about 2^14 groups the server's hash
// aggregate costs more per row, as its table outgrows a core's cache (my reading; not measured): one
// backend hashing 10M rows of a uuid key took 3.6-4.6 s in 2^14 buckets (5 runs), 4.2-4.7 s in 2^15 (3)
// and 6.5-6.8 s in 2^18 (2; README, Range producer). So a
// table takes at most fewKeyHashBuckets, unless its sample says many rows differ; maxKeyHashBuckets
// bounds any key-hash query's buckets, which its aggregate holds within work_mem.
const (
	fewKeyHashBuckets = 1 << 14
	maxKeyHashBuckets = 1 << 18
	// sampleShare: a table is sampled when it holds at least sampleShare samples' rows.
	sampleShare = 16
)

// produceKeyHash hashes a table read by key hash (schema.Table.ByKeyHash) in one query per node, in
// buckets of about LeafRows rows, at most fewKeyHashBuckets of them: its differing buckets are read back
// in one more scan, or hashed finer first when many differ (Splitter.refined). With many differences
// (see keyHashLimit), a finer cut at once costs less than the coarse hash and the finer one after it,
// so a random key that an index serves in rowdiff's order is sampled first: its first range of
// rangeBuckets*LeafRows keys is hashed on its own, through the index, as sampled ranges are, and the
// share of its rows in differing buckets tells how many differences the rest should hold. The rest of
// the table is then hashed as above, in up to maxKeyHashBuckets buckets if they are many.
func produceKeyHash(ctx context.Context, coords *Coordinators, env *Env, estRows float64, out chan<- Task) error {
	var rest schema.Range
	limit := int64(fewKeyHashBuckets)
	n := rangeBuckets(env)
	if step := n * env.LeafRows; env.SQL.T.KeyScan == "" && env.SQL.Where == "" && estRows >= sampleShare*float64(step) {
		hi, err := nextBound(ctx, coords, env, nil, step)
		if err != nil {
			return fmt.Errorf("node %s: range bounds of %s: %w", env.Nodes[0], env.SQL.T, err)
		}
		if hi != nil {
			share, err := probe(ctx, out, HashTask{Range: schema.Range{Hi: hi}, Buckets: schema.Buckets{Hashed: n}})
			if err != nil {
				return err
			}
			limit = keyHashLimit(env, estRows, share)
			rest = schema.Range{Lo: hi}
		}
	}
	b := int64(1)
	for b < limit && (estRows < 1 || float64(b*env.LeafRows) < estRows) {
		b <<= 1
	}
	return sendHash(ctx, out, HashTask{Range: rest, Buckets: schema.Buckets{Hashed: b}})
}

// keyHashLimit is the most buckets the hash of a table of estRows rows may take, when the share of its
// sample's rows that lie in differing buckets of about LeafRows rows is share. Each such bucket holds
// about one difference while they are few, so the table should hold share*estRows/LeafRows. Past a third
// of fewKeyHashBuckets differences, about 30 % of the coarse cut's buckets differ, and hashing their rows
// again costs more than the finer cut saves: 10M uuid keys with 4,449 differences took 9.2-9.8 s by the
// coarse cut and 10.2-13.4 s by the fine one, with 30,180 differences 13.5-14.9 s and 10.5-15.2 s.
func keyHashLimit(env *Env, estRows, share float64) int64 {
	if share*estRows/float64(env.LeafRows)*3 > fewKeyHashBuckets {
		return maxKeyHashBuckets
	}
	return fewKeyHashBuckets
}

// maxIntegerRanges bounds the ranges an arithmetic cut may make; past it, statistics are too far off.
const maxIntegerRanges = 100000

// Probing: the probe is 1/probeShare of the first range (integer keys), and holds at least
// probeMinBuckets buckets, so that a few differing rows at the start of a table do not pass for a table
// that differs throughout. denseShare of the probe's rows in differing buckets makes the table dense:
// with 32-row buckets that is about one row in twenty differing, where the splitter would send most of
// the table to full compares anyway.
const (
	probeShare      = 32
	probeMinBuckets = 64
	denseShare      = 0.75
)

func send(ctx context.Context, out chan<- Task, t Task) error {
	select {
	case out <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func sendHash(ctx context.Context, out chan<- Task, t HashTask) error {
	return send(ctx, out, Task{Hash: &t})
}

// denseGauge follows the producer's own full compares (CompareTask.CountRows) after a dense probe.
type denseGauge struct{ seen, differing int64 }

// still reports whether the compares finished since the previous call found most of their rows
// different (true when none finished: no news keeps the verdict).
func (g *denseGauge) still(s *Stats) bool {
	rows, diffs := s.FullRows.Load(), s.FullDiffering.Load()
	dense := rows == g.seen || float64(diffs-g.differing) >= denseShare/2*float64(rows-g.seen)
	g.seen, g.differing = rows, diffs
	return dense
}

// probe hashes t on its own and returns the share of its rows that lie in differing leaf-sized buckets.
func probe(ctx context.Context, out chan<- Task, t HashTask) (float64, error) {
	verdict := make(chan float64, 1) // Hash sends once and must not block
	t.Probe = verdict
	if err := sendHash(ctx, out, t); err != nil {
		return 0, err
	}
	select {
	case share := <-verdict:
		return share, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// produceIntegers returns done=false when the key span is too wide for int8 arithmetic.
func produceIntegers(ctx context.Context, coords *Coordinators, env *Env, estRows float64, out chan<- Task) (bool, error) {
	var lo, hi *int64
	for i, conn := range coords.Conns {
		var a, b *string
		coords.Held[i].Lock()
		err := conn.QueryRow(ctx, env.SQL.MinMax()).Scan(&a, &b)
		coords.Held[i].Unlock()
		if err != nil {
			return false, fmt.Errorf("node %s: key bounds of %s: %w", env.Nodes[i], env.SQL.T, err)
		}
		if a == nil {
			continue
		}
		x, _ := strconv.ParseInt(*a, 10, 64)
		y, _ := strconv.ParseInt(*b, 10, 64)
		if lo == nil || x < *lo {
			lo = &x
		}
		if hi == nil || y > *hi {
			hi = &y
		}
	}
	if lo == nil {
		return true, nil // empty everywhere
	}
	span := new(big.Int).Sub(big.NewInt(*hi), big.NewInt(*lo))
	span.Add(span, big.NewInt(1))
	// Arithmetic cutting needs the row count to size buckets; without statistics (never analyzed) or
	// when the span is too wide for int8 arithmetic, the sampled cut is exact whatever the key spread.
	if estRows < 1 || !span.IsInt64() || span.Int64() > math.MaxInt64/4 {
		return false, nil
	}
	width := int64(math.Ceil(float64(span.Int64()) * float64(env.LeafRows) / estRows))
	width = max(1, min(width, span.Int64()))
	step := width * int64(env.Fanout)
	if width > span.Int64()/int64(env.Fanout) {
		step = span.Int64() // one range holds every key (and width*Fanout might overflow)
	}
	if span.Int64()/step > maxIntegerRanges {
		return false, nil // stale statistics: far more (mostly empty) ranges than rows justify
	}
	if crowded(env.SQL.T.KeyQuantiles, span.Int64(), env.Fanout) {
		return false, nil
	}
	buckets := schema.Buckets{Width: width, Origin: *lo}
	// The outer ranges are open: no key lies outside [lo, hi] in these snapshots, and a query without a
	// range condition lets the planner scan the table sequentially when one range covers all of it.
	bound := func(k int64) schema.Key {
		if k == *lo {
			return nil
		}
		return schema.Key{strconv.FormatInt(k, 10)}
	}
	start := *lo
	// A --where filter is not probed: the planner's estimate that sizes the compares counts the whole
	// table, so filtered chunks would be small and many.
	if probeStep := step / probeShare; env.SQL.Where == "" && probeStep/width >= probeMinBuckets &&
		estRows >= probeShare*probeMinBuckets*float64(env.LeafRows) && probeStep < *hi-start {
		probeStep -= probeStep % width // whole buckets, so the probe's buckets are the range's
		share, err := probe(ctx, out, HashTask{Range: schema.Range{Hi: bound(start + probeStep)}, Buckets: buckets})
		if err != nil {
			return true, err
		}
		dense := share >= denseShare
		start += probeStep
		if !dense {
			// The rest of the first range, then ranges as usual.
			r, last := intRange(start, step-probeStep, *hi, bound)
			if err := sendHash(ctx, out, HashTask{Range: r, Buckets: buckets}); err != nil || last {
				return true, err
			}
			start += step - probeStep
		} else {
			// Full compares of about maxFullRows rows each (a bucket holds about LeafRows rows), while
			// the compares finished since the previous chunk was sent found most rows different.
			chunk := width * max(1, maxFullRows/env.LeafRows)
			var gauge denseGauge
			for gauge.still(env.Stats) {
				r, last := intRange(start, chunk, *hi, bound)
				if err := send(ctx, out, Task{Compare: &CompareTask{Ranges: []schema.Range{r}, Full: true, CountRows: true}}); err != nil || last {
					return true, err
				}
				start += chunk
			}
		}
	}
	for {
		r, last := intRange(start, step, *hi, bound)
		if err := sendHash(ctx, out, HashTask{Range: r, Buckets: buckets}); err != nil || last {
			return true, err
		}
		start += step
	}
}

// crowded reports whether the keys crowd into part of their span so much that an arithmetic cut, which
// assumes they spread evenly, would put more rows in a bucket than two finer cuts of fanout buckets each can
// part: where the quantiles q (pg_stats.histogram_bounds, each part about as many rows) lie fanout² times
// closer than evenly spread keys would. A differing bucket holding a crowd is hashed again level by level,
// and the arithmetic cut pays a level per factor of fanout, where sampled ranges pay a read of the key's
// index to find their bounds: 1M keys 1..1M beside two at ±2^59, 3 of them changed, took 7 hashes of the
// crowd and 1.62-1.66 s, against 16 sampled ranges and 0.92-1.16 s (1M keys without the outliers: 0.73-0.78
// s by the arithmetic cut, 1.03-1.22 s sampled; 3 alternating runs each). At fanout times closer, keys 2,000
// apart beside keys 2,000,000 apart (TestLargeTables' big) stay cut arithmetically, their crowded buckets
// split once.
func crowded(q []int64, span int64, fanout int) bool {
	parts := len(q) - 1
	if parts < 2 {
		return false
	}
	even, limit := float64(span)/float64(parts), float64(fanout)*float64(fanout)
	for i := range parts {
		if w := max(1, float64(q[i+1])-float64(q[i])); even/w > limit {
			return true
		}
	}
	return false
}

// intRange is [from, from+n), or [from, +inf) when that passes hi (last).
func intRange(from, n, hi int64, bound func(int64) schema.Key) (r schema.Range, last bool) {
	r.Lo = bound(from)
	if n > hi-from { // hi-from cannot overflow: from <= hi+1 and the span fits in int64
		return r, true
	}
	r.Hi = bound(from + n)
	return r, false
}

// produceSampled cuts the key space at every rangeBuckets*LeafRows-th key of the first node. Buckets of a
// key hash need no bounds of their own: with bounds sampled per bucket, a composite key's bucket took a
// CASE search of 255 row comparisons' worth of parameters per row, a single column's a linear
// width_bucket over 255 of them, and both hashed ranges of only 256 buckets. On 1M rows in key order,
// 0.2 % differing, a (int, bigint) key took 2.36-2.49 s and a (text COLLATE "C", date, int) key 3.64-3.70 s
// that way, against 0.95-0.98 and 1.15-1.17 s now; a text COLLATE "C" key 1.74-1.83 s against 1.08-1.16 s
// (README, Hashers).
func produceSampled(ctx context.Context, coords *Coordinators, env *Env, out chan<- Task) error {
	n := rangeBuckets(env)
	p := sampledRanges{ctx: ctx, out: out, env: env, probing: env.SQL.Where == "", buckets: schema.Buckets{Hashed: n}}
	var lo schema.Key
	for {
		hi, err := nextBound(ctx, coords, env, lo, n*env.LeafRows)
		if err != nil {
			return fmt.Errorf("node %s: range bounds of %s: %w", env.Nodes[0], env.SQL.T, err)
		}
		if err := p.next(schema.Range{Lo: lo, Hi: hi}); err != nil || hi == nil {
			return err
		}
		lo = hi
	}
}

// rangeBuckets is how many key-hash buckets a sampled range is cut into: the largest power of two of at
// most Fanout buckets of LeafRows rows, and at most maxFullRows rows in all, the most a dense range's
// full compare reads.
func rangeBuckets(env *Env) int64 {
	n := int64(1)
	for n*2 <= int64(env.Fanout) && n*2*env.LeafRows <= maxFullRows {
		n *= 2
	}
	return n
}

// nextBound reads, on the first node, the end of the range of step rows from lo (nil: none, the range is
// the last). One statement per bound keeps every statement short: one that streamed the bounds through
// the whole run was ended by --statement-timeout on a big enough table.
func nextBound(ctx context.Context, coords *Coordinators, env *Env, lo schema.Key, step int64) (schema.Key, error) {
	coords.Held[0].Lock()
	defer coords.Held[0].Unlock()
	sql, args := env.SQL.NextBound(schema.Range{Lo: lo}, step)
	rows, _ := coords.Conns[0].Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	defer rows.Close()
	var hi schema.Key
	if rows.Next() {
		hi = keyOf(rows.RawValues())
	}
	return hi, rows.Err()
}

// sampledRanges turns the sampled ranges into tasks. The first range is the probe (as for integer keys,
// see Produce) when it is a whole range; after a dense verdict, each range is a full compare (of at most
// maxFullRows rows, see rangeBuckets), until the compares find most rows equal.
type sampledRanges struct {
	ctx     context.Context
	out     chan<- Task
	env     *Env
	buckets schema.Buckets
	probing bool
	dense   bool
	gauge   denseGauge
}

func (p *sampledRanges) next(r schema.Range) error {
	if p.probing {
		p.probing = false
		if r.Hi != nil && p.buckets.Hashed >= probeMinBuckets {
			share, err := probe(p.ctx, p.out, HashTask{Range: r, Buckets: p.buckets})
			p.dense = share >= denseShare
			return err
		}
	}
	if p.dense {
		p.dense = p.gauge.still(p.env.Stats)
	}
	if !p.dense {
		return sendHash(p.ctx, p.out, HashTask{Range: r, Buckets: p.buckets})
	}
	return send(p.ctx, p.out, Task{Compare: &CompareTask{Ranges: []schema.Range{r}, Full: true, CountRows: true}})
}

// keyOf copies the text of a row's key columns.
func keyOf(raw [][]byte) schema.Key {
	k := make(schema.Key, len(raw))
	for i, v := range raw {
		k[i] = string(v)
	}
	return k
}
