package stages

import (
	"math"
	"slices"
	"strconv"

	"github.com/rowdiff/rowdiff/schema"
)

// Limits on one compare task, so a worker's memory stays bounded: the keys of a leaf compare are kept
// until their full rows are fetched, and every range is one OR term in the query.
const (
	maxCompareRanges = 64
	maxCompareRows   = 8192
	// denseRun consecutive differing buckets are taken as a region where most rows differ: it is read
	// whole at once rather than hashed finer or compared key by key.
	denseRun = 4
	// maxFullRows bounds a full compare task, so a region where every row differs is read by several
	// workers at once instead of one query per node.
	maxFullRows = 65536
)

// Splitter decides what happens to the differing buckets of one hashed range, fed in bucket order while
// the hash results stream in, and returns the follow-up tasks from Finish:
//   - a bucket that is mostly different (one side empty, or counts far apart), or that lies in a run of
//     denseRun or more differing buckets, goes to a full row compare: hashing it finer would only find
//     that nearly every row differs;
//   - a small bucket (at most 4*LeafRows rows) goes to a row compare that reads keys and row hashes
//     first and fetches full rows only for the keys that differ;
//   - a bigger bucket becomes a new hash task with finer buckets, cut arithmetically.
//
// Adjacent buckets headed for the same kind of compare are merged into one range. Buckets of a key hash
// (Buckets.Hashed) are not key ranges: every differing bucket of the range is read in one compare that
// selects rows by bucket number (see Finish).
type Splitter struct {
	env        *Env
	t          HashTask
	out        []Task
	parent     *HashTask // t, shared by the compare tasks that refer to its buckets
	leaf, full group
	big        []BucketDiff
	// ids are the differing buckets of a key-hash cut; idsRows their rows (the largest count of each).
	// idsFull is set once one of them is mostly different or not leaf-sized.
	ids     []int64
	idsRows int64
	idsFull bool
	lone    []LoneRow
	// run is the current stretch of consecutive differing buckets; only its first denseRun-1 buckets
	// are kept, because a longer run is merged into one range.
	run      []BucketDiff
	runLen   int
	runFirst int64
	runLast  int64
	runRows  int64
}

// NewSplitter starts splitting the differing buckets of t.
func NewSplitter(env *Env, t HashTask) *Splitter { return &Splitter{env: env, t: t} }

// Add takes the next differing bucket; buckets must come in increasing order.
func (s *Splitter) Add(d BucketDiff) {
	if s.t.Buckets.Hashed > 0 {
		lo, hi := slices.Min(d.Counts), slices.Max(d.Counts)
		s.ids = append(s.ids, d.Bucket)
		s.idsRows += hi
		s.idsFull = s.idsFull || lo == 0 || (hi-lo)*2 > hi || !s.env.leafSized(hi)
		return
	}
	if d.Lone && s.env.leafSized(slices.Max(d.Counts)) {
		// One row tells the difference: fetch it by key. Only in leaf-sized buckets, so that a bucket
		// whose row does not check out is compared whole like any other.
		s.lone = append(s.lone, LoneRow{Bucket: d.Bucket, Key: d.Key, Hash: d.Hash, Has: holders(d.Counts)})
		if len(s.lone) == fetchBatch {
			s.flushLone()
		}
		return
	}
	if lo, hi := slices.Min(d.Counts), slices.Max(d.Counts); !s.env.leafSized(hi) && lo > 0 && (hi-lo)*2 <= hi {
		// A big bucket says nothing about how many of its rows differ: hash it finer.
		s.closeRun()
		s.big = append(s.big, d)
		return
	}
	if s.runLen > 0 && d.Bucket == s.runLast+1 {
		if s.runLen >= denseRun && s.runRows >= maxFullRows {
			// A long dense run is cut into chunks of full compares; the rest of it stays dense.
			s.closeRun()
			s.runLen = denseRun
			s.runFirst, s.runLast, s.runRows = d.Bucket, d.Bucket, slices.Max(d.Counts)
			return
		}
		s.runLen++
		s.runLast = d.Bucket
		s.runRows += slices.Max(d.Counts)
		if len(s.run) < denseRun-1 {
			s.run = append(s.run, d)
		}
		return
	}
	s.closeRun()
	s.run, s.runLen, s.runFirst, s.runLast, s.runRows = append(s.run[:0], d), 1, d.Bucket, d.Bucket, slices.Max(d.Counts)
}

func (s *Splitter) closeRun() {
	if s.runLen >= denseRun {
		s.add(&s.full, Span{s.runFirst, s.runLast}, s.runRows, true)
	} else {
		for _, d := range s.run[:s.runLen] {
			s.place(d)
		}
	}
	s.run, s.runLen = s.run[:0], 0
}

func (s *Splitter) place(d BucketDiff) {
	one := Span{d.Bucket, d.Bucket}
	lo, hi := slices.Min(d.Counts), slices.Max(d.Counts)
	switch {
	case lo == 0 || (hi-lo)*2 > hi:
		s.add(&s.full, one, hi, true)
	case s.env.leafSized(hi):
		s.add(&s.leaf, one, hi, false)
	default:
		s.big = append(s.big, d)
	}
}

