package pipeline

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/stages"
)

// Node is one copy of the table: a name for messages and output, and a libpq-style DSN.
type Node struct {
	Name string
	DSN  string
}

// Timeouts bound how long rowdiff may wait on, or hold, anything on a server.
type Timeouts struct {
	Connect         time.Duration
	Statement       time.Duration
	Lock            time.Duration
	IdleTransaction time.Duration
}

// maxTimeout is the longest timeout PostgreSQL takes, in whole milliseconds in an int.
const maxTimeout = math.MaxInt32 * time.Millisecond

// check refuses timeouts the servers would refuse, later and in a node's name ("node b: begin: -1000 ms
// is outside the valid range"), and an --idle-timeout too short for a run to start.
func (t Timeouts) check() error {
	// Below minIdleTimeout, a coordinator waiting for its workers to connect and import its snapshot was
	// ended by the server first (a helper's runs: 50 ms, "invalid snapshot identifier"; 100 ms, one in
	// three).
	// The others take any positive duration, a fraction of a millisecond counting as one (ms).
	for _, f := range []struct {
		flag     string
		d, least time.Duration
	}{{"--connect-timeout", t.Connect, 0}, {"--statement-timeout", t.Statement, 0}, {"--lock-timeout", t.Lock, 0},
		{"--idle-timeout", t.IdleTransaction, minIdleTimeout}} {
		if f.d < 0 || f.d > maxTimeout || f.d != 0 && f.d < f.least {
			return fmt.Errorf("%s %v: give a duration from %v to %v, or 0 for no limit", f.flag, f.d, max(f.least, time.Millisecond), maxTimeout)
		}
	}
	return nil
}

// minIdleTimeout is the shortest --idle-timeout: sessions wait between statements while others connect
// and work, and rowdiff's pings keep them alive only once a table runs.
const minIdleTimeout = time.Second

// node is a connected Node: its coordinator holds the exported snapshot every worker imports.
type node struct {
	Node
	cfg *pgx.ConnConfig
	// settings are the SET LOCAL statements every transaction starts with (pinned), of which the
	// timeoutAt-th (from 1) sets rowdiff's statement_timeout.
	settings  string
	timeoutAt int
	snapshot  string
	encoding  string
	// server is what serverSQL said on the coordinator's session.
	server string
	// database is databaseSQL's answer there.
	database string
	received atomic.Int64
}

// anotherServer says why a session may not share its node's snapshot.
const anotherServer = "every session of a node must reach the server that exported its snapshot: give the node one host " +
	"in its DSN, not several or an address that balances over several servers"

// serverSQL tells one server from another: when it started, its port and, over TCP, its address. Every
// session of a node must reach the server that exported the node's snapshot: with a DSN of several hosts,
// a worker turned away by the first (a role's connection limit) went on to the next, where the import of
// the snapshot fails, or, where that server had exported a snapshot of the same identifier (another node
// of the run), succeeded: the node's rows were read from the other node, and a diff of differing tables
// exited 0 (found by an exploratory helper). An address that balances over several servers does the same.
const serverSQL = `SELECT pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time())::text || ', port ' ||
    pg_catalog.current_setting('port') || coalesce(', address ' || pg_catalog.host(pg_catalog.inet_server_addr()), '')`

// databaseSQL tells one database from another, whichever address or socket reaches its server (see
// sameDatabase).
const databaseSQL = `SELECT 'database ' || pg_catalog.quote_ident(pg_catalog.current_database()) || ' of the server on port ' ||
    pg_catalog.current_setting('port') || ' started at ' ||
    pg_catalog.to_char(pg_catalog.pg_postmaster_start_time() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || ' UTC'`

