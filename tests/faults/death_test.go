package faults

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// bigArgs returns `diff --table bigTable` for nodes nameA=clA and nameB=clB, writing to out.
func bigArgs(nameA, nameB, out string, extra ...string) []string {
	args := []string{"diff", "--table", bigTable}
	args = append(args, nodeArg(nameA, clA.DSN(bigDB))...)
	args = append(args, nodeArg(nameB, clB.DSN(bigDB))...)
	args = append(args, "--out", out)
	return append(args, extra...)
}

// slowWhere makes every row cost the server a millisecond, so a hash query over bigTable runs for many
// minutes while sending nothing. A server only notices that its client vanished when it sends, so such a
// query keeps running after rowdiff is gone unless rowdiff cancels it: this is what gives the "no rowdiff
// query still active" checks their teeth (TestInterrupt's SIGKILL case shows the query does outlive a
// client that cannot cancel).
const slowWhere = "pg_catalog.pg_sleep(0.001) IS NOT NULL"

// slowArgs run slowWhere over many ranges on all four workers (the default --max-connections 5 leaves
// four besides the coordinator), so that slowWorkers hash queries per node are in flight and every one
// of them must be cancelled.
var slowArgs = []string{"--where", slowWhere, "--block-rows", "100000", "--concurrency", "4"}

const slowWorkers = 4

// TestNodeDiesMidRun crashes one node while rowdiff works on both. rowdiff must fail promptly (exit 2,
// naming the dead node), leave no output behind, and cancel what it still runs on the survivor rather
// than leave that server working for a run that is over.
func TestNodeDiesMidRun(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		// The crash comes once `queries` queries matching phase run on each node, or with victimIdle on
		// the survivor alone, the victim's having ended.
		phase      func(backend) bool
		queries    int
		victimIdle bool
	}{
		// Both nodes stream rows of the 30% that differ to the compare workers.
		{"compare", nil, isCompareQuery, 1, false},
		// Both nodes aggregate for minutes without sending: the survivor's queries end only if cancelled.
		{"hash", slowArgs, isHashQuery, slowWorkers, false},
		// The victim has answered its hash queries and waits, idle in its transactions, for the survivor's:
		// nothing reads its connections. rowdiff noticed the crash only when the survivor's queries ended
		// (28.6 s after it, in an exploratory helper's run), and let them run on till then.
		{"waiting", []string{"--where", "public.slow_on_survivor()", "--block-rows", "100000", "--concurrency", "4"},
			isHashQuery, slowWorkers, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			crashDuring(t, tc.extra, tc.phase, tc.queries, tc.victimIdle)
		})
	}
}

// slowOnSurvivor is slowWhere on clA, and true at once on clB.
func slowOnSurvivor(t *testing.T) {
	execSQL(t, clA, bigDB, `CREATE OR REPLACE FUNCTION public.slow_on_survivor() RETURNS bool LANGUAGE sql AS 'SELECT `+slowWhere+`'`)
	execSQL(t, clB, bigDB, `CREATE OR REPLACE FUNCTION public.slow_on_survivor() RETURNS bool LANGUAGE sql AS 'SELECT true'`)
}

