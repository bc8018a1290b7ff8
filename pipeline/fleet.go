package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"

	"github.com/rowdiff/rowdiff/schema"
)

// fleet is a run's connections: per node a coordinator that exported the snapshot, and the worker
// sessions, every connection of a node inside that one snapshot.
type fleet struct {
	timeouts Timeouts
	nodes    []*node
	names    []string
	coords   []*pgx.Conn
	sessions []*session
	// starved says why there are fewer sessions than asked for ("" when there are not).
	starved string
	// zoneChecked is the --timestamp-zone every node has accepted, at the first table.
	zoneChecked string
	// relkinds are each looked-up table's relkind on every node, for the workers' locks (lockBeside).
	relkinds map[*schema.Table][]string
}

// closeCtx bounds closing connections even when the run's context is already cancelled. A responsive
// server takes milliseconds, and the cancel requests went out during cancelGrace already; an unresponsive
// one never answers, and waiting 5 s for it made an interrupted run take 6.6 s to exit, past the 2 s
// promised (found by an exploratory helper).
func closeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 500*time.Millisecond)
}

// openFleet connects to every node: first the coordinators (concurrently), then `workers` sessions. It
// returns what it opened even on error; the caller closes it.
func openFleet(ctx context.Context, nodes []Node, t Timeouts, workers int) (*fleet, error) {
	f := &fleet{coords: make([]*pgx.Conn, len(nodes)), timeouts: t}
	if err := t.check(); err != nil {
		return f, err
	}
	for _, n := range nodes {
		nd := &node{Node: n}
		f.nodes = append(f.nodes, nd)
		f.names = append(f.names, n.Name)
		if err := nd.configure(t); err != nil {
			return f, err
		}
	}
	// No cancel-on-error: cancelling the other nodes' setup would make them fail too, and their
	// "canceling statement due to user request" could be reported instead of the real cause. Every
	// step is bounded by the connect and statement timeouts.
	p := pool.New().WithContext(ctx).WithFirstError()
	for i, n := range f.nodes {
		p.Go(func(ctx context.Context) error {
			conn, snap, err := n.connect(ctx, "")
			f.coords[i], n.snapshot = conn, snap
			return err
		})
	}
	if err := p.Wait(); err != nil {
		return f, err
	}
	if err := f.sameDatabase(); err != nil {
		return f, err
	}
	f.sessions = make([]*session, workers)
	errs := make([][]error, workers) // per session, per node
	for i := range f.sessions {
		f.sessions[i] = &session{conns: make([]*pgx.Conn, len(f.nodes))}
		errs[i] = make([]error, len(f.nodes))
	}
	var wg conc.WaitGroup
	for i, s := range f.sessions {
		for j, nd := range f.nodes {
			wg.Go(func() { s.conns[j], _, errs[i][j] = nd.connect(ctx, nd.snapshot) })
		}
	}
	wg.Wait()
	return f, f.keepStarted(errs)
}

// sameDatabase refuses two nodes that reach one database: its diff with itself finds nothing, and a
// DSN pasted twice exited 0, "0 differences", as a replica in step would (found by an exploratory helper).
func (f *fleet) sameDatabase() error {
	for i, a := range f.nodes {
		for _, b := range f.nodes[i+1:] {
			if a.database == b.database {
				return fmt.Errorf("nodes %s and %s are one database (%s): give each node its own", a.Name, b.Name, a.database)
			}
		}
	}
	return nil
}

