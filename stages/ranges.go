package stages

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
)

// Produce cuts the whole key space into the initial hash tasks, each about blockRows rows cut into
// Fanout buckets, and sends them to out in key order. It returns when every task is sent (the caller
// closes out) or ctx ends. coords[i] is node i's coordinator connection, in its snapshot; estRows is the
// planner's row estimate (<= 0 when unknown).
//
// A single integer key is cut arithmetically between the smallest and largest key of all nodes, which
// costs two index probes per node. Any other key takes every LeafRows-th key of the first node, streamed
// from one index scan, as bucket bounds; the first and last ranges are open, so a key that exists only
// on another node still falls in some range.
func Produce(ctx context.Context, coords []*pgx.Conn, env *Env, estRows float64, out chan<- HashTask) error {
	t := env.SQL.T
	if len(t.Key) == 1 {
		switch t.Columns[t.Key[0]].Base {
		case "int2", "int4", "int8":
			done, err := produceIntegers(ctx, coords, env, estRows, out)
			if done || err != nil {
				return err
			}
		}
	}
	if t.KeyScan {
		// No index serves range conditions on this key, so every range would cost a full scan: hash the
		// whole table once into buckets by key hash; differing buckets are read back in one more scan.
		n := int64(1)
		for n < 1<<18 && (estRows < 1 || float64(n*env.LeafRows) < estRows) {
			n <<= 1
		}
		return send(ctx, out, HashTask{Buckets: schema.Buckets{Hashed: n}})
	}
	return produceSampled(ctx, coords[0], env, out)
}

// maxIntegerRanges bounds the ranges an arithmetic cut may make; past it, statistics are too far off.
const maxIntegerRanges = 100000

func send(ctx context.Context, out chan<- HashTask, t HashTask) error {
	select {
	case out <- t:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// produceIntegers returns done=false when the key span is too wide for int8 arithmetic.
func produceIntegers(ctx context.Context, coords []*pgx.Conn, env *Env, estRows float64, out chan<- HashTask) (bool, error) {
	var lo, hi *int64
	for i, conn := range coords {
		var a, b *string
		if err := conn.QueryRow(ctx, env.SQL.MinMax()).Scan(&a, &b); err != nil {
			return false, fmt.Errorf("node %s: key bounds of %s: %w", env.Nodes[i], env.SQL.T, err)
		}
		if a == nil {
			continue
		}
		x, _ := strconv.ParseInt(*a, 10, 64)
		y, _ := strconv.ParseInt(*b, 10, 64)
		if lo == nil || x < *lo {
			lo = &x
		}
		if hi == nil || y > *hi {
			hi = &y
		}
	}
	if lo == nil {
		return true, nil // empty everywhere
	}
	span := new(big.Int).Sub(big.NewInt(*hi), big.NewInt(*lo))
	span.Add(span, big.NewInt(1))
	// Arithmetic cutting needs the row count to size buckets; without statistics (never analyzed) or
	// when the span is too wide for int8 arithmetic, the sampled cut is exact whatever the key spread.
	if estRows < 1 || !span.IsInt64() || span.Int64() > math.MaxInt64/4 {
		return false, nil
	}
	width := int64(math.Ceil(float64(span.Int64()) * float64(env.LeafRows) / estRows))
	width = max(1, min(width, span.Int64()))
	step := width * int64(env.Fanout)
	if span.Int64()/step > maxIntegerRanges {
		return false, nil // stale statistics: far more (mostly empty) ranges than rows justify
	}
	// The outer ranges are open: no key lies outside [lo, hi] in these snapshots, and a query without a
	// range condition lets the planner scan the table sequentially when one range covers all of it.
	for start := *lo; ; start += step {
		var r schema.Range
		if start != *lo {
			r.Lo = schema.Key{strconv.FormatInt(start, 10)}
		}
		last := step > *hi-start
		if !last {
			r.Hi = schema.Key{strconv.FormatInt(start+step, 10)}
		}
		if err := send(ctx, out, HashTask{Range: r, Buckets: schema.Buckets{Width: width, Origin: *lo}}); err != nil {
			return true, err
		}
		if last {
			return true, nil
		}
	}
}

func produceSampled(ctx context.Context, conn *pgx.Conn, env *Env, out chan<- HashTask) error {
	step, fanout := env.LeafRows, env.Fanout
	sql, args := env.SQL.KeySteps(schema.Range{}, step, 0)
	rows, err := conn.Query(ctx, sql, append([]any{pgx.QueryResultFormats{pgx.TextFormatCode}}, args...)...)
	if err != nil {
		return fmt.Errorf("node %s: split points of %s: %w", env.Nodes[0], env.SQL.T, err)
	}
	defer rows.Close()
	var lo schema.Key
	var splits []schema.Key
	nk := len(env.SQL.T.Key)
	for rows.Next() {
		k := keyOf(rows.RawValues()[:nk])
		if len(splits) < fanout-1 {
			splits = append(splits, k)
			continue
		}
		if err := send(ctx, out, HashTask{Range: schema.Range{Lo: lo, Hi: k}, Buckets: schema.Buckets{Splits: splits}}); err != nil {
			return err
		}
		lo, splits = k, nil
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("node %s: split points of %s: %w", env.Nodes[0], env.SQL.T, err)
	}
	return send(ctx, out, HashTask{Range: schema.Range{Lo: lo}, Buckets: schema.Buckets{Splits: splits}})
}
