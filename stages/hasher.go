package stages

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc/pool"
)

// bucketStat is one node's count and XOR of row hashes for one bucket.
type bucketStat struct {
	count, hash int64
}

// BucketDiff is a bucket whose count or hash differs between nodes, with each node's row count.
type BucketDiff struct {
	Bucket int64
	Counts []int64
}

// Hash runs the task's bucket hash query on every node at once (one query per node, conns[i] for node i)
// and returns the buckets that differ, in bucket order. It blocks until every node has answered; the
// first error cancels the others.
func Hash(ctx context.Context, conns []*pgx.Conn, env *Env, t HashTask) ([]BucketDiff, error) {
	sql, args := env.SQL.BucketHash(t.Range, t.Buckets)
	results := make([]map[int64]bucketStat, len(conns))
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError()
	for i, conn := range conns {
		p.Go(func(ctx context.Context) error {
			// The planner cannot know a range has at most Fanout buckets and would sort every row to
			// group them; a hash aggregate needs one pass. Only this query runs without sorts.
			if _, err := conn.Exec(ctx, "SET LOCAL enable_sort = off"); err != nil {
				return fmt.Errorf("node %s: %w", env.Nodes[i], err)
			}
			defer conn.Exec(context.WithoutCancel(ctx), "SET LOCAL enable_sort = on")
			rows, _ := conn.Query(ctx, sql, args...)
			m := make(map[int64]bucketStat)
			var b int64
			var s bucketStat
			_, err := pgx.ForEachRow(rows, []any{&b, &s.count, &s.hash}, func() error {
				m[b] = s
				return nil
			})
			if err != nil {
				return fmt.Errorf("node %s: hash range %s of %s: %w", env.Nodes[i], describe(t.Range), env.SQL.T, err)
			}
			results[i] = m
			return nil
		})
	}
	if err := p.Wait(); err != nil {
		return nil, err
	}
	env.Stats.RangesHashed.Add(1)
	if t.Depth == 0 {
		for i, m := range results {
			var n int64
			for _, s := range m {
				n += s.count
			}
			env.Stats.Rows[i].Add(n)
		}
	}
	seen := make(map[int64]bool)
	var diffs []BucketDiff
	for _, m := range results {
		for b := range m {
			if seen[b] {
				continue
			}
			seen[b] = true
			first, same := results[0][b], true
			counts := make([]int64, len(results))
			for i, other := range results {
				counts[i] = other[b].count
				if other[b] != first {
					same = false
				}
			}
			if !same {
				diffs = append(diffs, BucketDiff{Bucket: b, Counts: counts})
			}
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Bucket < diffs[j].Bucket })
	return diffs, nil
}
