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
