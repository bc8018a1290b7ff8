package stages

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"unsafe"

	"github.com/jackc/pgx/v5"
)

// BucketDiff is a bucket whose count or hash differs between nodes, with each node's row count.
type BucketDiff struct {
	Bucket int64
	Counts []int64
	// Lone is set when the bucket looks like it differs by one row, present on the nodes with the most
	// rows and absent on the others: Key is that row's key and Hash its row hash, as the bucket hashes
	// tell them. A compare must check both before it trusts them (see loneRow and compareLone).
	Lone      bool
	Key, Hash int64
}

// bucketCursor is one node's position in its bucket-ordered hash results.
type bucketCursor struct {
	rows                   pgx.Rows
	done                   bool
	bucket, count, sum, kx int64
}

func (c *bucketCursor) next() error {
	if !c.rows.Next() {
		c.done = true
		return c.rows.Err()
	}
	// Parsed straight from the text the server sent: a scan through pgx's type map allocates per row,
	// which with a few hash queries in flight adds up to megabytes of garbage.
	raw := c.rows.RawValues()
	var err [4]error
	c.bucket, err[0] = parseInt(raw[0])
	c.count, err[1] = parseInt(raw[1])
	c.sum, err[2] = parseInt(raw[2])
	if len(raw) > 3 {
		c.kx, err[3] = parseInt(raw[3])
	}
	return errors.Join(err[:]...)
}

func parseInt(b []byte) (int64, error) {
	return strconv.ParseInt(unsafe.String(unsafe.SliceData(b), len(b)), 10, 64)
}

// Hash runs the task's bucket hash query on every node at once (one query per node, conns[i] for node
// i), walks the bucket-ordered results together and calls differ, in bucket order, for every bucket whose
// count or hash is not the same on all nodes. Memory does not depend on the number of buckets. differ
// must not use conns: the results are still being read.
func Hash(ctx context.Context, conns []*pgx.Conn, env *Env, t HashTask, differ func(BucketDiff) error) error {
	sql, args := env.SQL.BucketHash(t.Range, t.Buckets)
	what := func(i int, err error) error {
		return fmt.Errorf("node %s: %s: %w", env.Nodes[i], Task{Hash: &t}.Describe(env.SQL.T), err)
	}
	curs := make([]*bucketCursor, len(conns))
	defer func() {
		for _, c := range curs {
			if c != nil {
				c.rows.Close()
			}
		}
	}()
	for i, conn := range conns {
		// The planner cannot know a range has at most Fanout buckets and would sort every row to group
		// them; a hash aggregate needs one pass, and room for its groups so it does not spill: a key-hash
		// cut's 2^18 (maxKeyHashBuckets) took 36.9 MB in one batch in EXPLAIN ANALYZE. Only this query
		// runs with these settings.
		if _, err := conn.Exec(ctx, "SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'"); err != nil {
			return what(i, err)
		}
	}
	all, cancel, failed, err := queryAll(ctx, conns, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...))
	defer cancel()
	if err != nil {
		return what(failed, err)
	}
	for i, rows := range all {
		curs[i] = &bucketCursor{rows: rows}
	}
	for i, c := range curs {
		if err := c.next(); err != nil {
			return what(i, err)
		}
	}
	counts := make([]int64, len(curs))
	lone := env.SQL.LoneKeys(t.Buckets) && len(curs) <= maxLoneNodes
	// For the probe: rows, and rows in differing leaf-sized buckets (largest node count of each bucket).
	// A big bucket differs as soon as one of its many rows does, which says little about the others.
	var rows, differing int64
	for {
		low, found := int64(0), false
		for _, c := range curs {
			if !c.done && (!found || c.bucket < low) {
				low, found = c.bucket, true
			}
		}
		if !found {
			break
		}
		same := true
		var first *bucketCursor
		for i, c := range curs {
			counts[i] = 0
			if c.done || c.bucket != low {
				same = false
				continue
			}
			counts[i] = c.count
			if t.Depth == 0 {
				env.Stats.Rows[i].Add(c.count)
			}
			if first == nil {
				first = c
			} else if c.count != first.count || c.sum != first.sum {
				same = false
			}
		}
		most := slices.Max(counts)
		rows += most
		if !same {
			if env.leafSized(most) {
				differing += most
			}
			d := BucketDiff{Bucket: low, Counts: slices.Clone(counts)}
			if lone {
				d.Key, d.Hash, d.Lone = loneRow(curs, low, counts, most)
				d.Lone = d.Lone && t.Buckets.Holds(t.Range, low, d.Key)
			}
			if err := differ(d); err != nil {
				return err
			}
		}
		for i, c := range curs {
			if !c.done && c.bucket == low {
				if err := c.next(); err != nil {
					return what(i, err)
				}
			}
		}
	}
	for i, c := range curs {
		c.rows.Close()
		if err := c.rows.Err(); err != nil {
			return what(i, err)
		}
	}
	for i, conn := range conns {
		if _, err := conn.Exec(ctx, "SET LOCAL enable_sort = on; SET LOCAL work_mem TO DEFAULT"); err != nil {
			return what(i, err)
		}
	}
	env.Stats.RangesHashed.Add(1)
	if t.Probe != nil {
		share := 0.0
		if rows > 0 {
			share = float64(differing) / float64(rows)
		}
		t.Probe <- share
	}
	return nil
}

// noRows stands for a node without the bucket in loneRow: no rows, XORs of nothing. It is only read.
var noRows bucketCursor

// maxLoneNodes bounds the nodes a lone row is checked on: which nodes must hold it is a bit mask.
const maxLoneNodes = 64

// loneRow tells whether bucket low, with counts per node (most the largest), differs as if by one row:
// the nodes with most rows agree on (count, hash, key XOR), so do the others, and those have one row
// fewer. Then the XOR of the two sides' key XORs is that row's key, and of their hashes its row hash.
// Any other difference (two rows, a changed row beside a missing one) can look alike only by a 64-bit
// hash collision, which the fetch that checks the row rules out for all but the collisions every range
// hash already trusts.
func loneRow(curs []*bucketCursor, low int64, counts []int64, most int64) (key, hash int64, ok bool) {
	var full, less *bucketCursor
	for i, c := range curs {
		if c.done || c.bucket != low {
			c = &noRows
		}
		side := &full
		if counts[i] != most {
			if counts[i] != most-1 {
				return 0, 0, false
			}
			side = &less
		}
		if *side == nil {
			*side = c
		} else if c.count != (*side).count || c.sum != (*side).sum || c.kx != (*side).kx {
			return 0, 0, false
		}
	}
	if full == nil || less == nil {
		return 0, 0, false
	}
	return full.kx ^ less.kx, full.sum ^ less.sum, true
}
