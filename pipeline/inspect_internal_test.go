package pipeline

import (
	"testing"

	"github.com/rowdiff/rowdiff/schema"
)

// TestCommonNumericType: two numeric typmods meet in one with as many digits before the point as the
// wider side and as many after it: numeric(10,2) and numeric(10,4) came out (10,4), too narrow for
// 12345678.99, and a Parquet diff of them failed.
func TestCommonNumericType(t *testing.T) {
	num := func(p, s int) schema.Column {
		return schema.Column{Name: "n", Type: "numeric", Base: "numeric", CastType: "numeric", Category: "N", Precision: p, Scale: s}
	}
	for _, tc := range []struct{ a, b, want [2]int }{
		{[2]int{10, 2}, [2]int{10, 4}, [2]int{12, 4}},
		{[2]int{10, 4}, [2]int{10, 2}, [2]int{12, 4}},
		{[2]int{10, 2}, [2]int{12, 4}, [2]int{12, 4}},
		{[2]int{5, 0}, [2]int{3, 3}, [2]int{8, 3}},
		{[2]int{10, 2}, [2]int{-1, -1}, [2]int{-1, -1}},
	} {
		c, ok := commonType(num(tc.a[0], tc.a[1]), num(tc.b[0], tc.b[1]), "")
		if !ok || c.Precision != tc.want[0] || c.Scale != tc.want[1] {
			t.Errorf("numeric(%d,%d) and numeric(%d,%d): got (%d,%d) ok=%v, want (%d,%d)",
				tc.a[0], tc.a[1], tc.b[0], tc.b[1], c.Precision, c.Scale, ok, tc.want[0], tc.want[1])
		}
	}
}
