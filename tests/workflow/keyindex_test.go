package workflow

import (
	"path/filepath"
	"testing"

	"github.com/rowdiff/rowdiff/internal/testkit"
)

// TestRecheckAndRepairWithoutKeyIndex rechecks and repairs the differences of a table whose key has no
// index on node b. Every fetch by key costs node b a scan of its whole table, so those fetches ask for
// many keys at once: the 4,000 keys here take one scan each for the recheck and for a repair that reads
// node b, where batches of 256 took sixteen. The keys still differing, and the repaired table, are checked
// against PostgreSQL's own FULL JOIN.
func TestRecheckAndRepairWithoutKeyIndex(t *testing.T) {
	t.Parallel()
	common := `CREATE TABLE rk (id int8 NOT NULL, v text);
INSERT INTO rk SELECT i, 'v' || i FROM generate_series(1, 20000) i;`
	a, b := pair(t, common, `ALTER TABLE rk ADD PRIMARY KEY (id); ANALYZE rk;`,
		`DELETE FROM rk WHERE id % 10 = 0; UPDATE rk SET v = 'b' WHERE id % 10 = 5; ANALYZE rk;`)
	nodes := []Node{a, b}
	spec := Spec{Table: "rk", Key: []string{"id"}}
	want := truth(t, a, b, spec, false)
	if len(want) != 4000 {
		t.Fatalf("planted %d differences, want 4000", len(want))
	}
	d := diff(t, nodes, "--table", "rk")
	wantCode(t, d.Proc, 1)
	sameKeys(t, "diff", keysOf(t, d.Records), want)

	scans := func() int64 {
		ctx, cancel := setupContext()
		defer cancel()
		n, err := testkit.SeqScans(ctx, b.DSN(), "rk")
		if err != nil {
			t.Fatalf("node b: sequential scans of rk: %v", err)
		}
		return n
	}

	before := scans()
	r := recheck(t, nodes, d.Out)
	wantCode(t, r.Proc, 1)
	sameKeys(t, "recheck", keysOf(t, r.Records), want)
	if n := scans() - before; n > 1 {
		t.Errorf("the recheck scanned node b's table %d times, want 1", n)
	}

	before = scans()
	script := filepath.Join(t.TempDir(), "repair.sql")
	wantCode(t, rowdiff(t, append([]string{"repair", "--in", d.Out, "--source", "b", "--target", "a", "--out", script}, nodeArgs(nodes...)...)...), 0)
	if n := scans() - before; n > 1 {
		t.Errorf("the repair scanned its source, node b's table, %d times, want 1", n)
	}
	wantCode(t, applyScript(t, script, a), 0)
	if left := truth(t, a, b, spec, false); len(left) != 0 {
		t.Errorf("%d keys still differ after the repair script: %v", len(left), left)
	}
}
