// Package progress draws a live view of a diff on a terminal: per table, rows hashed against the
// planner's estimate, ranges done, differences so far, rate and ETA.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/mattn/go-isatty"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/rowdiff/rowdiff/pipeline"
)

// Display shows progress on a terminal. A nil *Display shows nothing, so callers need no checks.
//
// The bar's own goroutine draws it and calls the decorators, while Update waits on that goroutine to
// set the bar's counters; so the decorators read atomics and never take mu.
type Display struct {
	mu     sync.Mutex // serializes Update and Stop
	p      *mpb.Progress
	bar    *mpb.Bar
	table  string
	ranges atomic.Int64
	diffs  atomic.Int64
}

// Start returns a display on f when f is a terminal and quiet is false, else nil.
func Start(f *os.File, quiet bool) *Display {
	if quiet || !(isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
		return nil
	}
	return startOn(f)
}

func startOn(w io.Writer) *Display {
	return &Display{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(32))}
}

// Update records new counters; safe for concurrent use.
func (d *Display) Update(p pipeline.Progress) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ranges.Store(p.RangesDone)
	d.diffs.Store(p.Differences)
	if p.Table != d.table {
		if d.bar != nil {
			d.bar.SetTotal(-1, true)
		}
		d.table = p.Table
		d.bar = d.p.AddBar(max(p.RowsEstimate, 1)+1,
			mpb.PrependDecorators(
				decor.Name(fmt.Sprintf("%s (%d/%d)", p.Table, p.TablesDone+1, p.Tables), decor.WCSyncSpaceR),
				decor.CountersNoUnit("%d / %d rows", decor.WCSyncSpace),
			),
			mpb.AppendDecorators(
				decor.Any(func(decor.Statistics) string {
					return fmt.Sprintf("%d ranges, %d differences", d.ranges.Load(), d.diffs.Load())
				}, decor.WCSyncSpace),
				decor.AverageSpeed(0, "%.0f rows/s", decor.WCSyncSpace),
				decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace),
			),
		)
	}
	// The bar completes only in Stop: it must keep drawing the compare phase after every row is hashed,
	// so its total stays ahead of the rows seen.
	if p.RowsHashed >= p.RowsEstimate {
		d.bar.SetTotal(p.RowsHashed+1, false)
	}
	d.bar.SetCurrent(p.RowsHashed)
}

// Stop draws the final state and returns once drawing has ended, so the summary can follow it. A run that
// did not finish (failed, interrupted) leaves the bar where it stood: completing it drew an interrupted
// hash as every row done (found by an exploratory helper).
func (d *Display) Stop(finished bool) {
	if d == nil {
		return
	}
	d.mu.Lock()
	switch {
	case d.bar != nil && finished:
		d.bar.SetTotal(-1, true)
	case d.bar != nil:
		d.bar.Abort(false)
	}
	d.mu.Unlock()
	d.p.Wait()
}