// nodeConn is a connection to a node: it counts the bytes the node sends, for the summary and the
// benchmark, and bounds how long a read waits for them (stall).
type nodeConn struct {
	net.Conn
	n *atomic.Int64
	// stall is the longest a read may wait for the node, 0 for no limit: --statement-timeout and
	// stallGrace. The server ends any statement by then, answering with an error if nothing else; a node
	// that has not answered is frozen (a stopped process, a stalled proxy) behind a connection its
	// kernel keeps alive, which the keepalive probes cannot see. Stalled while rowdiff exported its
	// snapshot or looked up its tables, a node held the run without limit (found by an exploratory
	// helper). The wait starts over while the query is still on its way (unsent): over a slow link,
	// healthy runs failed as stalled.
	stall time.Duration
	// waiting is set while a transaction starts (node.begin): a pooler answers only once it has a server
	// connection free, which --connect-timeout bounds instead.
	waiting atomic.Bool
	// stalled is set once a read gave up: every later read fails at once, or pgx, which reads again
	// after a timeout in some paths, waited twice as long.
	stalled atomic.Bool
	mu      sync.Mutex
	// deadline is the one pgx or the canceller set, which a read keeps where it comes sooner.
	deadline time.Time
}

// closedByPeer returns the error of a connection its node has closed (peerClosed), nil while it is open:
// the server's own ErrorResponse where it sent one first (terminating connection due to ...), which pgx
// would have read. Through TLS those bytes cannot be read, and the error just says the server closed it.
func closedByPeer(c *pgx.Conn) error {
	if c == nil {
		return nil
	}
	n := connOf(c)
	if n == nil {
		return nil
	}
	sc, ok := n.Conn.(syscall.Conn)
	if !ok {
		return nil
	}
	_, encrypted := c.PgConn().Conn().(*tls.Conn)
	closed, pending := peerClosed(sc)
	if !closed {
		return nil
	}
	if pe := serverError(pending); pe != nil && !encrypted {
		return pe
	}
	return errPeerClosed
}

// errPeerClosed is a connection the server closed without saying why.
var errPeerClosed = errors.New("the server closed the connection (it stopped, or ended the session)")

// serverError is the ErrorResponse that ends b, the last bytes a server sent before it closed the
// connection, or nil. b may start inside a message pgx has begun to read, so it is read from its end: the
// last message ends where b does. Only a whole error counts, with its unlocalized severity, SQLSTATE and
// message: the tail of a cut stream of rows can look like an empty one (a DataRow whose length ends in 'E'
// and whose first column's length starts with a zero byte; found by a re-test helper).
func serverError(b []byte) *pgconn.PgError {
	for i := len(b) - 5; i >= 0; i-- {
		if b[i] != 'E' || int(binary.BigEndian.Uint32(b[i+1:i+5])) != len(b)-i-1 {
			continue
		}
		var msg pgproto3.ErrorResponse
		if msg.Decode(b[i+5:]) == nil && len(msg.Code) == 5 && msg.Message != "" &&
			(msg.SeverityUnlocalized == "FATAL" || msg.SeverityUnlocalized == "PANIC" || msg.SeverityUnlocalized == "ERROR") {
			return pgconn.ErrorResponseToPgError(&msg)
		}
	}
	return nil
}

// stallGrace is how much longer than --statement-timeout a read waits for a node.
const stallGrace = 10 * time.Second

// errStalled is a node that sent nothing for longer than any statement may take.
var errStalled = errors.New("the node sent nothing for longer than --statement-timeout allows a statement (and 10s more): " +
	"the server, or the network to it, has stalled")

func (c *nodeConn) Read(p []byte) (int, error) {
	if c.stalled.Load() {
		return 0, fmt.Errorf("%w (%w)", os.ErrDeadlineExceeded, errStalled)
	}
	for {
		var own time.Time
		if c.stall > 0 && !c.waiting.Load() {
			own = time.Now().Add(c.stall)
		}
		c.mu.Lock()
		d := c.deadline
		if !own.IsZero() && (d.IsZero() || own.Before(d)) {
			d = own
		} else {
			own = time.Time{}
		}
		c.mu.Unlock()
		if err := c.Conn.SetReadDeadline(d); err != nil {
			return 0, err
		}
		k, err := c.Conn.Read(p)
		c.n.Add(int64(k))
		if own.IsZero() || !errors.Is(err, os.ErrDeadlineExceeded) || time.Now().Before(own) {
			return k, err
		}
		if sc, ok := c.Conn.(syscall.Conn); ok && k == 0 && unsent(sc) > 0 {
			continue
		}
		c.stalled.Store(true)
		return k, fmt.Errorf("%w (%w)", err, errStalled)
	}
}

