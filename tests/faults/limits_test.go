package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestMaxDiffs stops after 10 of 100 differences: exit 1, exactly 10 distinct true differences in the
// file, and a summary and stderr that say the output is incomplete.
func TestMaxDiffs(t *testing.T) {
	db, want := negatedDB(t, "maxdiffs", 1000, "id % 10 = 0", 100)
	got, ch, sum := diffKeys(t, clA.DSN(db), clB.DSN(db), "--max-diffs", "10")
	if ch.code != 1 {
		t.Errorf("exit %d, want 1\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	if len(got) != 10 {
		t.Errorf("%d records, want exactly 10: %v", len(got), got)
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			t.Errorf("key %d reported but does not differ", k)
		}
	}
	if c, ok := sum["complete"].(bool); !ok || c {
		t.Errorf("summary complete = %v, want false", sum["complete"])
	}
	if d, _ := sum["differences"].(float64); d != 10 {
		t.Errorf("summary differences = %v, want 10", sum["differences"])
	}
	if !strings.Contains(ch.stderr.String(), "truncated") {
		t.Errorf("stderr does not say the output is truncated:\n%s", ch.stderr.String())
	}
}

// TestMaxConnections samples pg_stat_activity on both nodes every 20 ms during a diff of the big table
// with --max-connections 3 --concurrency 8: rowdiff may never hold more than 3 connections to a node.
func TestMaxConnections(t *testing.T) {
	mons := map[string]*pgx.Conn{"a": monitor(t, clA), "b": monitor(t, clB)}
	for name, m := range mons {
		waitNoSessions(t, name, m, 10*time.Second)
	}
	dir := t.TempDir()
	sumPath := filepath.Join(dir, "s.json")
	ch := startRowdiff(t, "", bigArgs("a", "b", filepath.Join(dir, "o.jsonl"),
		"--max-connections", "3", "--concurrency", "8", "--summary", sumPath)...)

	var mu sync.Mutex
	most := map[string]int{}
	worst := map[string][]backend{} // the sessions of the fullest sample, for the failure message
	samples := map[string]int{}
	var errs []error
	var wg sync.WaitGroup
	for name, mon := range mons {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				all, err := rowdiffBackends(ctx, mon)
				cancel()
				// Parallel workers of rowdiff's queries carry its application_name but are no
				// connections: the server starts them, within max_worker_processes.
				var bs []backend
				for _, b := range all {
					if b.Type == "client backend" {
						bs = append(bs, b)
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if len(bs) > most[name] {
					most[name], worst[name] = len(bs), bs
				}
				samples[name]++
				mu.Unlock()
				select {
				case <-ch.done:
					return
				case <-tick.C:
				}
			}
		}()
	}
	ch.wait(t, maxChildLife)
	wg.Wait()
	for _, err := range errs {
		t.Errorf("sampling pg_stat_activity: %v", err)
	}
	if ch.code != 1 {
		t.Errorf("exit %d, want 1\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	for name := range mons {
		if most[name] > 3 {
			var desc []string
			for _, b := range worst[name] {
				desc = append(desc, fmt.Sprintf("pid %d %s %s: %s", b.PID, b.Type, b.State, abbrev(b.Query, 150)))
			}
			t.Errorf("node %s: up to %d rowdiff sessions at once, want at most 3 (--max-connections 3):\n%s",
				name, most[name], strings.Join(desc, "\n"))
		}
		// A coordinator and at least one worker per node: seeing fewer means the sampling missed the run.
		if most[name] < 2 {
			t.Errorf("node %s: at most %d rowdiff sessions seen in %d samples; the sampling missed the run", name, most[name], samples[name])
		}
	}
	t.Logf("most sessions %v in %v samples, run took %v", most, samples, ch.elapsed.Round(time.Millisecond))
	// The limit must not cost correctness: the truth is counted by PostgreSQL on each node (node a holds
	// v = id everywhere, node b differs exactly where v <> id; both hold the same ids).
	if n := queryInt(t, clA, bigDB, "SELECT count(*) FROM big WHERE v <> id"); n != 0 {
		t.Fatalf("truth: node a has %d rows with v <> id", n)
	}
	want := queryInt(t, clB, bigDB, "SELECT count(*) FROM big WHERE v <> id")
	if got := summaryInt(t, sumPath, "differences"); got != want {
		t.Errorf("summary differences = %d, want %d", got, want)
	}
	// Fewer workers than --concurrency 8 are said why (the field was left empty for this cause).
	data, _ := os.ReadFile(sumPath)
	var sum struct {
		Workers int    `json:"workers"`
		Fewer   string `json:"fewer_workers"`
	}
	if err := json.Unmarshal(data, &sum); err != nil || sum.Workers != 2 || !strings.Contains(sum.Fewer, "--max-connections 3") {
		t.Errorf("summary workers %d, fewer_workers %q (%v); want 2 and why: --max-connections 3", sum.Workers, sum.Fewer, err)
	}
}

// summaryInt returns a numeric top-level field of a --summary file.
func summaryInt(t testing.TB, path, field string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no summary: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("summary is not JSON: %v", err)
	}
	var n int64
	if err := json.Unmarshal(m[field], &n); err != nil {
		t.Fatalf("summary field %q = %s: %v", field, m[field], err)
	}
	return n
}
