package stages

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// Limits on one compare task, so a worker's memory stays bounded: the keys of a leaf compare are kept
// until their full rows are fetched, and every range is one OR term in the query.
const (
	maxCompareRanges = 64
	maxCompareRows   = 8192
)

// Split decides what happens to the differing buckets of a hashed range and returns the follow-up tasks:
//   - a bucket that is mostly different (one side empty, or counts far apart) goes straight to a full
//     row compare: hashing it finer would only find that nearly every row differs;
//   - a small bucket (at most 4*LeafRows rows) goes to a row compare that reads keys and row hashes first
//     and fetches full rows only for the keys that differ;
//   - a bigger bucket becomes a new hash task with finer buckets. Integer buckets are cut arithmetically;
//     other keys take split points from the node holding the most rows of the bucket.
//
// Adjacent buckets headed for the same kind of compare are merged into one range.
func Split(ctx context.Context, conns []*pgx.Conn, env *Env, t HashTask, diffs []BucketDiff) ([]Task, error) {
	var out []Task
	var leaf, full group
	for _, d := range diffs {
		r := schema.BucketRange(t.Range, t.Buckets, d.Bucket)
		lo, hi := slices.Min(d.Counts), slices.Max(d.Counts)
		if lo == 0 || (hi-lo)*2 > hi {
			out = full.add(out, r, hi, true)
			continue
		}
		if hi <= 4*env.LeafRows {
			out = leaf.add(out, r, hi, false)
			continue
		}
		b, ok, err := finerBuckets(ctx, conns, env, t.Buckets, r, d.Counts)
		if err != nil {
			return nil, err
		}
		if !ok {
			out = leaf.add(out, r, hi, false)
			continue
		}
		env.Stats.RangesSplit.Add(1)
		out = append(out, Task{Hash: &HashTask{Range: r, Buckets: b, Depth: t.Depth + 1}})
	}
	out = leaf.flush(out, false)
	return full.flush(out, true), nil
}

// group accumulates ranges for one compare task.
type group struct {
	ranges []schema.Range
	rows   int64
}

func (g *group) add(out []Task, r schema.Range, rows int64, full bool) []Task {
	if n := len(g.ranges); n > 0 && g.ranges[n-1].Hi != nil && r.Lo != nil && slices.Equal(g.ranges[n-1].Hi, r.Lo) &&
		(full || g.rows+rows <= maxCompareRows) {
		g.ranges[n-1].Hi = r.Hi
		g.rows += rows
		return out
	}
	if len(g.ranges) == maxCompareRanges || (!full && g.rows+rows > maxCompareRows) {
		out = g.flush(out, full)
	}
	g.ranges = append(g.ranges, r)
	g.rows += rows
	return out
}

func (g *group) flush(out []Task, full bool) []Task {
	if len(g.ranges) == 0 {
		return out
	}
	out = append(out, Task{Compare: &CompareTask{Ranges: g.ranges, Full: full}})
	g.ranges, g.rows = nil, 0
	return out
}

// finerBuckets cuts r into about counts/LeafRows buckets; ok is false when r cannot be cut further.
func finerBuckets(ctx context.Context, conns []*pgx.Conn, env *Env, parent schema.Buckets, r schema.Range, counts []int64) (schema.Buckets, bool, error) {
	rows := slices.Max(counts)
	fan := min(int64(env.Fanout), (rows+env.LeafRows-1)/env.LeafRows)
	if parent.Width > 0 {
		w := (parent.Width + fan - 1) / fan
		origin, _ := strconv.ParseInt(r.Lo[0], 10, 64) // integer bucket ranges always have a lower bound
		return schema.Buckets{Width: w, Origin: origin}, w < parent.Width, nil
	}
	node := slices.Index(counts, rows)
	step := (rows + fan - 1) / fan
	sql, args := env.SQL.KeySteps(r, step, int(fan))
	keys, err := collectKeys(ctx, conns[node], sql, args, len(env.SQL.T.Key))
	if err != nil {
		return schema.Buckets{}, false, fmt.Errorf("node %s: find split points in range %s of %s: %w", env.Nodes[node], describe(r), env.SQL.T, err)
	}
	// The last step key may be the range's last row; a bucket past it would be empty, which is harmless.
	return schema.Buckets{Splits: keys}, len(keys) > 0, nil
}

// collectKeys runs a query whose columns are exactly the key columns and returns their text forms.
func collectKeys(ctx context.Context, conn *pgx.Conn, sql string, args []any, n int) ([]schema.Key, error) {
	rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []schema.Key
	for rows.Next() {
		keys = append(keys, keyOf(rows.RawValues()[:n]))
	}
	return keys, rows.Err()
}

func keyOf(raw [][]byte) schema.Key {
	k := make(schema.Key, len(raw))
	for i, v := range raw {
		k[i] = string(v)
	}
	return k
}