// connOf is the nodeConn under a pgx connection, TLS or not, or nil.
func connOf(conn *pgx.Conn) *nodeConn {
	nc := conn.PgConn().Conn()
	if t, ok := nc.(*tls.Conn); ok {
		nc = t.NetConn()
	}
	c, _ := nc.(*nodeConn)
	return c
}

func (c *nodeConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetDeadline(t)
}

func (c *nodeConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.Conn.SetReadDeadline(t)
}

func (c *nodeConn) setDeadline(t time.Time) {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
}

func ms(d time.Duration) string {
	// Rounded up: a timeout under 1 ms was 0, which the server takes for no limit.
	return strconv.FormatInt(int64((d+time.Millisecond-1)/time.Millisecond), 10)
}

// pinned is the SET LOCAL statements of every setting the equality definition and safety depend on: the
// text settings (schema.TextSettings) and rowdiff's own, and which of them (from 1) sets statement_timeout.
// The transaction is READ ONLY itself.
func pinned(t Timeouts) (string, int) {
	settings := append(slices.Clone(schema.TextSettings), [][2]string{
		// A row-level security policy would hide rows from rowdiff's role, and the hidden rows would
		// compare as equal (or as missing) without a word. Off, a query that a policy would filter
		// fails instead, as pg_dump's do; roles that bypass RLS, and table owners, read every row.
		{"row_security", "off"},
		// --where's strings as schema.CheckWhere reads them: off on a node, a backslash escaped the
		// quote after it, and a filter that checked out as one expression closed rowdiff's parenthesis
		// (found by an exploratory helper). rowdiff's own literals read alike either way.
		{"standard_conforming_strings", "on"},
		{"statement_timeout", ms(t.Statement)},
		{"lock_timeout", ms(t.Lock)},
		{"idle_in_transaction_session_timeout", ms(t.IdleTransaction)},
		// Range bounds are parameters: custom plans let the planner see them and pick an index or a
		// seq scan.
		{"plan_cache_mode", "force_custom_plan"},
		// JIT compilation costs more than it saves on rowdiff's many short range queries.
		{"jit", "off"},
		// rowdiff already spreads its work over --concurrency sessions per node; parallel workers would
		// multiply its load on the server behind the operator's back. They also made a compare of 128
		// bucket ranges 3x slower (17 ms against 6 ms): a Parallel Bitmap Heap Scan pays for starting
		// its workers.
		{"max_parallel_workers_per_gather", "0"},
	}...)
	var b strings.Builder
	timeoutAt := 0
	for i, kv := range settings {
		fmt.Fprintf(&b, "; SET LOCAL %s = %s", kv[0], schema.QuoteLiteral(kv[1]))
		if kv[0] == "statement_timeout" {
			timeoutAt = i + 1
		}
	}
	// rowdiff's SQL calls built-in functions and operators by name, as --where may: a schema before
	// pg_catalog in the session's search_path (a role's setting, PGOPTIONS) could put its own
	// hashtextextended in their place, and changed rows hashed alike. pg_catalog goes first; the rest of the
	// path stays, for --table without a schema and for --where.
	b.WriteString("; " + schema.CatalogFirst)
	return b.String(), timeoutAt
}