// crashDuring crashes clB once `queries` queries matching phase run on each node.
func crashDuring(t *testing.T, extra []string, phase func(backend) bool, queries int, victimIdle bool) {
	monA, monB := monitor(t, clA), monitor(t, clB)
	if victimIdle {
		slowOnSurvivor(t)
	}
	waitNoSessions(t, "survivor", monA, 10*time.Second)
	waitNoSessions(t, "victim", monB, 10*time.Second)
	// A checkpoint now keeps crash recovery after the kill short.
	execSQL(t, clB, "postgres", "CHECKPOINT")
	t.Cleanup(func() {
		// The other tests need clB back: restart it (crash recovery) and prove it answers.
		ctx, cancel := setupContext()
		defer cancel()
		if err := clB.Restart(ctx); err != nil {
			t.Errorf("restarting the crashed node: %v", err)
			return
		}
		if n := queryInt(t, clB, bigDB, "SELECT count(*) FROM big"); n != bigRows {
			t.Errorf("after crash recovery %s has %d rows, want %d", bigTable, n, bigRows)
		}
	})

	dir := t.TempDir()
	out := filepath.Join(dir, "diffs.jsonl")
	ch := startRowdiff(t, "", bigArgs("survivor", "victim", out, extra...)...)
	// Both nodes must be busy: the victim so that the crash cuts a query, the survivor so that there is
	// something to cancel.
	if victimIdle {
		waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"survivor": monA}, phase, queries)
		waitNoActive(t, "victim", monB, 10*time.Second)
	} else {
		waitQueriesN(t, ch, 30*time.Second, map[string]*pgx.Conn{"survivor": monA, "victim": monB}, phase, queries)
	}

	ctx, cancel := setupContext()
	defer cancel()
	killed := time.Now()
	if err := clB.StopImmediate(ctx); err != nil {
		t.Fatalf("crash the victim: %v", err)
	}
	// StopImmediate returns once the server is gone; rowdiff's 10 s start at the crash.
	ch.wait(t, 10*time.Second+time.Since(killed))
	if ch.code != 2 {
		t.Fatalf("exit %d after the victim died, want 2\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	if d := ch.exited.Sub(killed); d > 10*time.Second {
		t.Errorf("rowdiff exited %v after the node died, want within 10s", d)
	}
	t.Logf("rowdiff exited %v after the crash; stderr:\n%s", ch.exited.Sub(killed).Round(time.Millisecond), ch.stderr.String())
	if !strings.Contains(ch.stderr.String(), "victim") {
		t.Errorf("stderr does not name the dead node %q:\n%s", "victim", ch.stderr.String())
	}
	// And the cause: it said "unexpected EOF" or pgx's "conn closed" and nothing more.
	if msg := ch.stderr.String(); !strings.Contains(msg, "the connection to node victim was lost") &&
		!strings.Contains(msg, "the server closed the connection") && !strings.Contains(msg, "FATAL") {
		t.Errorf("stderr does not say the node's connection was lost:\n%s", msg)
	}
	checkNoOutput(t, dir)
	waitNoActive(t, "survivor", monA, 5*time.Second-time.Since(ch.exited))
}

// TestReasonOfAClosedConnection: node b ends a worker's session for idling past --idle-timeout while the
// worker waits for node a's slow hash, with tens of kB of b's own results still unread before the
// server's FATAL. The watch that notices closed connections read only the first 4 KiB, missed the
// FATAL, and said "the server closed the connection" in place of the timeout and its hint (found by a
// re-test helper).
func TestReasonOfAClosedConnection(t *testing.T) {
	slowOnSurvivor(t)
	monA, monB := monitor(t, clA), monitor(t, clB)
	waitNoSessions(t, "a", monA, 10*time.Second)
	waitNoSessions(t, "b", monB, 10*time.Second)
	dir := t.TempDir()
	ch := startRowdiff(t, dir, bigArgs("a", "b", filepath.Join(dir, "o.jsonl"), "--where", "public.slow_on_survivor()",
		// Blocks whose hash results (some 70 kB) fit in b's receive buffers: more, and b's close could not
		// reach rowdiff before it read them.
		"--block-rows", "50000", "--concurrency", "4", "--idle-timeout", "2s")...)
	ch.wait(t, 30*time.Second)
	msg := ch.stderr.String()
	if ch.code != 2 || !strings.Contains(msg, "idle-in-transaction timeout") || !strings.Contains(msg, "--idle-timeout") {
		t.Errorf("exit %d, want 2 with the server's idle-in-transaction FATAL and the --idle-timeout hint\nstderr:\n%s", ch.code, msg)
	}
	// The watch reads the FATAL for a session waiting on node a's hash, and says so, as the session's own
	// read would have: it said only "node b: FATAL: ...".
	if want := "node b: hash range "; !strings.Contains(msg, want) || !strings.Contains(msg, " of "+bigTable+": FATAL") {
		t.Errorf("stderr does not say %q ... %q:\n%s", want, " of "+bigTable+": FATAL", msg)
	}
	checkNoOutput(t, dir)
	waitNoActive(t, "a", monA, 5*time.Second)
}
