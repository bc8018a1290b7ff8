package stages

import "testing"

// TestLoneRow checks which bucket states name a lone row: the nodes must fall into two groups, each
// agreeing on count, hash and key XOR, one row apart in count; a node without the bucket counts as empty.
func TestLoneRow(t *testing.T) {
	at := func(count, sum, kx int64) *bucketCursor {
		return &bucketCursor{bucket: 7, count: count, sum: sum, kx: kx}
	}
	gone := &bucketCursor{bucket: 8} // the node's next bucket is a later one
	for _, c := range []struct {
		name      string
		curs      []*bucketCursor
		key, hash int64
		ok        bool
	}{
		{"one row more on a", []*bucketCursor{at(3, 0b1110, 5^6^7), at(2, 0b0110, 5^6)}, 7, 0b1000, true},
		{"one row more on b and c", []*bucketCursor{at(2, 1, 10), at(3, 1^9, 10^42), at(3, 1^9, 10^42)}, 42, 9, true},
		{"the only row, absent on b", []*bucketCursor{at(1, 9, 42), gone}, 42, 9, true},
		{"two rows apart", []*bucketCursor{at(4, 1, 1), at(2, 2, 2)}, 0, 0, false},
		{"same count", []*bucketCursor{at(3, 1, 1), at(3, 2, 1)}, 0, 0, false},
		{"the larger side disagrees", []*bucketCursor{at(3, 1, 1), at(3, 2, 1), at(2, 3, 3)}, 0, 0, false},
		{"the smaller side disagrees", []*bucketCursor{at(3, 1, 1), at(2, 2, 2), at(2, 2, 3)}, 0, 0, false},
		{"three counts", []*bucketCursor{at(3, 1, 1), at(2, 2, 2), at(1, 3, 3)}, 0, 0, false},
	} {
		counts := make([]int64, len(c.curs))
		var most int64
		for i, cur := range c.curs {
			if cur.bucket == 7 {
				counts[i] = cur.count
			}
			most = max(most, counts[i])
		}
		key, hash, ok := loneRow(c.curs, 7, counts, most)
		if ok != c.ok || (ok && (key != c.key || hash != c.hash)) {
			t.Errorf("%s: got key %d hash %d ok %v, want %d %d %v", c.name, key, hash, ok, c.key, c.hash, c.ok)
		}
	}
}
