package pipeline

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// NodeSummary is one node's share of the work.
type NodeSummary struct {
	Name          string `json:"name"`
	Rows          int64  `json:"rows"`
	BytesReceived int64  `json:"bytes_received"`
}

// Summary is what a run did. It is written to stderr as text and, with --summary, as JSON.
type Summary struct {
	Table          string        `json:"table"`
	Nodes          []NodeSummary `json:"nodes"`
	RangesHashed   int64         `json:"ranges_hashed"`
	RangesSplit    int64         `json:"ranges_split"`
	RangesCompared int64         `json:"ranges_compared"`
	RowsCompared   int64         `json:"rows_compared"`
	Differences    int64         `json:"differences"`
	Changed        int64         `json:"changed"`
	Missing        int64         `json:"missing"`
	Complete       bool          `json:"complete"`
	Started        time.Time     `json:"started"`
	Finished       time.Time     `json:"finished"`
	ElapsedSeconds float64       `json:"elapsed_seconds"`
	Error          string        `json:"error,omitempty"`
}

// WriteText writes the human summary.
func (s *Summary) WriteText(w io.Writer) {
	fmt.Fprintf(w, "rowdiff: table %s\n", s.Table)
	for _, n := range s.Nodes {
		fmt.Fprintf(w, "  node %-12s %12d rows  %10.1f MiB received\n", n.Name, n.Rows, float64(n.BytesReceived)/(1<<20))
	}
	fmt.Fprintf(w, "  ranges: %d hashed, %d split, %d compared (%d rows compared)\n", s.RangesHashed, s.RangesSplit, s.RangesCompared, s.RowsCompared)
	fmt.Fprintf(w, "  differences: %d (%d changed, %d missing)\n", s.Differences, s.Changed, s.Missing)
	if !s.Complete {
		fmt.Fprintln(w, "  INCOMPLETE: the run stopped early; the output holds only part of the differences")
	}
	fmt.Fprintf(w, "  elapsed: %.2fs\n", s.ElapsedSeconds)
}

// WriteJSON writes the summary as one JSON object.
func (s *Summary) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(s)
}
