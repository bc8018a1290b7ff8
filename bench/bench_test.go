package main

import (
	"slices"
	"testing"
)

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10k, 100K,1m,10k,2500")
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{10_000, 100_000, 1_000_000, 2500}; !slices.Equal(got, want) {
		t.Fatalf("parseSizes = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "k", "-1k", "1g", "0"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
	for n, want := range map[int64]string{10_000: "10k", 1_000_000: "1m", 2500: "2500", 10_000_000: "10m"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestPlan checks the planted differences: the right count, a third of each kind, updated and deleted
// keys among the existing (even) keys and disjoint, inserted keys new (odd), and the same for the same seed.
func TestPlan(t *testing.T) {
	for _, n := range []int64{10_000, 100_000, 1_000_000} {
		p := makePlan(n, 0.003, 7)
		total, changed := p.count()
		if want := int64(float64(n) * 0.003); total != want || changed != want/3 || int64(len(p.deleted)) != want/3 {
			t.Fatalf("n=%d: %d differences (%d updated, %d deleted), want %d with a third each", n, total, changed, len(p.deleted), want)
		}
		seen := map[int64]bool{}
		for _, k := range slices.Concat(p.updated, p.deleted) {
			if k%2 != 0 || k < 2 || k > 2*n || seen[k] {
				t.Fatalf("n=%d: key %d is not a distinct existing key", n, k)
			}
			seen[k] = true
		}
		for _, k := range p.inserted {
			if k%2 != 1 || k < 1 || k > 2*n+1 || seen[k] {
				t.Fatalf("n=%d: inserted key %d is not a distinct new key", n, k)
			}
			seen[k] = true
		}
		if again := makePlan(n, 0.003, 7); !slices.Equal(again.inserted, p.inserted) || !slices.Equal(again.updated, p.updated) {
			t.Fatalf("n=%d: same seed, different plan", n)
		}
	}
	if total, changed := expected(1000, 1, 7); total != 1000 || changed != 1000 {
		t.Fatalf("expected(1000, 100%%) = %d, %d", total, changed)
	}
	if total, _ := expected(1000, 0, 7); total != 0 {
		t.Fatalf("expected(1000, 0) = %d", total)
	}
}
