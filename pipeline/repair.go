package pipeline

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/stages"
)

// RepairConfig turns an earlier diff into a script that makes Target equal Source for its keys.
type RepairConfig struct {
	In             string // JSON Lines output of diff or recheck
	Source, Target string // node names
	Nodes          []Node
	Timeouts       Timeouts
}

// Script receives the repair, key by key; Commit or Abort is called once at the end.
type Script interface {
	Upsert(t *schema.Table, row schema.Row) error
	Delete(t *schema.Table, key schema.Key) error
	Commit(tables []string, started time.Time) error
	Abort() error
}

// RepairSummary counts what the script does.
type RepairSummary struct {
	Keys, Upserts, Deletes int64
}

// Repair re-reads the source's current rows for every key in cfg.In (the file's rows are not trusted:
// they may be stale) and writes an upsert where the source has the key and a delete where it does not.
// The target is read only to check that its table definition matches the source's.
func Repair(ctx context.Context, cfg RepairConfig, script Script) (RepairSummary, error) {
	var sum RepairSummary
	started := time.Now()
	err := repair(ctx, cfg, script, &sum, started)
	if err != nil {
		script.Abort()
		return sum, err
	}
	return sum, nil
}

func repair(ctx context.Context, cfg RepairConfig, script Script, sum *RepairSummary, started time.Time) error {
	pick := func(name string) (Node, error) {
		i := slices.IndexFunc(cfg.Nodes, func(n Node) bool { return n.Name == name })
		if i < 0 {
			return Node{}, fmt.Errorf("no --node named %q", name)
		}
		return cfg.Nodes[i], nil
	}
	src, err := pick(cfg.Source)
	if err != nil {
		return err
	}
	dst, err := pick(cfg.Target)
	if err != nil {
		return err
	}
	if src.Name == dst.Name {
		return fmt.Errorf("--source and --target are both %q", src.Name)
	}
	f, err := openFleet(ctx, []Node{src, dst}, cfg.Timeouts, 1)
	defer f.close(nil)
	if err != nil {
		return err
	}
	r, err := openKeys(cfg.In)
	if err != nil {
		return err
	}
	defer r.close()
	envs := map[tableKey]*stages.Env{}
	var names []string
	var batch []schema.Key
	var cur tableKey
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		env := envs[cur]
		t := env.SQL.T
		next := 0 // batch is sorted like the fetch, so keys absent on the source are the ones skipped
		slices.SortFunc(batch, t.CompareKeys)
		batch = slices.CompactFunc(batch, func(a, b schema.Key) bool { return t.CompareKeys(a, b) == 0 })
		deleteUpTo := func(stop int) error {
			for ; next < stop; next++ {
				if err := script.Delete(t, batch[next]); err != nil {
					return err
				}
				sum.Deletes++
			}
			return nil
		}
		err := stages.FetchRows(ctx, f.sessions[0].conns[0], env, src.Name, batch, func(k schema.Key, row schema.Row) error {
			at, _ := slices.BinarySearchFunc(batch, k, t.CompareKeys)
			if err := deleteUpTo(at); err != nil {
				return err
			}
			next = at + 1
			sum.Upserts++
			return script.Upsert(t, row)
		})
		if err == nil {
			err = deleteUpTo(len(batch))
		}
		sum.Keys += int64(len(batch))
		batch = batch[:0]
		return err
	}
	for {
		rec, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		tk := rec.tableKey()
		if tk != cur || len(batch) == recheckBatch {
			if err := flush(); err != nil {
				return err
			}
			cur = tk
		}
		if envs[tk] == nil {
			schemaName, tableName, _ := strings.Cut(rec.Table, ".")
			t, _, err := f.table(ctx, schema.QuoteIdent(schemaName)+"."+schema.QuoteIdent(tableName), Selection{Key: rec.Columns})
			if err != nil {
				return err
			}
			envs[tk] = &stages.Env{SQL: f.sql(t, false, ""), Nodes: f.names, Stats: stages.NewStats(2)}
			names = append(names, t.String())
		}
		batch = append(batch, rec.Key)
	}
	if err := flush(); err != nil {
		return err
	}
	return script.Commit(names, started)
}
