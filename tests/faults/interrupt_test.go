package faults

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sys/unix"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

// TestInterrupt sends SIGINT, SIGTERM or SIGHUP while rowdiff's queries run on both nodes. rowdiff must exit with
// 128+signal within 2 s, write no output (not even a temp file), and cancel its queries: within 2 s no
// rowdiff session may still be active on any node.
func TestInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		code  int
		extra []string
		phase func(backend) bool
		// queries is how many queries matching phase must run on each node before the signal.
		queries int
	}{
		{"SIGINT", syscall.SIGINT, 130, nil, isRangeQuery, 1},
		{"SIGTERM", syscall.SIGTERM, 143, nil, isRangeQuery, 1},
		// A dropped ssh session: SIGHUP killed rowdiff without cancelling its queries or removing its
		// temporary file (found by an exploratory helper).
		{"SIGHUP", syscall.SIGHUP, 129, nil, isRangeQuery, 1},
		// Structured logs say it in a record: it was a plain line among them.
		{"SIGINT, JSON logs", syscall.SIGINT, 130, []string{"--log-format", "json"}, isRangeQuery, 1},
		// Queries that would run for minutes without sending anything: only a cancel request stops them.
		{"SIGINT during slow hash", syscall.SIGINT, 130, slowArgs, isHashQuery, slowWorkers},
		{"SIGTERM during slow hash", syscall.SIGTERM, 143, slowArgs, isHashQuery, slowWorkers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mons := map[string]*pgx.Conn{"a": monitor(t, clA), "b": monitor(t, clB)}
			for name, m := range mons {
				waitNoSessions(t, name, m, 10*time.Second)
			}
			dir := t.TempDir()
			sum := filepath.Join(t.TempDir(), "summary.json")
			// The out path is relative to the process's own directory, where its temp file lands too.
			ch := startRowdiff(t, dir, bigArgs("a", "b", "diffs.jsonl", append([]string{"--summary", sum}, tc.extra...)...)...)
			waitQueriesN(t, ch, 30*time.Second, mons, tc.phase, tc.queries)

			sent := time.Now()
			if err := ch.cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			if !ch.exitedWithin(2 * time.Second) {
				ch.wait(t, 10*time.Second)
				t.Errorf("rowdiff took %v to exit after %v, want at most 2s", ch.exited.Sub(sent).Round(time.Millisecond), tc.sig)
			}
			if ch.waitErr != nil {
				t.Fatalf("rowdiff: %v\nstderr:\n%s", ch.waitErr, ch.stderr.String())
			}
			if ch.code != tc.code {
				t.Errorf("exit status %d after %v, want %d\nstderr:\n%s", ch.code, tc.sig, tc.code, ch.stderr.String())
			}
			t.Logf("exited %v after %v", ch.exited.Sub(sent).Round(time.Millisecond), tc.sig)
			if slices.Contains(tc.extra, "json") {
				lines := strings.Split(strings.TrimSpace(ch.stderr.String()), "\n")
				for _, l := range lines {
					if !json.Valid([]byte(l)) {
						t.Errorf("with --log-format json, stderr line %q is not a JSON record", l)
					}
				}
				if !strings.Contains(ch.stderr.String(), `"msg":"interrupted"`) {
					t.Errorf("with --log-format json, no \"interrupted\" record:\n%s", ch.stderr.String())
				}
			}
			if strings.Contains(ch.stdout.String(), "{") {
				t.Errorf("interrupted run wrote records to stdout:\n%s", abbrev(ch.stdout.String(), 2000))
			}
			checkNoOutput(t, dir)
			for name, m := range mons {
				waitNoActive(t, name, m, 2*time.Second-time.Since(sent))
			}
			// It said what the cancelled step returned: "context canceled", or the server's "canceling
			// statement due to user request" (found by an exploratory helper).
			want := `"error": "interrupted by ` + strings.TrimSuffix(strings.Fields(tc.name)[0], ",") + `"`
			if raw, err := os.ReadFile(sum); err != nil || !strings.Contains(string(raw), want) {
				t.Errorf("summary after %v (%v): want %s in it:\n%s", tc.sig, err, want, raw)
			}
		})
	}

	// Control: a rowdiff killed with SIGKILL cannot cancel anything, and its slow hash queries must then
	// still be running. If they were not, the server would be ending orphaned queries by itself and the
	// checks above would prove nothing about rowdiff.
	t.Run("SIGKILL control", func(t *testing.T) {
		mon := monitor(t, clA)
		waitNoSessions(t, "a", mon, 10*time.Second)
		ch := startRowdiff(t, "", bigArgs("a", "b", "diffs.jsonl", slowArgs...)...)
		waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"a": mon}, isHashQuery, slowWorkers)
		if err := ch.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-ch.done
		// startRowdiff's cleanup terminates the orphans.
		time.Sleep(2 * time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		bs, err := rowdiffBackends(ctx, mon)
		if err != nil {
			t.Fatal(err)
		}
		active := 0
		for _, b := range bs {
			if b.Type == "client backend" && isHashQuery(b) {
				active++
			}
		}
		// At the moment of the kill a worker may be between two queries, so not every worker leaves an
		// orphan; one is enough to show the server does not end them itself.
		if active == 0 {
			t.Errorf("2s after SIGKILL no orphaned rowdiff hash query is active on node a (of %d workers): the server ended them itself, so the cancellation checks of this package are toothless", slowWorkers)
		}
	})
}