// configure parses the DSN and pins every session setting the equality definition and safety depend on.
func (n *node) configure(t Timeouts) error {
	cfg, err := pgx.ParseConfig(n.DSN)
	if err != nil {
		return fmt.Errorf("node %s: invalid connection string: %s", n.Name, parseError(err, n.DSN))
	}
	if dsn, ok := socketsToHostaddr(n.DSN, cfg); ok {
		// The password file's line is the one for the host the DSN names, as in libpq, and without one
		// the one for hostaddr, which the DSN parsed again finds.
		password := cfg.Password
		if cfg, err = pgx.ParseConfig(dsn); err != nil {
			return fmt.Errorf("node %s: invalid connection string: %s", n.Name, parseError(err, n.DSN))
		}
		if namesHost(n.DSN) {
			cfg.Password = password
		}
	}
	// A node that vanishes without closing its connections (its host down, a partition) fails the run in
	// about deadPeer: by keepalive probes while rowdiff waits for a result, by the user timeout while it
	// sends. By Go's and Linux's documented defaults (not measured), a 30 s keepalive with 9 probes 15 s
	// apart would take 165 s for the one, and 15 retransmissions about 15 minutes for the other. The DSN's
	// keepalive keywords and tcp_user_timeout replace them.
	dialer := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 4},
	}
	unacked := deadPeer
	if err := clientKeywords(cfg, dialer, &unacked); err != nil {
		return fmt.Errorf("node %s: connection string: %w", n.Name, err)
	}
	dialer.Control = userTimeout(unacked)
	// The shorter of the DSN's connect_timeout and --connect-timeout, 0 being none: --connect-timeout 0 put
	// a DSN's connect_timeout=1 out of force, and a node that never answered hung the run.
	if t.Connect > 0 && (cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > t.Connect) {
		cfg.ConnectTimeout = t.Connect
	}
	// Only these two travel in the startup packet: PgBouncer refuses a connection that sends any
	// parameter it does not know ("unsupported startup parameter: idle_in_transaction_session_timeout").
	// The rest are set in each connection's transaction (connect), which also holds them through a
	// pooler in transaction mode, where a session's SET would reach whichever client came next.
	// The DSN's or PGAPPNAME's name stays: an operator may count on it (it was replaced).
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "rowdiff"
	}
	cfg.RuntimeParams["client_encoding"] = "UTF8"
	n.settings, n.timeoutAt = pinned(t)
	// Cancelling a run must stop its queries on the servers, not only drop the connections: a query
	// whose client is gone runs on until it next sends output, which for an aggregate is the end.
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler { return &canceller{conn: c} }
	// Range queries differ in their number of ranges and bounds: caching each as a prepared statement
	// would grow client and server memory with the size of the table. Unnamed statements are not kept.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
	// Nothing is cached, so the caches' preallocated slots (about 50 KiB per connection) are not made.
	cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity = 0, 0
	// Rows stream in by the million when most of a table differs: read the socket in 32 KiB chunks.
	// A 1M-row diff where every row differs took as long as with 64 KiB; bigger buffers, touched only
	// by big tables, make peak RSS grow with them, and every connection holds one.
	cfg.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		return pgproto3.NewFrontend(bufio.NewReaderSize(r, 32<<10), w)
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		stall := time.Duration(0)
		if t.Statement > 0 {
			stall = t.Statement + stallGrace
		}
		return &nodeConn{Conn: c, n: &n.received, stall: stall}, nil
	}
	n.cfg = cfg
	return nil
}

// deadPeer is how long a connection may go without any sign of life from its node: the keepalive's idle
// time and unanswered probes, and the user timeout.
const deadPeer = 35 * time.Second

