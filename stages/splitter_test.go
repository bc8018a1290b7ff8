package stages

import (
	"slices"
	"testing"

	"github.com/rowdiff/rowdiff/schema"
)

func intEnv() *Env {
	return &Env{SQL: &schema.SQL{T: &schema.Table{Columns: []schema.Column{{Name: "id", Base: "int8"}}, Key: []int{0}}},
		LeafRows: 4, Fanout: 512, Stats: NewStats(2)}
}

func compares(tasks []Task) (leaf, full []schema.Range) {
	for _, t := range tasks {
		if t.Compare == nil {
			continue
		}
		if t.Compare.Full {
			full = append(full, t.Compare.KeyRanges()...)
		} else {
			leaf = append(leaf, t.Compare.KeyRanges()...)
		}
	}
	return leaf, full
}

func TestSplitterSparseAndDense(t *testing.T) {
	sp := NewSplitter(intEnv(), HashTask{Buckets: schema.Buckets{Width: 4, Origin: 1}})
	// 3, 10-11 and 90 are scattered; 50-54 is a dense run; 70 is missing on one node.
	for _, b := range []int64{3, 10, 11, 50, 51, 52, 53, 54, 90} {
		sp.Add(BucketDiff{Bucket: b, Counts: []int64{4, 4}})
	}
	sp.Add(BucketDiff{Bucket: 95, Counts: []int64{0, 3}})
	tasks := sp.Finish()
	for _, task := range tasks {
		// An arithmetic cut's compares hold bucket spans of the parent, not keys.
		if c := task.Compare; c == nil || c.Parent == nil || c.Spans == nil || c.Ranges != nil {
			t.Fatalf("task %+v: want a compare of bucket spans", task)
		}
	}
	leaf, full := compares(tasks)
	wantLeaf := []schema.Range{{Lo: schema.Key{"13"}, Hi: schema.Key{"17"}}, {Lo: schema.Key{"41"}, Hi: schema.Key{"49"}}, {Lo: schema.Key{"361"}, Hi: schema.Key{"365"}}}
	wantFull := []schema.Range{{Lo: schema.Key{"201"}, Hi: schema.Key{"221"}}, {Lo: schema.Key{"381"}, Hi: schema.Key{"385"}}}
	if !slices.EqualFunc(leaf, wantLeaf, eqRange) || !slices.EqualFunc(full, wantFull, eqRange) {
		t.Errorf("leaf %v full %v", leaf, full)
	}
}

func TestSplitterBigBucketsSplitAndDenseRunsChunk(t *testing.T) {
	env := intEnv()
	sp := NewSplitter(env, HashTask{Buckets: schema.Buckets{Width: 1000, Origin: 0}})
	// Consecutive big buckets with equal counts are hashed finer, not read whole.
	for b := int64(0); b < 5; b++ {
		sp.Add(BucketDiff{Bucket: b, Counts: []int64{1000, 1000}})
	}
	tasks := sp.Finish()
	for _, tk := range tasks {
		if tk.Hash == nil || tk.Hash.Buckets.Width >= 1000 || tk.Hash.Depth != 1 {
			t.Fatalf("want finer hash tasks, got %+v", tk)
		}
	}
	if len(tasks) != 5 || env.Stats.RangesSplit.Load() != 5 {
		t.Errorf("got %d tasks", len(tasks))
	}
	// A long dense run of small buckets becomes several bounded full compares.
	sp = NewSplitter(env, HashTask{Buckets: schema.Buckets{Width: 4, Origin: 0}})
	for b := int64(0); b < 50000; b++ {
		sp.Add(BucketDiff{Bucket: b, Counts: []int64{4, 4}})
	}
	tasks = sp.Finish()
	for _, tk := range tasks {
		if tk.Compare == nil || !tk.Compare.Full {
			t.Fatalf("want full compares, got %+v", tk)
		}
	}
	if len(tasks) < 3 {
		t.Errorf("a 200k-row dense run should be chunked, got %d task(s)", len(tasks))
	}
	_, full := compares(tasks)
	if full[0].Lo[0] != "0" || full[len(full)-1].Hi[0] != "200000" {
		t.Errorf("chunks do not cover the run: first %v last %v", full[0], full[len(full)-1])
	}
	for i := 1; i < len(full); i++ {
		if !slices.Equal(full[i-1].Hi, full[i].Lo) {
			t.Errorf("gap between chunks %v and %v", full[i-1], full[i])
		}
	}
}

func eqRange(a, b schema.Range) bool { return slices.Equal(a.Lo, b.Lo) && slices.Equal(a.Hi, b.Hi) }