// TestOutputPipeClosed reads --out - through a pipe and closes it after the first record, as
// `rowdiff diff ... --out - | head -1` does, while slow hashes of other ranges run on both nodes. rowdiff
// must stop within 2 s with the status of a process killed by SIGPIPE (141), print nothing more, and
// cancel its queries: killed by the signal instead, it left them running on the servers.
func TestOutputPipeClosed(t *testing.T) {
	mons := map[string]*pgx.Conn{"a": monitor(t, clA), "b": monitor(t, clB)}
	for name, m := range mons {
		waitNoSessions(t, name, m, 10*time.Second)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The first range (ids up to 100,000) is quick and 30 % different; every other row costs 1 ms.
	ch := startRowdiffTo(t, "", w, bigArgs("a", "b", "-", "--where", "id <= 100000 OR "+slowWhere,
		"--block-rows", "100000", "--concurrency", "4")...)
	w.Close()
	first := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(r).ReadString('\n')
		first <- err
	}()
	select {
	case err := <-first:
		if err != nil {
			t.Fatalf("reading the first record: %v\nstderr:\n%s", err, ch.stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no record on stdout after 30 s\nstderr:\n%s", ch.stderr.String())
	}
	waitQueriesN(t, ch, 30*time.Second, mons, isHashQuery, 1)
	r.Close()
	closed := time.Now()
	if !ch.exitedWithin(2 * time.Second) {
		ch.wait(t, 10*time.Second)
		t.Errorf("rowdiff took %v to exit after its output pipe closed, want at most 2s", ch.exited.Sub(closed).Round(time.Millisecond))
	}
	if ch.code != 141 || ch.stderr.String() != "" {
		t.Errorf("exit %d (wait error %v) with stderr %q, want 141 and nothing on stderr", ch.code, ch.waitErr, ch.stderr.String())
	}
	for name, m := range mons {
		waitNoActive(t, name, m, 2*time.Second-time.Since(closed))
	}
}

// TestInterruptBetweenRecheckRounds interrupts a recheck of several rounds while it waits between them.
// Round 1 wrote --out itself, so the interrupted run left round 1's records there in place of the file
// that was there, having said that no output was written (found by an exploratory helper). Rounds now
// write files of their own beside --out, which the last round's replaces at the end: --out is as it was,
// and no round file is left. The summary says the run did not finish (it said complete).
func TestInterruptBetweenRecheckRounds(t *testing.T) {
	db := newDB(t, "rounds", []*pgcluster.Cluster{clA, clB},
		`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g;`)
	conn := connect(t, clB, db)
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), "UPDATE t SET v = 'x' WHERE id % 50 = 0"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	nodes := append(nodeArg("a", clA.DSN(db)), nodeArg("b", clB.DSN(db))...)
	in := filepath.Join(dir, "diffs.jsonl")
	if d := runRowdiff(t, append([]string{"diff", "--table", "t", "--out", in}, nodes...)...); d.code != 1 {
		t.Fatalf("test setup: diff exit %d, want 1\nstderr:\n%s", d.code, d.stderr.String())
	}
	out := filepath.Join(dir, "still.jsonl")
	const old = "OLD\n"
	if err := os.WriteFile(out, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := filepath.Join(t.TempDir(), "summary.json")
	ch := startRowdiff(t, dir, append([]string{"recheck", "--in", in, "--out", out, "--rounds", "3", "--wait", "30s", "--summary", sum}, nodes...)...)
	// Round 1 is done when its file is in place (or, as before, when --out changed).
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, _ := os.ReadFile(out)
		if string(got) != old || slices.ContainsFunc(dirEntries(t, dir), func(n string) bool { return strings.HasPrefix(n, ".still.jsonl.round-1-") }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no round file after 30 s; the directory holds %v\nstderr:\n%s", dirEntries(t, dir), ch.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ch.wait(t, 10*time.Second)
	if ch.code != 130 {
		t.Errorf("exit %d after SIGINT between rounds, want 130\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	if got, _ := os.ReadFile(out); string(got) != old {
		t.Errorf("--out holds %q after the interrupted recheck, want it as it was", abbrev(string(got), 300))
	}
	if names := dirEntries(t, dir); !slices.Equal(names, []string{"diffs.jsonl", "still.jsonl"}) {
		t.Errorf("the directory holds %v, want only the diff and --out", names)
	}
	// The summary said a finished, complete run.
	if raw, err := os.ReadFile(sum); err != nil || !strings.Contains(string(raw), `"complete": false`) || !strings.Contains(string(raw), `"error": "interrupted by SIGINT"`) {
		t.Errorf("summary after the interrupt (%v):\n%s\nwant it incomplete, with the error", err, raw)
	}
}

// TestInterruptUnresponsiveNode interrupts a run while one node has stopped answering (its host hangs:
// the connections stay open, nothing comes back, cancel requests go unanswered). rowdiff must still exit
// within 2 s: it waited out the cancel grace and then 5 s for each connection's cleanup, 6.6 s in all
// (found by an exploratory helper). The other node's queries are cancelled.
func TestInterruptUnresponsiveNode(t *testing.T) {
	proxy := testkit.NewFreezable(t, fmt.Sprintf("127.0.0.1:%d", clB.Port()))
	monA := monitor(t, clA)
	waitNoSessions(t, "a", monA, 10*time.Second)
	args := []string{"diff", "--table", bigTable, "--out", "diffs.jsonl"}
	args = append(args, nodeArg("a", clA.DSN(bigDB))...)
	args = append(args, nodeArg("b", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", proxy.Port, bigDB))...)
	dir := t.TempDir()
	ch := startRowdiff(t, dir, append(args, slowArgs...)...)
	waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"a": monA, "b": monitor(t, clB)}, isHashQuery, 1)
	proxy.Freeze()
	time.Sleep(200 * time.Millisecond)
	sent := time.Now()
	if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !ch.exitedWithin(2 * time.Second) {
		ch.wait(t, 20*time.Second)
		t.Errorf("rowdiff took %v to exit after SIGINT with node b unresponsive, want at most 2s", ch.exited.Sub(sent).Round(time.Millisecond))
	}
	t.Logf("exited %v after SIGINT", ch.exited.Sub(sent).Round(time.Millisecond))
	if ch.code != 130 {
		t.Errorf("exit %d, want 130\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	checkNoOutput(t, dir)
	waitNoActive(t, "a", monA, 2*time.Second)
}

// TestFrozenNodeWhilePinged: node b stops answering (its connections stay open, nothing comes back) while
// rowdiff pings the sessions that wait, here the coordinators while the workers hash. The pings went one
// after another, each waiting up to 10 s and deaf to the run's end: node b's ping held up node a's, node
// a's server ended its coordinator for idling, and the run failed naming node a; and an interrupt waited
// 10.8 s for the ping (found by a re-test helper).
func TestFrozenNodeWhilePinged(t *testing.T) {
	start := func(t *testing.T, idleTimeout string) (*child, *testkit.Freezable, string) {
		proxy := testkit.NewFreezable(t, fmt.Sprintf("127.0.0.1:%d", clB.Port()))
		monA := monitor(t, clA)
		waitNoSessions(t, "a", monA, 10*time.Second)
		args := []string{"diff", "--table", bigTable, "--out", "diffs.jsonl", "--idle-timeout", idleTimeout}
		args = append(args, nodeArg("a", clA.DSN(bigDB))...)
		args = append(args, nodeArg("b", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", proxy.Port, bigDB))...)
		dir := t.TempDir()
		ch := startRowdiff(t, dir, append(args, slowArgs...)...)
		waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"a": monA, "b": monitor(t, clB)}, isHashQuery, 1)
		return ch, proxy, dir
	}
	t.Run("blamed", func(t *testing.T) {
		// Pings every 500 ms; node a's coordinator idles past 2 s only if its pings wait for node b's.
		ch, proxy, dir := start(t, "2s")
		proxy.Freeze()
		frozen := time.Now()
		ch.wait(t, 30*time.Second)
		stderr := ch.stderr.String()
		if ch.code != 2 || !strings.Contains(stderr, "node b: coordinator: no answer to a ping") || !strings.Contains(stderr, "stalled") {
			t.Errorf("exit %d, want 2 naming node b's unanswered ping\nstderr:\n%s", ch.code, stderr)
		}
		if d := ch.exited.Sub(frozen); d > 5*time.Second {
			t.Errorf("rowdiff exited %v after node b froze, want within 5s", d.Round(time.Millisecond))
		}
		checkNoOutput(t, dir)
	})
	t.Run("interrupted", func(t *testing.T) {
		// Pings every 5 s, each allowed 10 s: 6 s after the freeze one waits on node b.
		ch, proxy, dir := start(t, "20s")
		proxy.Freeze()
		time.Sleep(6 * time.Second)
		sent := time.Now()
		if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if !ch.exitedWithin(2 * time.Second) {
			ch.wait(t, 20*time.Second)
			t.Errorf("rowdiff took %v to exit after SIGINT with a ping waiting on node b, want at most 2s", ch.exited.Sub(sent).Round(time.Millisecond))
		}
		if ch.code != 130 {
			t.Errorf("exit %d, want 130\nstderr:\n%s", ch.code, ch.stderr.String())
		}
		checkNoOutput(t, dir)
	})
}

// TestStalledNodeDuringSetup: a node that stops answering while its connection stays up (a frozen server
// process, a stalled proxy) while rowdiff exports its snapshot or looks up the table. The keepalive probes
// see a live connection, and rowdiff's pings start with a table's run: the run waited without limit (found
// by an exploratory helper). A read waits no longer than --statement-timeout and 10 s, by which the server
// would have answered any statement.
func TestStalledNodeDuringSetup(t *testing.T) {
	// The table's lock (planning a read, EXPLAIN SELECT; it was LOCK TABLE) goes as a simple query, whose
	// reader pgx reads again after a timeout: it waited twice.
	for _, at := range []string{"pg_export_snapshot", "pg_rewrite", "EXPLAIN SELECT"} {
		t.Run(at, func(t *testing.T) {
			proxy := testkit.NewFreezable(t, fmt.Sprintf("127.0.0.1:%d", clB.Port()))
			proxy.FreezeOn(at)
			dir := t.TempDir()
			args := []string{"diff", "--table", bigTable, "--out", "diffs.jsonl", "--statement-timeout", "2s"}
			args = append(args, nodeArg("a", clA.DSN(bigDB))...)
			args = append(args, nodeArg("b", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", proxy.Port, bigDB))...)
			ch := startRowdiff(t, dir, args...)
			if !ch.exitedWithin(18 * time.Second) {
				_ = ch.cmd.Process.Signal(syscall.SIGINT)
				ch.wait(t, 10*time.Second)
				t.Fatalf("rowdiff was still running 18 s after it started with node b stalled at %s, want an exit within --statement-timeout 2s and 10s\nstderr:\n%s", at, ch.stderr.String())
			}
			if stderr := ch.stderr.String(); ch.code != 2 || !strings.Contains(stderr, "node b") || !strings.Contains(stderr, "stalled") {
				t.Errorf("exit %d after %v, want 2 naming node b and the stall\nstderr:\n%s", ch.code, ch.elapsed.Round(time.Millisecond), stderr)
			}
			t.Logf("exited %v after it started: %s", ch.elapsed.Round(time.Millisecond), ch.stderr.String())
			checkNoOutput(t, dir)
		})
	}
}

// TestStalledNodeWhileStreaming: a run streaming to stdout (--out -) that fails has written records there, as
// an interrupted one has, and says so: the error line said nothing of them (found by an exploratory
// helper). Node b stalls at the hash of the second table, after the first table's differences were written.
func TestStalledNodeWhileStreaming(t *testing.T) {
	setup := `CREATE TABLE aa_out (id int PRIMARY KEY, v int); INSERT INTO aa_out SELECT g, g FROM generate_series(1, 2000) g;
CREATE TABLE zz_stall (id int PRIMARY KEY, v int); INSERT INTO zz_stall SELECT g, g FROM generate_series(1, 2000) g;`
	db := newDB(t, "stream", []*pgcluster.Cluster{clA, clB}, setup)
	execSQL(t, clB, db, "UPDATE aa_out SET v = -v WHERE id % 100 = 0")
	proxy := testkit.NewFreezable(t, fmt.Sprintf("127.0.0.1:%d", clB.Port()))
	proxy.FreezeOn(`"zz_stall"`, "bit_xor")
	args := []string{"diff", "--table", "aa_out", "--table", "zz_stall", "--out", "-", "--statement-timeout", "2s"}
	args = append(args, nodeArg("a", clA.DSN(db))...)
	args = append(args, nodeArg("b", fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", proxy.Port, db))...)
	ch := startRowdiff(t, "", args...)
	ch.wait(t, 40*time.Second)
	// What reached stdout depends on when the writer's buffer filled: here, often nothing.
	if stderr := ch.stderr.String(); ch.code != 2 || !strings.Contains(stderr, "stalled") ||
		!strings.Contains(stderr, "the records already on stdout are incomplete") {
		t.Errorf("exit %d, want 2 saying the node stalled and stdout is incomplete\nstderr:\n%s", ch.code, stderr)
	}
	// A run that failed before its output opened wrote nothing there, and says nothing of it.
	ch = runRowdiff(t, append(append([]string{"diff", "--table", "no_such_table", "--out", "-"}, nodeArg("a", clA.DSN(db))...),
		nodeArg("b", clB.DSN(db))...)...)
	if stderr := ch.stderr.String(); ch.code != 2 || strings.Contains(stderr, "stdout") {
		t.Errorf("a missing table with --out -: exit %d, want 2 without a word of stdout\nstderr:\n%s", ch.code, stderr)
	}
}

// TestInterruptWhileReaderStalls interrupts a run whose reader holds its output pipe open but reads no more
// (a pager, a stalled ssh): stdout (--out -) and a named pipe (--out FIFO). rowdiff waited in its write,
// deaf to SIGINT and SIGTERM, its sessions idle in transaction with their locks, until the reader went
// away: 10 s after the signal in an exploratory helper's run. Then it says the output is incomplete: for
// the named pipe it said "no output written" after thousands of records.
func TestInterruptWhileReaderStalls(t *testing.T) {
	for _, named := range []bool{false, true} {
		t.Run(map[bool]string{false: "stdout", true: "named pipe"}[named], func(t *testing.T) {
			mons := map[string]*pgx.Conn{"a": monitor(t, clA), "b": monitor(t, clB)}
			for name, m := range mons {
				waitNoSessions(t, name, m, 10*time.Second)
			}
			dir := t.TempDir()
			var ch *child
			var r *os.File
			if named {
				fifo := filepath.Join(dir, "out.fifo")
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Fatal(err)
				}
				// Read-write: the pipe has a reader from the start that never reads.
				f, err := os.OpenFile(fifo, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				r = f
				ch = startRowdiff(t, dir, bigArgs("a", "b", fifo)...)
			} else {
				pr, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				r = pr
				ch = startRowdiffTo(t, dir, w, bigArgs("a", "b", "-")...)
				w.Close()
			}
			defer r.Close()
			// 30 % of the big table differ: far more than a pipe holds. Wait until it is full.
			deadline := time.Now().Add(30 * time.Second)
			for {
				n, err := unix.IoctlGetInt(int(r.Fd()), unix.TIOCINQ) // FIONREAD: bytes waiting in the pipe
				if err != nil {
					t.Fatal(err)
				}
				if n >= 64<<10 {
					break
				}
				if time.Now().After(deadline) || ch.exitedWithin(0) {
					t.Fatalf("the output pipe holds %d bytes after 30 s, want it full\nstderr:\n%s", n, ch.stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // rowdiff is now waiting in its write
			sent := time.Now()
			if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if !ch.exitedWithin(2 * time.Second) {
				ch.wait(t, 30*time.Second)
				t.Errorf("rowdiff took %v to exit after SIGINT with its reader stalled, want at most 2s", ch.exited.Sub(sent).Round(time.Millisecond))
			}
			if ch.code != 130 || !strings.Contains(ch.stderr.String(), "incomplete") {
				t.Errorf("exit %d, want 130 saying the output is incomplete\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			for name, m := range mons {
				waitNoSessions(t, name, m, 2*time.Second-time.Since(sent))
			}
		})
	}
}

// TestInterruptReadingRecords interrupts recheck and repair while they read a large --in once through
// for its tables, before any node is reached: that pass did not look at the interrupt, and 600,000
// records took 3.7-5.1 s to end (found by an exploratory helper).
func TestInterruptReadingRecords(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "big.jsonl")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := range 1_000_000 {
		fmt.Fprintf(w, `{"table":"public.t","key":{"id":%d},"kind":"changed","nodes":{"a":{"id":%d,"v":"x"},"b":{"id":%d,"v":"y"}}}`+"\n", i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	nodes := append(nodeArg("a", clA.DSN(bigDB)), nodeArg("b", clB.DSN(bigDB))...)
	for _, args := range [][]string{
		{"recheck", "--in", in, "--out", filepath.Join(dir, "still.jsonl")},
		{"repair", "--in", in, "--source", "a", "--target", "b", "--out", filepath.Join(dir, "repair.sql")},
	} {
		ch := startRowdiff(t, dir, append(args, nodes...)...)
		time.Sleep(300 * time.Millisecond)
		sent := time.Now()
		if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if !ch.exitedWithin(2 * time.Second) {
			ch.wait(t, 30*time.Second)
			t.Errorf("%s took %v to exit after SIGINT while reading --in, want at most 2s", args[0], ch.exited.Sub(sent).Round(time.Millisecond))
		}
		if ch.code != 130 {
			t.Errorf("%s: exit %d after SIGINT, want 130\nstderr:\n%s", args[0], ch.code, ch.stderr.String())
		}
	}
}

// TestInterruptDemo interrupts the demo once its diff has written its records: it left its folder, with
// them, having said "no output written" (found by an exploratory helper). Its clusters stop too.
func TestInterruptDemo(t *testing.T) {
	dir := t.TempDir()
	ch := startRowdiff(t, dir, "demo", "--dir", dir)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if m, _ := filepath.Glob(filepath.Join(dir, "rowdiff-demo-*", "diffs.jsonl")); len(m) > 0 {
			break
		}
		if time.Now().After(deadline) || ch.exitedWithin(0) {
			t.Fatalf("the demo wrote no diffs.jsonl in 90 s\nstdout:\n%s\nstderr:\n%s", ch.stdout.String(), ch.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := ch.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	ch.wait(t, 30*time.Second)
	if ch.code != 130 {
		t.Errorf("demo: exit %d after SIGINT, want 130\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	if names := dirEntries(t, dir); len(names) != 0 {
		t.Errorf("the interrupted demo left %v in --dir, want nothing", names)
	}
}