// connect opens one connection to the node inside a REPEATABLE READ READ ONLY transaction. With an empty
// snapshot it exports one (the coordinator); otherwise it imports the coordinator's.
func (n *node) connect(ctx context.Context, snapshot string) (*pgx.Conn, string, error) {
	conn, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		if pe := (*pgconn.PgError)(nil); snapshot != "" && errors.As(err, &pe) && pe.Code == "53300" {
			err = fmt.Errorf("%w (%w)", err, errNoRoom)
		}
		return nil, "", fmt.Errorf("node %s: connect: %w", n.Name, masked(withoutTLSRefusal(err), n.DSN))
	}
	fail := func(what string, err error) (*pgx.Conn, string, error) {
		// Bounded: pgx's close waits for the server's goodbye, which a stalled node never sends.
		closing, cancel := closeCtx()
		defer cancel()
		closeConn(closing, conn, false)
		return nil, "", fmt.Errorf("node %s: %s: %w", n.Name, what, err)
	}
	// One round trip: the snapshot import must come first in the transaction, and the settings hold
	// until it ends, which is when the connection closes.
	begin := "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
	settings := n.settings
	if conn.PgConn().ParameterStatus("server_encoding") == sqlASCII {
		settings += "; SET LOCAL client_encoding = " + schema.QuoteLiteral(sqlASCII)
	}
	if snapshot != "" {
		if err := n.begin(ctx, conn, begin+"; SET TRANSACTION SNAPSHOT "+schema.QuoteLiteral(snapshot)+settings, 2+n.timeoutAt); err != nil {
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "22023" { // invalid snapshot identifier
				err = fmt.Errorf("%w (the node's first session ended, or this one reached another server: %s)", err, anotherServer)
			}
			return fail("import snapshot", err)
		}
		// The import can succeed on another server (serverSQL). Asked in the transaction, which holds a
		// pooler's server connection: outside it, a pooler with none free kept the question waiting.
		var server string
		if err := conn.QueryRow(ctx, serverSQL).Scan(&server); err != nil {
			return fail("identify the server", err)
		}
		if server != n.server {
			return fail("import snapshot", fmt.Errorf("this session reached another server (started at %s) than the node's "+
				"first session (started at %s); %s", server, n.server, anotherServer))
		}
		return conn, snapshot, nil
	}
	if err := n.begin(ctx, conn, begin+settings, 1+n.timeoutAt); err != nil {
		return fail("begin", err)
	}
	if err := conn.QueryRow(ctx, "SELECT pg_catalog.pg_export_snapshot(), pg_catalog.current_setting('server_encoding'), ("+serverSQL+"), ("+databaseSQL+")").Scan(
		&snapshot, &n.encoding, &n.server, &n.database); err != nil {
		return fail("export snapshot", err)
	}
	return conn, snapshot, nil
}

// sqlASCII is the server encoding that says nothing of its bytes' encoding. rowdiff reads such a node's
// text as its bytes (client encoding SQL_ASCII) and compares them byte for byte: read as UTF-8, the server
// refused any byte that is not, and legacy SQL_ASCII databases mostly hold LATIN1 text; a run failed, on
// tables equal and different alike, wherever it read such a value, even among the planner's statistics
// (found by an exploratory helper).
const sqlASCII = "SQL_ASCII"

// startCancelled is a query cancelled while its transaction started, before rowdiff's own settings held:
// a role's statement_timeout of 1 ms cancelled 3 of 20 runs there in a helper's runs and 4 of 30 in mine, and
// the hint to raise --statement-timeout could not help. Or after its SET LOCAL statement_timeout, where own
// is set: a --statement-timeout of 1 ms cancelled the SET statements after it, and the hint blamed the
// role's statement_timeout (found by a tester).
type startCancelled struct {
	error
	own bool
}

func (e startCancelled) Unwrap() error { return e.error }

// errNoTransaction is a connection whose transaction did not start within the connect timeout. A server
// answers BEGIN at once; a pooler in transaction mode answers it only when it has a server connection
// free, and rowdiff's connections keep theirs for the whole run, so one whose pool is smaller than
// rowdiff's connections waits for rowdiff itself (PgBouncer gives up after its query_wait_timeout,
// 120 s by default).
var errNoTransaction = errors.New("no transaction started")

// errNoRoom is a worker's connection the server refused for want of connections: the role's CONNECTION
// LIMIT or the server's max_connections (SQLSTATE 53300). The run goes on with fewer workers, as for
// errNoTransaction: it failed (found by an exploratory helper).
var errNoRoom = errors.New("no more connections for this role or server")

// begin runs the statements that start conn's transaction, waiting for them no longer than the connect
// timeout. A pooler answers nothing, not a cancel request nor the goodbye a clean close waits 15 s for, to
// a client it has no server for: past the timeout the socket is cut. The timeoutAt-th statement of sql
// (from 1) sets rowdiff's statement_timeout, which holds for the statements after it (startError).
func (n *node) begin(ctx context.Context, conn *pgx.Conn, sql string, timeoutAt int) error {
	if c := connOf(conn); c != nil {
		c.waiting.Store(true)
		defer c.waiting.Store(false)
	}
	if n.cfg.ConnectTimeout <= 0 { // --connect-timeout 0: no limit, as for connecting
		return startError(execCounted(ctx, conn, sql), timeoutAt)
	}
	var cut atomic.Bool
	timer := time.AfterFunc(n.cfg.ConnectTimeout, func() {
		cut.Store(true)
		conn.PgConn().Conn().Close()
	})
	err := execCounted(ctx, conn, sql)
	timer.Stop()
	if cut.Load() {
		return fmt.Errorf("waited %s (--connect-timeout): %w", n.cfg.ConnectTimeout, errNoTransaction)
	}
	return startError(err, timeoutAt)
}