// keepStarted makes sessions of the connections that started their transaction. A connection that got
// none (errNoTransaction: a pooler with fewer server connections than rowdiff opens) is not an error as
// long as every node has one left: connections of a node are alike (all in its snapshot), so they are
// paired up again into fewer sessions, the extra ones closed, and f.starved says so. Any other error, or
// a node with none started, fails.
func (f *fleet) keepStarted(errs [][]error) error {
	var starved error
	var why []string // of fewer sessions, once each
	for _, row := range errs {
		for _, err := range row {
			switch {
			case errors.Is(err, errNoTransaction), errors.Is(err, errNoRoom):
				starved = cmp.Or(starved, err)
				reason := "no transaction started within --connect-timeout (a pooler with fewer server connections than --max-connections?)"
				if errors.Is(err, errNoRoom) {
					reason = "the server refused the others: " + errNoRoom.Error() + " (lower --max-connections)"
				}
				if !slices.Contains(why, reason) {
					why = append(why, reason)
				}
			case err != nil:
				return err
			}
		}
	}
	if starved == nil {
		return nil
	}
	started := make([][]*pgx.Conn, len(f.nodes))
	for _, s := range f.sessions {
		for j, c := range s.conns {
			if c != nil {
				started[j] = append(started[j], c)
			}
		}
	}
	n := len(f.sessions)
	var notes []string
	for j, cs := range started {
		n = min(n, len(cs))
		if len(cs) < len(f.sessions) {
			notes = append(notes, fmt.Sprintf("node %s started %d of %d worker transactions", f.names[j], len(cs), len(f.sessions)))
		}
	}
	ctx, cancel := closeCtx()
	defer cancel()
	sessions := make([]*session, n)
	for k := range sessions {
		sessions[k] = &session{conns: make([]*pgx.Conn, len(f.nodes))}
	}
	for j, cs := range started {
		for k, c := range cs {
			if k < n {
				sessions[k].conns[j] = c
			} else {
				closeConn(ctx, c, false)
			}
		}
	}
	f.sessions = sessions
	if n == 0 {
		return starved
	}
	f.starved = fmt.Sprintf("%s: %s", strings.Join(notes, ", "), strings.Join(why, "; "))
	return nil
}

// lockFirstRead takes on session s, before its first read of t, the locks it needs (lockBeside), where
// the run did not take them for every session as it started (runs of more than workerLockTables tables).
// A worker that queued behind DDL waiting for the run's own lock on t waited for it in turn: the run
// failed at --lock-timeout, or with --lock-timeout 0 hung (found by an exploratory helper, stopped at
// 73 s). Without waiting, it fails at once, saying why.
func (f *fleet) lockFirstRead(ctx context.Context, s *session, t *schema.Table) error {
	if s.locked[t] {
		return nil
	}
	for i, conn := range s.conns {
		if err := lockBeside(ctx, conn, f.names[i], t, f.relkinds[t][i], f.timeouts.Lock); err != nil {
			return err
		}
	}
	if s.locked == nil {
		s.locked = map[*schema.Table]bool{}
	}
	s.locked[t] = true
	return nil
}

// close closes every connection and records the bytes each node sent. After a run that succeeded
// (failed is nil), each connection ends its transaction first, all together (one after another, they
// would add up to ten round trips to a run's end): a pooler in transaction mode closes a server connection
// its client leaves inside a transaction, and after each run through PgBouncer the pool's next clients
// waited for new backends (TestThroughPgBouncer). After a failure or an interrupt they are only closed: a
// node that does not answer would hold the exit for closeCtx's bound, past the 2 s an interrupt promises.
func (f *fleet) close(sum *Summary, failed error) {
	ctx, cancel := closeCtx()
	defer cancel()
	var wg conc.WaitGroup
	for _, s := range f.sessions {
		for _, c := range s.conns {
			wg.Go(func() { closeConn(ctx, c, failed == nil) })
		}
	}
	for _, c := range f.coords {
		wg.Go(func() { closeConn(ctx, c, failed == nil) })
	}
	wg.Wait()
	if sum == nil {
		return
	}
	sum.Nodes = make([]NodeSummary, len(f.nodes))
	for i, n := range f.nodes {
		sum.Nodes[i] = NodeSummary{Name: n.Name, Rows: sum.rows(i), BytesReceived: n.received.Load()}
	}
}

// missingTable is the error of a table that some nodes lack (noTable among errs, one per node), naming
// every such node: the first to answer was named, another from run to run, as if the others had the
// table (found by an exploratory helper).
func (f *fleet) missingTable(errs []error) error {
	var on []string
	var missing noTable
	for i, err := range errs {
		if errors.As(err, &missing) {
			on = append(on, f.names[i])
		}
	}
	switch {
	case len(on) == 0:
		return nil
	case len(on) == len(errs):
		return fmt.Errorf("%w on any node", missing)
	case len(on) == 1:
		return fmt.Errorf("node %s: %w", on[0], missing)
	}
	return fmt.Errorf("nodes %s: %w", strings.Join(on, ", "), missing)
}

// table inspects the named table on every node and returns the comparison target and the largest
// planner row estimate.
func (f *fleet) table(ctx context.Context, name string, sel Selection) (*schema.Table, float64, error) {
	schemaName, tableName, err := schema.ParseQualified(name)
	if err != nil {
		return nil, 0, err
	}
	return f.tableIn(ctx, schemaName, tableName, sel)
}

