package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/stages"
)

// RepairConfig turns an earlier diff into a script that makes Target equal Source for its keys.
type RepairConfig struct {
	In             string // JSON Lines output of diff or recheck
	Source, Target string // node names
	Nodes          []Node
	Timeouts       Timeouts
	// Selection's columns and zone (--columns, --exclude-columns, --timestamp-zone): the script writes only
	// the columns it compares, and an INSERT leaves the others to their defaults. The key is taken from
	// the records.
	Selection Selection
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
		return sum, hinted(err)
	}
	return sum, nil
}

func repair(ctx context.Context, cfg RepairConfig, script Script, sum *RepairSummary, started time.Time) (err error) {
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
	order, compared, err := tablesIn(ctx, cfg.In)
	if err != nil {
		return err
	}
	for i, tk := range order {
		// Records of two runs keyed apart (--key b,a against the primary key (a, b)): the script orders
		// statements by table, and failed naming the table twice (found by an exploratory helper).
		if j := slices.IndexFunc(order[:i], func(o tableKey) bool { return o.name == tk.name }); j >= 0 {
			return fmt.Errorf("--in lists %s by two keys, (%s) and (%s): records of two runs? Repair from one run's output",
				tk.name, strings.Join(order[j].columns(), ", "), strings.Join(tk.columns(), ", "))
		}
	}
	f, err := openFleet(ctx, []Node{src, dst}, cfg.Timeouts, 1)
	defer func() { f.close(nil, err) }()
	if err != nil {
		return err
	}
	if err := lossyNames(order, compared, f.bytesNodes()); err != nil {
		return err
	}
	// Every table and their foreign keys are looked up before any row is read: the coordinators are not
	// used again, so a repair that outlasts --idle-timeout does not need one the server has ended. Looked
	// up at each table's first record, the second table of a repair failed when the first took longer.
	envs := map[tableKey]*stages.Env{}
	var tables []*schema.Table
	sel := cfg.Selection
	sel.manyTables = len(order) > 1
	for _, tk := range order {
		sel.Key, sel.Target = tk.columns(), dst.Name
		t, err := f.recordTable(ctx, tk.name, sel)
		if err != nil {
			return err
		}
		if err := sameColumns(t, compared[tk]); err != nil {
			return err
		}
		envs[tk] = &stages.Env{SQL: f.sql(t, false, ""), Nodes: f.names, Stats: stages.NewStats(len(f.names))}
		tables = append(tables, t)
	}
	if err := excludedSomewhere(sel, tables); err != nil {
		return err
	}
	refs, err := readReferences(ctx, f.coords[1], tables)
	if err != nil {
		return fmt.Errorf("node %s: read the foreign keys between the tables: %w", dst.Name, err)
	}
	locked := firstRead{}
	err = eachBatch(cfg.In, recheckBatch, f.bytesNodes(), func(first keyRecord, batch []schema.Key) error {
		env := envs[first.tableKey()]
		t := env.SQL.T
		// Sorted like the fetch, the keys absent on the source are the ones the fetch skips over.
		slices.SortFunc(batch, t.CompareKeys)
		batch = slices.CompactFunc(batch, func(a, b schema.Key) bool { return t.CompareKeys(a, b) == 0 })
		next := 0
		deleteUpTo := func(stop int) error {
			for ; next < stop; next++ {
				if err := script.Delete(t, batch[next]); err != nil {
					return err
				}
				sum.Deletes++
			}
			return nil
		}
		// The target is not read: only the source's rows are.
		if err := locked.lock(ctx, first.tableKey(), f.sessions[0].conns[:1], []string{src.Name}, f.relkinds[t][:1], t); err != nil {
			return err
		}
		err := stages.FetchRows(ctx, f.sessions[0].conns[0], env, src.Name, batch, func(k schema.Key, row schema.Row) error {
			at, found := slices.BinarySearchFunc(batch, k, t.CompareKeys)
			if !found || at < next {
				// Skipping on would leave batch[at] neither upserted nor deleted.
				return fmt.Errorf("node %s returned key %q, which the repair did not ask for (or twice)", src.Name, k)
			}
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
		return err
	})
	if err != nil {
		return err
	}
	return script.Commit(refs.referencedFirst(tables), started)
}

// foreignKeysSQL lists the foreign keys between the tables named $1 (quoted identifiers) that are not
// deferrable, as pairs of their positions in $1: the referencing table's, then the referenced one's. The
// script defers the deferrable ones to its COMMIT (SET CONSTRAINTS ALL DEFERRED), so only the others
// order its statements: counted, a deferrable key that closed a cycle of tables left them in the input's
// order, and a script inserting items before their orders failed (found by an exploratory helper).
const foreignKeysSQL = `
WITH t AS (SELECT n, pg_catalog.to_regclass(x)::pg_catalog.oid AS oid FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS u(x, n))
SELECT DISTINCT a.n - 1, b.n - 1
FROM pg_catalog.pg_constraint c JOIN t a ON a.oid = c.conrelid JOIN t b ON b.oid = c.confrelid
WHERE c.contype = 'f' AND NOT c.condeferrable`

// references holds which tables reference which through their foreign keys on the target: refs[i] are
// the positions of the tables table i references.
type references [][]int

// readReferences reads the foreign keys between tables from conn, and marks the tables that reference
// themselves through one that is not deferrable.
func readReferences(ctx context.Context, conn *pgx.Conn, tables []*schema.Table) (references, error) {
	idents := make([]string, len(tables))
	for i, t := range tables {
		idents[i] = t.Ident()
	}
	refs := make(references, len(tables))
	rows, _ := conn.Query(ctx, foreignKeysSQL, idents)
	var from, to int
	_, err := pgx.ForEachRow(rows, []any{&from, &to}, func() error {
		if from == to {
			tables[from].SelfReferencing = true
		} else {
			refs[from] = append(refs[from], to)
		}
		return nil
	})
	return refs, err
}

// referencedFirst orders the names of tables so that a table comes after every table it references,
// keeping their order otherwise; the tables of a cycle of foreign keys stay in their order, after the
// others.
func (r references) referencedFirst(tables []*schema.Table) []string {
	placed := make([]bool, len(tables))
	var order []string
	for progress := true; progress; {
		progress = false
		for i, t := range tables {
			if !placed[i] && !slices.ContainsFunc(r[i], func(j int) bool { return !placed[j] }) {
				placed[i], progress = true, true
				order = append(order, t.String())
			}
		}
	}
	for i, t := range tables {
		if !placed[i] {
			order = append(order, t.String())
		}
	}
	return order
}