// failedAt is the error of a statement of several sent at once (execCounted), and how many before it completed.
type failedAt struct {
	error
	done int
}

func (e failedAt) Unwrap() error { return e.error }

// execCounted runs sql, statements separated by semicolons, as conn.Exec does (the simple protocol), and
// says of an error how many statements completed before it (failedAt).
func execCounted(ctx context.Context, conn *pgx.Conn, sql string) error {
	results, err := conn.PgConn().Exec(ctx, sql).ReadAll()
	if err == nil {
		return nil
	}
	return failedAt{err, len(results)}
}

// startError marks a cancel of the statements that start a transaction (startCancelled): those up to the
// timeoutAt-th (from 1) run before rowdiff's statement_timeout holds, under the role's or database's; those
// after it under --statement-timeout. A query after them runs under --statement-timeout, whose hint stands.
// Told apart by which statement failed: the message that says a timeout is in lc_messages' language.
func startError(err error, timeoutAt int) error {
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "57014" {
		var at failedAt
		return startCancelled{err, errors.As(err, &at) && at.done >= timeoutAt}
	}
	return err
}

// session is one connection per node, all in their node's snapshot: what a worker needs for one task.
type session struct {
	conns []*pgx.Conn
	// task is the task the session runs, nil while it waits for one: the peer watch names it when a node
	// closes the session's connection.
	task atomic.Pointer[stages.Task]
	// locked are the tables whose locks this session took at its first read of them (fleet.lockFirstRead).
	locked map[*schema.Table]bool
}

// closeConn closes c, ending its transaction first where end is set (see fleet.close), and waits for
// pgx's background cleanup (a cancel request in flight, the socket), so the process cannot exit before
// its queries are cancelled.
func closeConn(ctx context.Context, c *pgx.Conn, end bool) {
	if c == nil {
		return
	}
	if pc := c.PgConn(); end && !pc.IsClosed() && !pc.IsBusy() && pc.TxStatus() != 'I' {
		// Whatever it answers, the connection closes next, and nothing was written to lose.
		_, _ = c.Exec(ctx, "ROLLBACK")
	}
	c.Close(ctx)
	select {
	case <-c.PgConn().CleanupDone():
	case <-ctx.Done():
	}
}

// canceller stops a query whose context ends: it sends cancel requests every 100 ms until the query
// returns, and closes the socket after cancelGrace if it does not. A single request can race with the
// query's start (a backend that has not begun the query ignores it), which would leave the query
// running on the server after rowdiff has gone.
type canceller struct {
	conn *pgconn.PgConn
	stop context.CancelFunc
	done chan struct{}
}

// cancelGrace is how long a cancelled query may take to stop before its connection is cut: a server stops
// one at its next check for interrupts, within milliseconds; with closeCtx's bound after it, an interrupted
// run exits within 2 s however its nodes answer.
const cancelGrace = time.Second

func (h *canceller) HandleCancel(context.Context) {
	var stopped context.Context
	stopped, h.stop = context.WithCancel(context.Background())
	h.done = make(chan struct{})
	deadline := time.Now().Add(cancelGrace)
	h.conn.Conn().SetDeadline(deadline)
	go func() {
		defer close(h.done)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithDeadline(stopped, deadline)
			h.conn.CancelRequest(ctx)
			cancel()
			select {
			case <-stopped.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func (h *canceller) HandleUnwatchAfterCancel() {
	h.stop()
	<-h.done
	h.conn.Conn().SetDeadline(time.Time{})
}