// tableIn is table for a schema and table name already apart ("" schema: the search path).
func (f *fleet) tableIn(ctx context.Context, schemaName, tableName string, sel Selection) (*schema.Table, float64, error) {
	remotes := make([]*remoteTable, len(f.nodes))
	errs := make([]error, len(f.nodes))
	var wg conc.WaitGroup
	for i, conn := range f.coords {
		wg.Go(func() { remotes[i], errs[i] = inspect(ctx, conn, schemaName, tableName, i == 0) })
	}
	wg.Wait()
	if err := f.missingTable(errs); err != nil {
		return nil, 0, err
	}
	for i, err := range errs {
		if err != nil {
			return nil, 0, fmt.Errorf("node %s: %w", f.names[i], err)
		}
	}
	for i, r := range remotes {
		r.encoding = f.nodes[i].encoding
	}
	t, err := buildTable(f.names, remotes, sel)
	if err != nil {
		return nil, 0, err
	}
	if f.relkinds == nil {
		f.relkinds = map[*schema.Table][]string{}
	}
	for _, r := range remotes {
		f.relkinds[t] = append(f.relkinds[t], r.relkind)
	}
	// Where no index serves the key the check scans the relation: every node at once, as the inspection above.
	p := pool.New().WithContext(ctx).WithFirstError()
	for i, conn := range f.coords {
		p.Go(func(ctx context.Context) error {
			if sel.lock {
				if err := lockTable(ctx, conn, f.names[i], t, remotes[i].relkind); err != nil {
					return err
				}
			}
			if sel.lockWorkers {
				for _, s := range f.sessions {
					if err := lockBeside(ctx, s.conns[i], f.names[i], t, remotes[i].relkind, f.timeouts.Lock); err != nil {
						return err
					}
				}
			}
			return checkNullKeys(ctx, conn, f.names[i], remotes[i], t, sel.where)
		})
	}
	if err := p.Wait(); err != nil {
		return nil, 0, err
	}
	if zone := sel.TimestampZone; zone != "" && zone != f.zoneChecked {
		// A bare number is an offset west of UTC to AT TIME ZONE (POSIX), which the diff reads timestamps
		// with, and east of it as the TimeZone a repair script sets: '5' was UTC-5 in the diff and UTC+5 in
		// the script, which shifted the repaired rows by ten hours (found by an exploratory helper).
		if bareOffset.MatchString(zone) {
			return nil, 0, fmt.Errorf("--timestamp-zone %q: a bare number means an offset west of UTC to AT TIME ZONE and east "+
				"of it to TimeZone; name the zone (Asia/Karachi) or write its POSIX form (UTC-5 for 5 hours east of UTC)", zone)
		}
		// Before any query holds the zone: a name some node does not know would fail every range. Given
		// where no column needs it, it is checked all the same: a mistyped zone passed without a word.
		for i, conn := range f.coords {
			var v time.Time
			if err := conn.QueryRow(ctx, "SELECT 'epoch'::timestamp AT TIME ZONE $1", zone).Scan(&v); err != nil {
				return nil, 0, fmt.Errorf("node %s: --timestamp-zone %q: %w", f.names[i], zone, err)
			}
		}
		f.zoneChecked = zone
	}
	var est float64
	for _, r := range remotes {
		est = max(est, r.reltuples)
	}
	return t, est, nil
}

// bareOffset is a --timestamp-zone that is a number of hours alone ("5", "+5", "-7", "5.5").
var bareOffset = regexp.MustCompile(`^\s*[+-]?[0-9]+(\.[0-9]+)?\s*$`)

// recordTableSQL finds the tables an output record's table name ($1) can mean: the one it names as
// Table.String writes names ($2 and $3, its schema and name, or "" where $1 is not so written), and those
// it names as earlier versions wrote them, unquoted, where a dot inside either name leaves more than one
// way to split it.
const recordTableSQL = `
SELECT n.nspname, c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE (pg_catalog.concat(n.nspname, '.', c.relname) = $1::pg_catalog.text OR (n.nspname = $2 AND c.relname = $3)) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
LIMIT 2`