// Finish returns the follow-up tasks.
//
// The differing buckets of a key-hash cut are hashed again in finer buckets when that is cheaper than
// reading them back (see refined). Otherwise they become one compare of the range that selects them by
// number: of keys and row hashes, as for leaf buckets, unless one of them is mostly different, or
// together they hold more rows than a leaf compare may keep keys of (maxCompareRows), or the table is
// read by key hash (every fetch by key would cost some node a scan of the whole table): then of whole
// rows.
func (s *Splitter) Finish() []Task {
	if s.t.Buckets.Hashed > 0 {
		if len(s.ids) == 0 {
			return nil
		}
		if b, ok := s.refined(); ok {
			s.env.Stats.RangesSplit.Add(1)
			return []Task{{Hash: &HashTask{Range: s.t.Range, Buckets: b, Depth: s.t.Depth + 1}}}
		}
		full := s.idsFull || s.idsRows > maxCompareRows || s.env.SQL.T.ByKeyHash()
		return []Task{{Compare: &CompareTask{Parent: s.parentTask(), Buckets: s.ids, Full: full}}}
	}
	s.closeRun()
	for _, d := range s.big {
		r := schema.BucketRange(s.t.Range, s.t.Buckets, d.Bucket)
		b, ok := finerBuckets(s.env, s.t.Buckets, r, d.Counts)
		if !ok {
			s.add(&s.leaf, Span{d.Bucket, d.Bucket}, slices.Max(d.Counts), false)
			continue
		}
		s.env.Stats.RangesSplit.Add(1)
		s.out = append(s.out, Task{Hash: &HashTask{Range: r, Buckets: b, Depth: s.t.Depth + 1}})
	}
	s.flush(&s.leaf, false)
	s.flush(&s.full, true)
	s.flushLone()
	return s.out
}

// refined is the finer key-hash cut of the differing buckets of a key-hash cut, or false when they are
// better read back at once. Reading them back costs a scan of the range and the transfer of every row in
// them; hashing them again costs that scan and the hash of those rows, and leaves the few finer buckets
// that differ to read back in one more scan. So they are hashed finer when they hold more than 4*LeafRows
// rows each and more than an eighth of the cut's buckets differ: at 6 % (996 differences among 10M uuid
// keys in 2^14 buckets) hashing them again took 6.67 and 7.16 s, reading them back 6.31 and 7.06 s
// (README, Range producer). Not when every bucket differs: most rows do, and a finer cut would find that
// again.
func (s *Splitter) refined() (schema.Buckets, bool) {
	b := s.t.Buckets
	scope := b.Hashed
	if b.Only != nil {
		scope = int64(len(b.Only)) * (b.Hashed / b.Within)
	}
	n := int64(len(s.ids))
	each := s.idsRows / n
	if s.env.leafSized(each) || n*8 <= scope || n >= scope {
		return schema.Buckets{}, false
	}
	// Finer buckets of about LeafRows rows, or as many as fit.
	f := int64(2)
	for f*s.env.LeafRows < each && n*f*2 <= maxKeyHashBuckets {
		f *= 2
	}
	if n*f > maxKeyHashBuckets || b.Hashed > math.MaxInt64/f {
		return schema.Buckets{}, false
	}
	return schema.Buckets{Hashed: b.Hashed * f, Within: b.Hashed, Only: s.ids}, true
}

// group accumulates bucket spans for one compare task.
type group struct {
	spans []Span
	rows  int64
}

// add puts the buckets of sp, holding rows rows, in g, and sends g on as a task first when it is full.
func (s *Splitter) add(g *group, sp Span, rows int64, full bool) {
	limit := int64(maxCompareRows)
	if full {
		limit = maxFullRows
	}
	if n := len(g.spans); n > 0 && g.spans[n-1].To+1 == sp.From && g.rows+rows <= limit {
		g.spans[n-1].To = sp.To
		g.rows += rows
		return
	}
	if len(g.spans) == maxCompareRanges || (len(g.spans) > 0 && g.rows+rows > limit) {
		s.flush(g, full)
	}
	g.spans = append(g.spans, sp)
	g.rows += rows
}

// flush turns g into a compare task of bucket spans of the parent.
func (s *Splitter) flush(g *group, full bool) {
	if len(g.spans) == 0 {
		return
	}
	s.out = append(s.out, Task{Compare: &CompareTask{Parent: s.parentTask(), Spans: g.spans, Full: full}})
	g.spans, g.rows = nil, 0
}

// flushLone turns the lone rows found so far into a compare task.
func (s *Splitter) flushLone() {
	if len(s.lone) == 0 {
		return
	}
	s.out = append(s.out, Task{Compare: &CompareTask{Parent: s.parentTask(), Lone: s.lone}})
	s.lone = nil
}

// parentTask is t as the compare tasks of its buckets refer to it, one copy shared by all of them.
func (s *Splitter) parentTask() *HashTask {
	if s.parent == nil {
		p := s.t
		p.Probe = nil
		s.parent = &p
	}
	return s.parent
}

// holders is the bit mask of the nodes with the most rows in a bucket: those that hold its lone row.
func holders(counts []int64) uint64 {
	most := slices.Max(counts)
	var m uint64
	for i, n := range counts {
		if n == most {
			m |= 1 << i
		}
	}
	return m
}

// finerBuckets cuts bucket range r of an arithmetic cut into about counts/LeafRows buckets; ok is false
// when r cannot be cut further.
func finerBuckets(env *Env, parent schema.Buckets, r schema.Range, counts []int64) (schema.Buckets, bool) {
	fan := min(int64(env.Fanout), (slices.Max(counts)+env.LeafRows-1)/env.LeafRows)
	w := (parent.Width + fan - 1) / fan
	origin, _ := strconv.ParseInt(r.Lo[0], 10, 64) // integer bucket ranges always have a lower bound
	return schema.Buckets{Width: w, Origin: origin}, w < parent.Width
}
