package stages

import "testing"

// The sample's share of rows in differing buckets of about LeafRows rows stands for about one difference
// per bucket: a table expected to hold more than fewKeyHashBuckets/3 differences takes the finer cut.
func TestKeyHashLimit(t *testing.T) {
	env := &Env{LeafRows: 32}
	for _, c := range []struct {
		estRows, share float64
		want           int64
	}{
		{10e6, 0, fewKeyHashBuckets},
		{10e6, 0.017, fewKeyHashBuckets},   // 5,312 differences expected
		{10e6, 0.018, maxKeyHashBuckets},   // 5,625
		{1e6, 0.17, fewKeyHashBuckets},     // 5,312
		{100e6, 0.0018, maxKeyHashBuckets}, // 5,625
		{10e6, 1, maxKeyHashBuckets},
	} {
		if got := keyHashLimit(env, c.estRows, c.share); got != c.want {
			t.Errorf("keyHashLimit(%g rows, share %g) = %d, want %d", c.estRows, c.share, got, c.want)
		}
	}
}

// The arithmetic cut is left for sampled ranges where the quantiles lie more than fanout² times closer
// together than evenly spread keys would: a crowd of keys beside far-off outliers.
func TestCrowdedQuantiles(t *testing.T) {
	even := []int64{0, 1000, 2000, 3000, 4000}
	for _, c := range []struct {
		name   string
		q      []int64
		span   int64
		fanout int
		want   bool
	}{
		{"even", even, 4001, 512, false},
		{"no statistics", nil, 1 << 60, 512, false},
		{"one part", []int64{0, 10}, 1 << 60, 512, false},
		{"crowd beside outliers", []int64{1, 250, 500, 750, 1000}, 1 << 60, 512, true},
		{"two crowds, one finer cut parts them", []int64{0, 1000, 2000, 1e6, 1e6 + 1000}, 1e6 + 1001, 512, false},
		{"two crowds, two finer cuts part them", []int64{0, 10, 20, 1e6, 1e6 + 10}, 1e6 + 11, 512, false},
		{"two crowds, too close for two finer cuts", []int64{0, 10, 20, 1e9, 1e9 + 10}, 1e9 + 11, 512, true},
	} {
		if got := crowded(c.q, c.span, c.fanout); got != c.want {
			t.Errorf("%s: crowded = %v, want %v", c.name, got, c.want)
		}
	}
}