// recordTable inspects, like table, the table an earlier run's output names (see recordTableSQL); where
// the name can mean two tables, it fails naming both. A name with a quote was parsed as --table parses
// it, and an unquoted name of an earlier version's output holding a quote ("q", written public."q") was
// read as another table, public.q: a recheck missed its difference, and a repair deleted from the other
// table (found by an exploratory helper). So a parsed name counts only where it is written back alike.
func (f *fleet) recordTable(ctx context.Context, name string, sel Selection) (*schema.Table, error) {
	var parsedSchema, parsedName string
	if s, n, err := schema.ParseQualified(name); err == nil && s != "" && (&schema.Table{Schema: s, Name: n}).String() == name {
		parsedSchema, parsedName = s, n
	}
	rows, err := f.coords[0].Query(ctx, recordTableSQL, name, parsedSchema, parsedName)
	if err != nil {
		return nil, fmt.Errorf("node %s: look up table %s: %w", f.names[0], name, err)
	}
	type qualified struct{ schema, table string }
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (qualified, error) {
		var q qualified
		return q, r.Scan(&q.schema, &q.table)
	})
	ident := func(q qualified) string { return schema.QuoteIdent(q.schema) + "." + schema.QuoteIdent(q.table) }
	switch {
	case err != nil:
		return nil, fmt.Errorf("node %s: look up table %s: %w", f.names[0], name, err)
	case len(found) == 0:
		return nil, fmt.Errorf("node %s: table %s does not exist", f.names[0], name)
	case len(found) > 1:
		return nil, fmt.Errorf("node %s: table name %s is ambiguous: it means both %s and %s", f.names[0], name, ident(found[0]), ident(found[1]))
	}
	t, _, err := f.tableIn(ctx, found[0].schema, found[0].table, sel)
	return t, err
}

// bytesNodes are the nodes whose server encoding is SQL_ASCII, whose text rowdiff reads as bytes.
func (f *fleet) bytesNodes() []string {
	var out []string
	for i, n := range f.nodes {
		if n.encoding == sqlASCII {
			out = append(out, f.names[i])
		}
	}
	return out
}

// sql returns the query builder for t; text is hashed as UTF-8 when the nodes' encodings differ. Its
// hashes start from a seed of its own (schema.SQL.Seed).
func (f *fleet) sql(t *schema.Table, exact bool, where string) *schema.SQL {
	q := &schema.SQL{T: t, Exact: exact, Where: where, Seed: rand.Int64()}
	for _, n := range f.nodes {
		q.NormalizeEncoding = q.NormalizeEncoding || n.encoding != f.nodes[0].encoding
	}
	return q
}

// schemaTablesSQL lists the tables, views, materialized views and foreign tables of the schemas $1 with
// their schema, whether each has a key (a primary key, or an index that can stand for one), whether it is
// partitioned, whether it is a table, and its ancestors (the tables it inherits from, directly or not:
// partitioned tables for a partition, parents for an inheritance child), as two arrays of schema and
// table names.
const schemaTablesSQL = `
WITH RECURSIVE keyed AS (
    SELECT DISTINCT i.indrelid FROM pg_catalog.pg_index i WHERE i.indisprimary OR (` + keyIndexCond + `)),
listed AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = ANY ($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')),
up(oid, parent) AS (
    SELECT l.oid, i.inhparent FROM listed l JOIN pg_catalog.pg_inherits i ON i.inhrelid = l.oid
    UNION SELECT up.oid, i.inhparent FROM up JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.parent)
SELECT l.nspname, l.relname, l.oid IN (SELECT * FROM keyed), l.relkind = 'p', l.relkind IN ('r', 'p'),
       coalesce(pg_catalog.array_agg(pn.nspname::text) FILTER (WHERE pc.oid IS NOT NULL), '{}'),
       coalesce(pg_catalog.array_agg(pc.relname::text) FILTER (WHERE pc.oid IS NOT NULL), '{}')
FROM listed l LEFT JOIN up ON up.oid = l.oid
LEFT JOIN pg_catalog.pg_class pc ON pc.oid = up.parent LEFT JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
GROUP BY l.oid, l.nspname, l.relname, l.relkind`

