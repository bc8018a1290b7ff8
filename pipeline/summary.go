package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/stages"
)

// NodeSummary is one node's share of the work.
type NodeSummary struct {
	Name          string `json:"name"`
	Rows          int64  `json:"rows"`
	BytesReceived int64  `json:"bytes_received"`
}

// TableSummary is what happened to one table.
type TableSummary struct {
	Table          string  `json:"table"`
	Rows           []int64 `json:"rows"` // per node, in node order
	RangesHashed   int64   `json:"ranges_hashed"`
	RangesSplit    int64   `json:"ranges_split"`
	RangesCompared int64   `json:"ranges_compared"`
	RowsCompared   int64   `json:"rows_compared"`
	Differences    int64   `json:"differences"`
	Changed        int64   `json:"changed"`
	Missing        int64   `json:"missing"`
	// KeyIndex names the unique index that stands for the missing primary key (schema.Table.KeyIndex).
	KeyIndex string `json:"key_index,omitempty"`
	// KeyScan says why the table was read by key hash (whole-table scans) rather than by key ranges.
	KeyScan string `json:"key_scan,omitempty"`
	// Converted lists the columns the nodes declare with different types, and the type each was
	// compared in.
	Converted []string `json:"converted,omitempty"`
	// Digest is an order-independent fingerprint of the differing keys (see keyDigest).
	Digest string `json:"digest"`
	digest keyDigest
	// NotCompared says --max-diffs, an error or an interrupt stopped the run before this table: nothing
	// of it was read.
	NotCompared bool `json:"not_compared,omitempty"`
	// Stopped says --max-diffs stopped the run in this table: its counts are of the part compared (they
	// read as final, found by an exploratory helper).
	Stopped bool `json:"stopped,omitempty"`
	// Failed says the run failed, or was interrupted, in this table: its counts are of the part compared,
	// and it has no digest.
	Failed bool `json:"failed,omitempty"`
}

// newTableSummary starts the summary of table t, named as the run names it.
func newTableSummary(name string, t *schema.Table) TableSummary {
	return TableSummary{Table: name, KeyIndex: t.KeyIndex, KeyScan: t.KeyScan, Converted: t.Converted}
}

// count records one difference written.
func (t *TableSummary) count(d schema.Diff) {
	t.Differences++
	if d.Kind == schema.Missing {
		t.Missing++
	} else {
		t.Changed++
	}
	t.digest.add(d)
}

func (t *TableSummary) fill(s *stages.Stats, names []string) {
	t.Digest = t.digest.String()
	t.Rows = make([]int64, len(names))
	for i := range names {
		t.Rows[i] = s.Rows[i].Load()
	}
	t.RangesHashed = s.RangesHashed.Load()
	t.RangesSplit = s.RangesSplit.Load()
	t.RangesCompared = s.RangesCompared.Load()
	t.RowsCompared = s.RowsCompared.Load()
}

