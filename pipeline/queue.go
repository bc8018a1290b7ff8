package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"
	"golang.org/x/sync/semaphore"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/stages"
)

// runner owns one run's goroutines: the producer, the workers and the sink writer. The dispatcher (the
// goroutine calling run) owns the work queue and the count of tasks in flight; workers never submit work
// themselves, they hand follow-up tasks back to the dispatcher, so a bounded pool cannot deadlock on
// its own tasks.
type runner struct {
	cfg      Config
	env      *stages.Env
	coords   *stages.Coordinators
	sessions []*session
	sink     Sink
	counts   *diffCount    // over the whole run, for --max-diffs
	table    *TableSummary // this table's differences
	estRows  float64
	// tableIndex of tables is the table being diffed, for progress.
	tableIndex, tables int
	// lockFirst, when set, takes a session's locks on the table before its first task there.
	lockFirst func(ctx context.Context, s *session) error
}

// diffCount counts the differences written over all tables of a run; sink writers add, progress reads.
type diffCount struct{ n atomic.Int64 }

// result is what a worker hands back: the follow-up tasks of the task it ran, in key order.
type result struct {
	tasks []stages.Task
}

// run returns nil when every range is done, ErrLimit when --max-diffs stopped it, or the first error.
func (r *runner) run(parent context.Context) error {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	// Unbuffered: the producer stays at most one range ahead of the dispatcher, which asks for a new
	// range only when its queue is empty.
	initial := make(chan stages.Task)
	// A few hundred records absorb bursts from the compare workers while the sink writes; with wide rows
	// the byte budget, not the count, bounds what waits.
	diffs := make(chan weighed, 256)
	budget := semaphore.NewWeighted(diffBytesWaiting)
	// One slot per worker: a worker can always report without waiting for the dispatcher.
	results := make(chan result, len(r.sessions))
	idle := make(chan *session, len(r.sessions))
	for _, s := range r.sessions {
		idle <- s
	}

	var bg conc.WaitGroup
	stopPings := make(chan struct{})
	if every := r.cfg.Timeouts.IdleTransaction / 4; every > 0 {
		bg.Go(func() {
			if err := guard(func() error { return r.keepAlive(ctx, idle, every, stopPings) }); err != nil {
				cancel(err)
			}
		})
	}
	bg.Go(func() {
		if err := guard(func() error { return r.watchPeers(ctx, stopPings) }); err != nil {
			cancel(err)
		}
	})
	bg.Go(func() {
		defer close(initial)
		if err := guard(func() error { return stages.Produce(ctx, r.coords, r.env, r.estRows, initial) }); err != nil {
			cancel(err)
		}
	})
	bg.Go(func() {
		if err := guard(func() error { return r.write(ctx, diffs, budget) }); err != nil {
			cancel(err)
			for range diffs { // keep workers from blocking until they see the cancellation
			}
		}
	})

	emit := func(d schema.Diff) error {
		w := weighed{d, min(weight(d), diffBytesWaiting)}
		if err := budget.Acquire(ctx, w.n); err != nil {
			return context.Cause(ctx)
		}
		select {
		case diffs <- w:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	workers := pool.New().WithMaxGoroutines(len(r.sessions))
	var stack []stages.Task // depth first: follow-up tasks are pushed on top and run before new ranges
	inFlight := 0
	producing := true
	submit := func(t stages.Task) {
		inFlight++
		workers.Go(func() {
			s := <-idle
			s.task.Store(&t)
			var tasks []stages.Task
			err := guard(func() (err error) {
				tasks, err = r.do(ctx, s, t, emit)
				return err
			})
			s.task.Store(nil)
			// The run's cause first: a session handed on with a connection its task saw fail would make the
			// next task's "conn closed" race this error for it.
			if err != nil {
				cancel(r.lost(s, err))
			}
			idle <- s
			results <- result{tasks: tasks}
		})
	}
loop:
	for {
		for inFlight < len(r.sessions) && len(stack) > 0 && ctx.Err() == nil {
			t := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			submit(t)
		}
		if ctx.Err() != nil && inFlight == 0 {
			break
		}
		if inFlight == 0 && len(stack) == 0 && !producing {
			break
		}
		var take chan stages.Task
		if producing && len(stack) == 0 && inFlight < len(r.sessions) && ctx.Err() == nil {
			take = initial
		}
		select {
		case t, ok := <-take:
			if !ok {
				producing = false
				continue
			}
			submit(t)
		case res := <-results:
			inFlight--
			r.progress()
			for i := len(res.tasks) - 1; i >= 0; i-- {
				stack = append(stack, res.tasks[i])
			}
		case <-ctx.Done():
			// Stopping: no new work; wait for the tasks in flight, which see the cancellation.
			if inFlight == 0 {
				break loop
			}
			<-results
			inFlight--
		}
	}
	workers.Wait()
	close(diffs)
	close(stopPings)
	bg.Wait() // the producer sees the cancellation or has already sent everything
	r.progress()
	return context.Cause(ctx)
}

// lost adds to a task's error that does not come from a server (no PgError) that a connection of its
// session is closed, where one is: a node stopped with pg_ctl stop -m immediate failed runs with
// "unexpected EOF", or with pgx's "conn closed" when the read that saw the end was not the task's own,
// neither saying the node's connection was gone (found by a re-test helper).
func (r *runner) lost(s *session, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) || errors.Is(err, context.Canceled) {
		return err
	}
	for i, conn := range s.conns {
		if conn.IsClosed() {
			return fmt.Errorf("%w (the connection to node %s was lost: its server stopped or ended the session, "+
				"or the network to it failed; the server's log says which)", err, r.env.Nodes[i])
		}
	}
	return err
}

// guard runs fn and returns its error, or its panic as an error. Every goroutine of a run goes through
// it: a task that panicked never reported back, and the dispatcher waited for it forever, deaf to
// interrupts, its sessions kept alive by the pings (found by a re-test helper, from the code; conc
// passes a panic on only when the pool is waited for); a sink writer that panicked left the workers
// waiting to hand it their differences.
func guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error, a bug in rowdiff (please report it with this message): panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

// peerCheck is how often watchPeers looks at every connection.
const peerCheck = 250 * time.Millisecond

// peerGrace is how long watchPeers leaves a connection closed without a reason it can read (through TLS,
// or without an error sent) to the session's own read, which gets the server's error and what rowdiff was
// doing: failing at once, the watch put "the server closed the connection" in place of an idle timeout's
// or a recovery conflict's FATAL and its hint (found by a re-test helper).
const peerGrace = time.Second

// watchPeers fails the run, until stop closes, once a node has closed one of the run's connections. A
// node that went away while the session waited for another node's query was noticed only when that
// query ended and the session next used it: with one node stopped (pg_ctl stop -m immediate) during a
// slower node's hash of 30 s, the run went on for 28.6 s, that node's scan with it (found by an
// exploratory helper). A dead connection that reads nothing is the keepalive's and the stall bound's.
func (r *runner) watchPeers(ctx context.Context, stop <-chan struct{}) error {
	var silent time.Time // when a connection was first seen closed without a reason
	return every(ctx, peerCheck, stop, func() error {
		err := r.closedConn()
		var pe *pgconn.PgError
		switch {
		case err == nil || errors.As(err, &pe):
			return err
		case silent.IsZero():
			silent = time.Now()
		case time.Since(silent) >= peerGrace:
			return err
		}
		return nil
	})
}

// closedConn is the error of the first of the run's connections its node has closed (closedByPeer), or nil.
func (r *runner) closedConn() error {
	for _, s := range r.sessions {
		for i, conn := range s.conns {
			if err := closedByPeer(conn); err != nil {
				doing := "waiting for work on " + r.env.SQL.T.String()
				if t := s.task.Load(); t != nil {
					doing = t.Describe(r.env.SQL.T)
				}
				return fmt.Errorf("node %s: %s: %w", r.env.Nodes[i], doing, err)
			}
		}
	}
	for i, conn := range r.coords.Conns {
		if err := closedByPeer(conn); err != nil {
			return fmt.Errorf("node %s: coordinator: %w", r.env.Nodes[i], err)
		}
	}
	return nil
}

// every calls fn each interval until stop closes or ctx ends, and returns fn's first error.
func every(ctx context.Context, interval time.Duration, stop <-chan struct{}, fn func() error) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// keepAlive pings, every interval until stop closes, each coordinator no statement runs on and each
// worker session waiting in idle, so that --idle-timeout does not end them while the others work: a
// coordinator waits through a table's whole run for the next table, and a worker through the end of
// another's long task. Before, a diff of two tables ended with exit 2 when the first took longer than
// --idle-timeout. A rowdiff that stops sends no pings, and the server still ends its sessions; one that
// hangs inside a run keeps them until an interrupt. A failed ping is the run's error: the connection is
// gone, and it says why.
//
// The pings of a round run at once, each bounded by twice the interval, so that a frozen node fails the
// run under its own name before the others' sessions reach their idle timeout: pinged one after another
// for up to 10 s each, one frozen node kept every other node from its pings, the servers of the healthy
// nodes ended their sessions, and the run failed naming one of them (found by a re-test helper).
func (r *runner) keepAlive(ctx context.Context, idle chan *session, interval time.Duration, stop <-chan struct{}) error {
	timeout := min(pingTimeout, 2*interval)
	type target struct {
		node int
		what string
		conn *pgx.Conn
		held *sync.Mutex // a coordinator's, locked for the ping, or nil
	}
	return every(ctx, interval, stop, func() error {
		var targets []target
		for i, conn := range r.coords.Conns {
			if r.coords.Held[i].TryLock() {
				targets = append(targets, target{i, "coordinator", conn, &r.coords.Held[i]})
			}
		}
		var taken []*session
		defer func() { // also after a ping's panic, which wg.Wait passes on: workers wait for these
			for _, s := range taken {
				idle <- s
			}
		}()
	take:
		for range cap(idle) {
			select {
			case s := <-idle:
				taken = append(taken, s)
				for i, conn := range s.conns {
					targets = append(targets, target{i, "waiting worker", conn, nil})
				}
			default:
				break take
			}
		}
		// One slot per ping: the first failed ping in this order is the error, whichever failed first.
		errs := make([]error, len(targets))
		var wg conc.WaitGroup
		for j, t := range targets {
			wg.Go(func() {
				if t.held != nil {
					defer t.held.Unlock()
				}
				if err := ping(ctx, t.conn, timeout); err != nil {
					errs[j] = fmt.Errorf("node %s: %s: %w", r.env.Nodes[t.node], t.what, err)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// ping runs an empty statement on conn, which restarts its idle-in-transaction clock, and fails if the
// node does not answer within timeout. A run that fails or is interrupted cancels it: the connection is
// not used again then, and waiting out the timeout of a frozen node delayed an interrupted run's exit
// by 11 s (a run that ends well stops its pings before its context ends).
func ping(ctx context.Context, conn *pgx.Conn, timeout time.Duration) error {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := conn.Exec(pctx, ";")
	if err != nil && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no answer to a ping within %v (half of --idle-timeout, at most %v): the server, or the network to it, has stalled",
			timeout, pingTimeout)
	}
	return err
}

// pingTimeout bounds a ping of a node that has stopped answering.
const pingTimeout = 10 * time.Second

// do runs one task with one connection per node.
func (r *runner) do(ctx context.Context, s *session, t stages.Task, emit func(schema.Diff) error) ([]stages.Task, error) {
	if r.lockFirst != nil {
		if err := r.lockFirst(ctx, s); err != nil {
			return nil, err
		}
	}
	if t.Compare != nil {
		return nil, stages.Compare(ctx, s.conns, r.env, *t.Compare, emit)
	}
	sp := stages.NewSplitter(r.env, *t.Hash)
	err := stages.Hash(ctx, s.conns, r.env, *t.Hash, func(d stages.BucketDiff) error {
		sp.Add(d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sp.Finish(), nil
}

// diffBytesWaiting bounds the bytes of the differences waiting for the sink; a difference of wider rows
// than that waits alone. Bounded by number only, the differences of rows of 2 MiB waiting for the JSON
// Lines writer made a diff of 300 such rows peak at 530-630 MiB instead of 70.
const diffBytesWaiting = 8 << 20

// weighed is a difference on its way to the sink, with the bytes it holds of the budget.
type weighed struct {
	d schema.Diff
	n int64
}

// weight is about what a difference keeps alive until it is written: its text and its value headers.
func weight(d schema.Diff) int64 {
	n := int64(0)
	for _, k := range d.Key {
		n += int64(len(k))
	}
	for _, row := range d.Rows {
		n += int64(len(row)) * int64(unsafe.Sizeof(schema.Value{}))
		for _, v := range row {
			n += int64(len(v.S))
		}
	}
	return n
}

// write feeds the sink, giving each difference's bytes back to budget once written, and counts
// differences; it stops the run at a difference past --max-diffs, unwritten. It stopped at the Nth, and a
// run with exactly N differences said its output was truncated when it was whole (found by an exploratory
// helper).
func (r *runner) write(ctx context.Context, diffs <-chan weighed, budget *semaphore.Weighted) error {
	for w := range diffs {
		d := w.d
		if r.cfg.MaxDiffs > 0 && r.counts.n.Load() >= r.cfg.MaxDiffs {
			budget.Release(w.n)
			return ErrLimit
		}
		err := r.sink.Write(d)
		budget.Release(w.n)
		if err != nil {
			return err
		}
		r.counts.n.Add(1)
		r.table.count(d)
	}
	return nil
}

// progress reports the counters to cfg.Progress, if set. It runs on the dispatcher goroutine.
func (r *runner) progress() {
	if r.cfg.Progress == nil {
		return
	}
	var rows int64
	for i := range r.env.Stats.Rows {
		rows = max(rows, r.env.Stats.Rows[i].Load())
	}
	r.cfg.Progress(Progress{
		Table: r.env.SQL.T.String(), RangesDone: r.env.Stats.RangesHashed.Load() + r.env.Stats.RangesCompared.Load(),
		RowsHashed: rows, RowsEstimate: int64(r.estRows), Differences: r.counts.n.Load(), TablesDone: r.tableIndex, Tables: r.tables,
	})
}