// Buckets of a key hash are not key ranges: the differing ones of a range become one compare that names
// them, of keys and row hashes while they are leaf-sized and alike in size, of whole rows otherwise.
func TestSplitterKeyHashBuckets(t *testing.T) {
	env := &Env{SQL: &schema.SQL{T: &schema.Table{Columns: []schema.Column{{Name: "k", Base: "text"}}, Key: []int{0}}},
		LeafRows: 4, Fanout: 256, Stats: NewStats(2)}
	r := schema.Range{Lo: schema.Key{"b"}, Hi: schema.Key{"f"}}
	for _, c := range []struct {
		name   string
		counts [][]int64
		full   bool
	}{
		{"leaf", [][]int64{{4, 4}, {3, 4}, {5, 5}}, false},
		{"missing on a node", [][]int64{{4, 4}, {0, 2}}, true},
		{"counts far apart", [][]int64{{4, 4}, {2, 9}}, true},
		{"more rows than a leaf compare keeps", slices.Repeat([][]int64{{4, 4}}, maxCompareRows/4+1), true},
	} {
		sp := NewSplitter(env, HashTask{Range: r, Buckets: schema.Buckets{Hashed: 1 << 16}})
		var want []int64
		for i, counts := range c.counts {
			sp.Add(BucketDiff{Bucket: int64(3 * i), Counts: counts})
			want = append(want, int64(3*i))
		}
		tasks := sp.Finish()
		if len(tasks) != 1 || tasks[0].Compare == nil {
			t.Fatalf("%s: tasks %+v, want one compare", c.name, tasks)
		}
		cmp := tasks[0].Compare
		if cmp.Parent == nil || !eqRange(cmp.Parent.Range, r) || cmp.Parent.Buckets.Hashed != 1<<16 || !slices.Equal(cmp.Buckets, want) || cmp.Full != c.full {
			t.Errorf("%s: compare of range %v buckets %v full %v, want range %v, buckets %v, full %v",
				c.name, cmp.Parent.Range, cmp.Buckets, cmp.Full, r, want, c.full)
		}
	}
	if tasks := NewSplitter(env, HashTask{Range: r, Buckets: schema.Buckets{Hashed: 8}}).Finish(); tasks != nil {
		t.Errorf("no differing bucket: tasks %+v, want none", tasks)
	}
}

// Big key-hash buckets are hashed again, finer, when more than an eighth of them differ: read back, they
// would bring most of the table with them. Fewer are read back at once, and so are buckets that all
// differ, where most rows do.
func TestSplitterRefinesKeyHashBuckets(t *testing.T) {
	env := &Env{SQL: &schema.SQL{T: &schema.Table{Columns: []schema.Column{{Name: "k", Base: "uuid"}}, Key: []int{0}}},
		LeafRows: 4, Fanout: 256, Stats: NewStats(2)}
	coarse := schema.Buckets{Hashed: 1024}
	ids := func(n int) []int64 {
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(i * 1024 / n)
		}
		return s
	}
	// Within a refined cut, the eighth is of the buckets its coarser buckets hold: 200*16 here.
	refined := schema.Buckets{Hashed: 1024 * 16, Within: 1024, Only: ids(200)}
	for _, c := range []struct {
		name   string
		b      schema.Buckets
		ids    []int64
		counts []int64
		want   *schema.Buckets // nil: a compare
	}{
		{"many big buckets differ", coarse, ids(200), []int64{40, 40}, &schema.Buckets{Hashed: 1024 * 16, Within: 1024, Only: ids(200)}},
		{"an eighth of them", coarse, ids(128), []int64{40, 40}, nil},
		{"every one", coarse, ids(1024), []int64{40, 41}, nil},
		{"leaf-sized buckets", coarse, ids(200), []int64{16, 16}, nil},
		{"refined again", refined, ids(401), []int64{40, 40}, &schema.Buckets{Hashed: 1024 * 16 * 16, Within: 1024 * 16, Only: ids(401)}},
		{"an eighth of a refined cut", refined, ids(400), []int64{40, 40}, nil},
	} {
		sp := NewSplitter(env, HashTask{Buckets: c.b, Depth: 1})
		for _, id := range c.ids {
			sp.Add(BucketDiff{Bucket: id, Counts: c.counts})
		}
		tasks := sp.Finish()
		if len(tasks) != 1 {
			t.Fatalf("%s: %d tasks, want one", c.name, len(tasks))
		}
		if c.want == nil {
			if cmp := tasks[0].Compare; cmp == nil || !slices.Equal(cmp.Buckets, c.ids) {
				t.Errorf("%s: task %+v, want a compare of the differing buckets", c.name, tasks[0])
			}
			continue
		}
		h := tasks[0].Hash
		if h == nil || h.Depth != 2 || h.Buckets.Hashed != c.want.Hashed || h.Buckets.Within != c.want.Within || !slices.Equal(h.Buckets.Only, c.want.Only) {
			t.Errorf("%s: task %+v, want a hash of the differing buckets in buckets %+v", c.name, tasks[0], *c.want)
		}
	}
}
