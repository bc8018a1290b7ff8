package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestWriteTextManyTables: past summaryTables tables the human summary names only the tables that differ
// and counts the others; up to it, every table.
func TestWriteTextManyTables(t *testing.T) {
	summary := func(n int, differing ...int) *Summary {
		s := &Summary{Nodes: []NodeSummary{{Name: "a"}, {Name: "b"}}, Complete: true}
		for i := range n {
			ts := TableSummary{Table: fmt.Sprintf("lots.t%d", i)}
			for _, d := range differing {
				if d == i {
					ts.Differences, ts.Changed = 2, 2
				}
			}
			s.add(ts)
		}
		return s
	}
	var b strings.Builder
	summary(500, 77, 400).WriteText(&b)
	out := b.String()
	for _, want := range []string{"rowdiff: 500 tables\n", "table lots.t77 ", "table lots.t400 ", "  498 other tables: no differences\n", "differences: 4 (4 changed, 0 missing)"} {
		if !strings.Contains(out, want) {
			t.Errorf("500 tables: summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "lots.t1 ") || strings.Count(out, "\n") > 10 {
		t.Errorf("500 tables: summary names identical tables:\n%s", out)
	}

	b.Reset()
	summary(3, 1).WriteText(&b)
	out = b.String()
	for _, want := range []string{"rowdiff: lots.t0, lots.t1, lots.t2\n", "table lots.t0 ", "table lots.t1 ", "table lots.t2 "} {
		if !strings.Contains(out, want) {
			t.Errorf("3 tables: summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "other tables") {
		t.Errorf("3 tables: summary leaves tables out:\n%s", out)
	}
}

// TestWriteTextLongLists: every list of the human summary names its first summaryTables entries and counts
// the rest; a run of 2,000 tables wrote a line for each of 330 read by key hash and of 1,486 not compared
// (found by an exploratory helper).
func TestWriteTextLongLists(t *testing.T) {
	s := &Summary{Nodes: []NodeSummary{{Name: "a"}, {Name: "b"}}}
	for i := range 300 {
		ts := TableSummary{Table: fmt.Sprintf("lots.t%d", i), KeyScan: "a text key", NotCompared: i >= 100}
		s.add(ts)
		s.UnsupportedKeys = append(s.UnsupportedKeys, fmt.Sprintf("table lots.u%d: key column \"k\" has unsupported type m", i))
	}
	var b strings.Builder
	s.WriteText(&b)
	out := b.String()
	for _, want := range []string{"  and 290 more tables read by key hash (in the JSON summary)\n",
		"  and 290 more tables skipped for a key type rowdiff cannot order (in the JSON summary)\n",
		"  200 tables not compared (stopped at --max-diffs before them)\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n > 50 {
		t.Errorf("summary of %d lines, want a few dozen at most:\n%s", n, out)
	}
}

// TestWriteTextStoppedTable: past summaryTables tables, the table --max-diffs stopped in, with no
// difference counted yet, was counted among the tables without differences.
func TestWriteTextStoppedTable(t *testing.T) {
	s := &Summary{Nodes: []NodeSummary{{Name: "a"}, {Name: "b"}}}
	for i := range 36 {
		ts := TableSummary{Table: fmt.Sprintf("lots.cv%02d", i), NotCompared: i > 1, Stopped: i == 1}
		if i == 0 {
			ts.Differences, ts.Missing = 1, 1
		}
		s.add(ts)
	}
	var b strings.Builder
	s.WriteText(&b)
	out := b.String()
	if !strings.Contains(out, "table lots.cv01 ") || !strings.Contains(out, "stopped here at --max-diffs") || strings.Contains(out, "other tables: no differences") {
		t.Errorf("summary does not name lots.cv01 as stopped, or counts it as identical:\n%s", out)
	}
}

// TestWriteTextFailedTable: past ten tables, the table a run failed or was interrupted in is named with
// what it found, not counted as identical, and the tables after it are counted as not compared, for the
// reason that stopped the run.
func TestWriteTextFailedTable(t *testing.T) {
	for _, tc := range []struct{ err, here, before string }{
		{"node b: hash range [-inf, +inf) of lots.cv01: ERROR: division by zero", "failed here", "the run failed before them"},
		{"interrupted by SIGINT", "interrupted here", "the run was interrupted before them"},
	} {
		s := &Summary{Nodes: []NodeSummary{{Name: "a"}, {Name: "b"}}}
		for i := range 36 {
			s.add(TableSummary{Table: fmt.Sprintf("lots.cv%02d", i), NotCompared: i > 1, Failed: i == 1})
		}
		s.finish(errors.New(tc.err))
		var b strings.Builder
		s.WriteText(&b)
		out := b.String()
		if !strings.Contains(out, "table lots.cv01 ") || !strings.Contains(out, tc.here) || !strings.Contains(out, "34 tables not compared ("+tc.before+")") {
			t.Errorf("%s: summary does not name lots.cv01 as %s, or the 34 after it as not compared (%s):\n%s", tc.err, tc.here, tc.before, out)
		}
	}
}