// Summary is what a run did. It is written to stderr as text and, with --summary, as JSON. The counters
// at the top are totals over Tables.
type Summary struct {
	Table          string         `json:"table"`
	Nodes          []NodeSummary  `json:"nodes"`
	RangesHashed   int64          `json:"ranges_hashed"`
	RangesSplit    int64          `json:"ranges_split"`
	RangesCompared int64          `json:"ranges_compared"`
	RowsCompared   int64          `json:"rows_compared"`
	Differences    int64          `json:"differences"`
	Changed        int64          `json:"changed"`
	Missing        int64          `json:"missing"`
	Complete       bool           `json:"complete"`
	Started        time.Time      `json:"started"`
	Finished       time.Time      `json:"finished"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Error          string         `json:"error,omitempty"`
	Tables         []TableSummary `json:"tables"`
	// Skipped lists tables of --schema without a key: no primary key, nor a unique index on NOT NULL columns.
	Skipped []string `json:"skipped,omitempty"`
	// UnsupportedKeys says, for each table of --schema skipped for its key's type, which column and type.
	UnsupportedKeys []string `json:"unsupported_keys,omitempty"`
	// MissingTables lists the tables of --schema that some node lacks, and which: "s.t: not on b".
	MissingTables []string `json:"missing_tables,omitempty"`
	// DifferentDefinitions lists the tables of --schema whose columns differ between the nodes so that
	// they cannot be compared, and how (each can be diffed alone with --table and --exclude-columns).
	DifferentDefinitions []string `json:"different_definitions,omitempty"`
	// Workers is how many sessions (one connection per node each) worked; FewerWorkers says why it is
	// less than --concurrency, if it is.
	Workers      int    `json:"workers"`
	FewerWorkers string `json:"fewer_workers,omitempty"`
	// Rounds is how many rounds a recheck ran (--rounds); the rest of the summary is the last one's.
	Rounds int `json:"rounds,omitempty"`
}

func (s *Summary) add(t TableSummary) {
	s.Tables = append(s.Tables, t)
	s.RangesHashed += t.RangesHashed
	s.RangesSplit += t.RangesSplit
	s.RangesCompared += t.RangesCompared
	s.RowsCompared += t.RowsCompared
	s.Differences += t.Differences
	s.Changed += t.Changed
	s.Missing += t.Missing
	if len(s.Tables) == 1 {
		s.Table = t.Table
	} else {
		s.Table += ", " + t.Table
	}
}

// Differs reports whether the run found a difference: a row, a table some node lacks, or a table whose
// columns differ between the nodes so that it could not be compared.
func (s *Summary) Differs() bool {
	return s.Differences > 0 || len(s.MissingTables) > 0 || len(s.DifferentDefinitions) > 0
}

// rows is node i's row count over all tables.
func (s *Summary) rows(i int) int64 {
	var n int64
	for _, t := range s.Tables {
		if i < len(t.Rows) {
			n += t.Rows[i]
		}
	}
	return n
}

func (s *Summary) finish(err error) {
	s.Finished = time.Now()
	s.ElapsedSeconds = s.Finished.Sub(s.Started).Seconds()
	if err != nil {
		s.Complete = false
		s.Error = err.Error()
	}
}

// noKey is why --schema skips a table (Summary.Skipped).
const noKey = "no primary key, nor a unique index on NOT NULL columns"

// summaryTables is the most tables the human summary names one by one; past it, it names only the tables
// that differ (a --schema run of 500 tables wrote a first line of 5.4 KB and 500 lines of "0 differences").
// The JSON summary always lists every table.
const summaryTables = 10

// WriteText writes the human summary.
func (s *Summary) WriteText(w io.Writer) {
	if s.Error != "" && len(s.Tables) == 0 {
		return // nothing ran; the error says it all
	}
	switch {
	case len(s.Tables) == 0 && s.Rounds > 0:
		fmt.Fprintln(w, "rowdiff: no keys to recheck")
	case len(s.Tables) == 0:
		fmt.Fprintln(w, "rowdiff: no table is on every node")
	case len(s.Tables) > summaryTables:
		fmt.Fprintf(w, "rowdiff: %d tables\n", len(s.Tables))
	default:
		fmt.Fprintf(w, "rowdiff: %s\n", s.Table)
	}
	for _, n := range s.Nodes {
		if s.RangesHashed == 0 { // a recheck reads keys, not whole tables: there is no row count
			fmt.Fprintf(w, "  node %-12s %10.1f MiB received\n", n.Name, float64(n.BytesReceived)/(1<<20))
			continue
		}
		fmt.Fprintf(w, "  node %-12s %12d rows  %10.1f MiB received\n", n.Name, n.Rows, float64(n.BytesReceived)/(1<<20))
	}
	many := len(s.Tables) > summaryTables
	if len(s.Tables) > 1 {
		before, failed := "stopped at --max-diffs before", "failed"
		switch {
		case strings.HasPrefix(s.Error, "interrupted"):
			before, failed = "the run was interrupted before", "interrupted"
		case s.Error != "":
			before = "the run failed before"
		}
		identical, notCompared := 0, 0
		for _, t := range s.Tables {
			switch {
			case t.NotCompared && many:
				notCompared++
				continue
			case t.NotCompared:
				fmt.Fprintf(w, "  table %-30s not compared (%s it)\n", t.Table, before)
				continue
			case t.Differences == 0 && !t.Stopped && !t.Failed && len(s.Tables) > summaryTables:
				// Not the table the run stopped or failed in, whose zero is of the part compared (it was
				// counted as identical; found by an exploratory helper).
				identical++
				continue
			}
			ended := ""
			switch {
			case t.Stopped:
				ended = ", stopped here at --max-diffs"
			case t.Failed:
				ended = ", " + failed + " here: only those found before"
			}
			fmt.Fprintf(w, "  table %-30s %8d %s (%d changed, %d missing%s)\n", t.Table, t.Differences, plural(t.Differences, "difference"), t.Changed, t.Missing, ended)
		}
		if identical > 0 {
			fmt.Fprintf(w, "  %d other tables: no differences\n", identical)
		}
		if notCompared > 0 {
			fmt.Fprintf(w, "  %d tables not compared (%s them)\n", notCompared, before)
		}
	}
	// Each list names its first summaryTables entries and counts the rest, which the JSON summary lists: a run of 2,000 tables wrote a line for each of 330 read by key hash and 1,486 not
	// compared (found by an exploratory helper).
	var keyIndex, keyScan, converted []string
	for _, t := range s.Tables {
		if t.KeyIndex != "" {
			keyIndex = append(keyIndex, fmt.Sprintf("%s has no primary key: keyed by its unique index %s", t.Table, t.KeyIndex))
		}
		if t.KeyScan != "" {
			keyScan = append(keyScan, fmt.Sprintf("%s read by key hash (a scan per node, one more for the differing rows): %s", t.Table, t.KeyScan))
		}
		for _, c := range t.Converted {
			converted = append(converted, fmt.Sprintf("%s: %s", t.Table, c))
		}
	}
	list := func(lines []string, format, rest string) {
		for i, l := range lines {
			if i == summaryTables {
				fmt.Fprintf(w, "  and %d more %s (in the JSON summary)\n", len(lines)-i, rest)
				return
			}
			fmt.Fprintf(w, "  "+format+"\n", l)
		}
	}
	list(keyIndex, "%s", "tables keyed by a unique index")
	list(keyScan, "%s", "tables read by key hash")
	list(converted, "%s", "columns compared in another type or way")
	if s.FewerWorkers != "" {
		fmt.Fprintf(w, "  workers: %d: %s\n", s.Workers, s.FewerWorkers)
	}
	list(s.Skipped, "skipped table %s: "+noKey, "tables skipped for want of a key")
	list(s.UnsupportedKeys, "skipped %s", "tables skipped for a key type rowdiff cannot order")
	list(s.MissingTables, "missing table %s", "missing tables")
	list(s.DifferentDefinitions, "not compared: %s", "tables not compared for their definitions")
	fmt.Fprintf(w, "  ranges: %d hashed, %d split, %d compared (%d rows compared)\n", s.RangesHashed, s.RangesSplit, s.RangesCompared, s.RowsCompared)
	if s.Error != "" {
		// A bare "differences: 0" above the error line reads like a verdict the run never reached.
		fmt.Fprintf(w, "  differences found before the run failed: %d (%d changed, %d missing)\n", s.Differences, s.Changed, s.Missing)
	} else {
		fmt.Fprintf(w, "  differences: %d (%d changed, %d missing)\n", s.Differences, s.Changed, s.Missing)
	}
	if !s.Complete && s.Error == "" {
		fmt.Fprintln(w, "  INCOMPLETE: stopped at --max-diffs; rows not compared yet may differ too")
	}
	if s.Rounds > 1 {
		// The rest is the last round's: its elapsed time read as the whole recheck's.
		fmt.Fprintf(w, "  rounds: %d (the counts and the time are the last round's)\n", s.Rounds)
	}
	fmt.Fprintf(w, "  elapsed: %.2fs\n", s.ElapsedSeconds)
}

// Log writes the summary as structured records: one per table, then one for the run, said as its
// totals before the error where failed is set. They carry what the human summary says: before, the run's
// record alone left out the tables skipped, each table's counts and which tables --max-diffs left
// unread (found by an exploratory helper).
func (s *Summary) Log(log *slog.Logger, failed bool, maxDiffs int64) {
	// with adds key and val where the human summary would say it.
	with := func(attrs []any, key string, val any, said bool) []any {
		if said {
			return append(attrs, key, val)
		}
		return attrs
	}
	for _, t := range s.Tables {
		if t.KeyScan != "" {
			log.Warn("table read by key hash", "table", t.Table, "reason", t.KeyScan)
		}
		attrs := []any{"table", t.Table, "differences", t.Differences, "changed", t.Changed, "missing", t.Missing,
			"ranges_hashed", t.RangesHashed, "ranges_split", t.RangesSplit, "ranges_compared", t.RangesCompared,
			"rows_compared", t.RowsCompared}
		attrs = with(attrs, "not_compared", true, t.NotCompared)
		attrs = with(attrs, "stopped", true, t.Stopped)
		attrs = with(attrs, "failed", true, t.Failed)
		attrs = with(attrs, "key_index", t.KeyIndex, t.KeyIndex != "")
		attrs = with(attrs, "converted", t.Converted, len(t.Converted) > 0)
		log.Info("table", attrs...)
	}
	nodes := make([]any, len(s.Nodes))
	for i, n := range s.Nodes {
		nodes[i] = slog.Group(n.Name, "rows", n.Rows, "bytes_received", n.BytesReceived)
	}
	level, msg := slog.LevelInfo, "run finished"
	if failed {
		level, msg = slog.LevelError, "totals before the run failed"
	}
	attrs := []any{"tables", s.Table, "differences", s.Differences, "changed", s.Changed,
		"missing", s.Missing, "complete", s.Complete, "ranges_hashed", s.RangesHashed,
		"ranges_split", s.RangesSplit, "ranges_compared", s.RangesCompared, "elapsed_seconds", s.ElapsedSeconds,
		slog.Group("nodes", nodes...), "workers", s.Workers}
	attrs = with(attrs, "skipped", s.Skipped, len(s.Skipped) > 0)
	attrs = with(attrs, "unsupported_keys", s.UnsupportedKeys, len(s.UnsupportedKeys) > 0)
	attrs = with(attrs, "missing_tables", s.MissingTables, len(s.MissingTables) > 0)
	attrs = with(attrs, "different_definitions", s.DifferentDefinitions, len(s.DifferentDefinitions) > 0)
	attrs = with(attrs, "fewer_workers", s.FewerWorkers, s.FewerWorkers != "")
	attrs = with(attrs, "rounds", s.Rounds, s.Rounds > 0)
	log.Log(context.Background(), level, msg, attrs...)
	if !s.Complete && !failed {
		log.Warn("output truncated at --max-diffs; rows not compared yet may differ too", "max_diffs", maxDiffs)
	}
}

// WriteJSON writes the summary as one JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(s)
}

// Count is n and the noun, in the plural unless n is 1: "1 key", "2 keys".
func Count(n int64, noun string) string { return fmt.Sprintf("%d %s", n, plural(n, noun)) }

func plural(n int64, noun string) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}
