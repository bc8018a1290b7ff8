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
	tasks, err := sp.Finish(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
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
	tasks, err := sp.Finish(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
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
	tasks, _ = sp.Finish(t.Context(), nil)
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

// Buckets cut at sampled split points: the tasks carry their own key ranges (not spans of the parent,
// whose split points would then stay alive), merged where buckets are adjacent, open where the range is.
func TestSplitterSampledBucketsCarryRanges(t *testing.T) {
	env := &Env{SQL: &schema.SQL{T: &schema.Table{Columns: []schema.Column{{Name: "k", Base: "text"}}, Key: []int{0}}},
		LeafRows: 4, Fanout: 256, Stats: NewStats(2)}
	splits := []schema.Key{{"b"}, {"d"}, {"f"}}
	sp := NewSplitter(env, HashTask{Buckets: schema.Buckets{Splits: splits}})
	sp.Add(BucketDiff{Bucket: 1, Counts: []int64{4, 4}})
	sp.Add(BucketDiff{Bucket: 2, Counts: []int64{4, 4}})
	sp.Add(BucketDiff{Bucket: 3, Counts: []int64{0, 2}})
	tasks, err := sp.Finish(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if c := task.Compare; c == nil || c.Parent != nil || c.Spans != nil || len(c.Ranges) == 0 {
			t.Fatalf("task %+v: want a compare with its own ranges", task)
		}
	}
	leaf, full := compares(tasks)
	wantLeaf := []schema.Range{{Lo: schema.Key{"b"}, Hi: schema.Key{"f"}}}
	wantFull := []schema.Range{{Lo: schema.Key{"f"}}}
	if !slices.EqualFunc(leaf, wantLeaf, eqRange) || !slices.EqualFunc(full, wantFull, eqRange) {
		t.Errorf("leaf %v full %v", leaf, full)
	}
}