// schemaTables lists the tables of the schemas on every node, schema by schema in the order given and
// each schema's by name (COLLATE "C"): those on every node as quoted names to diff if they have a key on
// some node, and as skipped if not; the others as missing ("s.t: not on b"), which cannot be
// diffed. Listing the first node's alone let a run call two schemas identical when the second node had a
// table more. A table that the diff of one of its ancestors compares already, on every node that has it,
// is left out: an ancestor of the run, partitioned on some node (which makes its diff read it whole on
// every node, see schema.Table.From) and with a key on some node. Listed too, each of a partition's
// differences was reported twice, under the root and the partition, and repaired twice; and where a node
// held them as partitions and another as inheritance children (a move to declarative partitioning), or as
// partitions of a root with no key of its own there, they were missing on the other node, and the run
// exited 1 on equal tables (found by exploratory helpers), as it did for the partitions of a partitioned
// table that is a partition itself. A table that is another's descendant on some nodes only (a partition
// detached on one) is compared on its own: left out, its rows there were compared nowhere.
func (f *fleet) schemaTables(ctx context.Context, schemas []string) (found, skipped, missing []string, err error) {
	type table struct{ schema, name string }
	on := map[table][]int{} // the nodes that have each table
	keyed, partitioned, isTable := map[table]bool{}, map[table]bool{}, map[table]bool{}
	ancestors := map[table]map[int][]table{} // per node
	for i, conn := range f.coords {
		rows, _ := conn.Query(ctx, schemaTablesSQL, schemas)
		var tb table
		var hasKey, isPartitioned, aTable bool
		var ancSchemas, ancNames []string
		_, err := pgx.ForEachRow(rows, []any{&tb.schema, &tb.name, &hasKey, &isPartitioned, &aTable, &ancSchemas, &ancNames}, func() error {
			// On any node: the diff takes another node's primary key where the first has none.
			keyed[tb] = keyed[tb] || hasKey
			partitioned[tb] = partitioned[tb] || isPartitioned
			isTable[tb] = isTable[tb] || aTable
			if ancestors[tb] == nil {
				ancestors[tb] = map[int][]table{}
			}
			for j := range ancSchemas {
				ancestors[tb][i] = append(ancestors[tb][i], table{ancSchemas[j], ancNames[j]})
			}
			on[tb] = append(on[tb], i)
			return nil
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("node %s: list the tables of schemas %s: %w", f.names[i], strings.Join(schemas, ", "), err)
		}
	}
	// A view, a materialized view or a foreign table counts where another node has a table of its name,
	// as a copy of it (--table compares it): that node's table was missing "on" the node that had it as
	// one of these, and the run exited 1 on equal rows (found by an exploratory helper). Elsewhere it is
	// not a table of the schema.
	for tb := range on {
		if !isTable[tb] {
			delete(on, tb)
		}
	}
	// covering: schemas holding tables that their ancestors' diffs compare. A schema of such partitions
	// alone has tables, which it was said not to have.
	// Decided on the tables as listed, before any is left out: an ancestor left out itself is covered by one
	// of its own, which is the table's too. Leaving tables out as they were decided made the outcome
	// depend on map order (found by an exploratory helper).
	covering := map[string]bool{}
	var covered []table
	for tb, byNode := range ancestors {
		reads := func(a table) bool {
			if len(on[a]) != len(f.coords) || !keyed[a] || !partitioned[a] {
				return false
			}
			for _, i := range on[tb] {
				if !slices.Contains(byNode[i], a) {
					return false
				}
			}
			return true
		}
		if len(on[tb]) > 0 && slices.ContainsFunc(byNode[on[tb][0]], reads) { // none: not a table (see above)
			covered = append(covered, tb)
		}
	}
	for _, tb := range covered {
		delete(on, tb)
		covering[tb.schema] = true
	}
	for _, s := range schemas {
		var names []string
		for tb := range on {
			if tb.schema == s {
				names = append(names, tb.name)
			}
		}
		if len(names) == 0 && !covering[s] {
			return nil, nil, nil, fmt.Errorf("schema %s has no tables on any node", schema.QuoteIdentIfNeeded(s))
		}
		slices.Sort(names) // byte order, as COLLATE "C" sorts
		for _, name := range names {
			tb := table{s, name}
			named := (&schema.Table{Schema: s, Name: name}).String() // as the run's records name tables
			switch {
			case len(on[tb]) < len(f.coords):
				var absent []string
				for i, n := range f.names {
					if !slices.Contains(on[tb], i) {
						absent = append(absent, n)
					}
				}
				missing = append(missing, fmt.Sprintf("%s: not on %s", named, strings.Join(absent, ", ")))
			case keyed[tb]:
				found = append(found, schema.QuoteIdent(s)+"."+schema.QuoteIdent(name))
			default:
				skipped = append(skipped, named)
			}
		}
	}
	return found, skipped, missing, nil
}
