package main

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// report writes <date>-<host>.csv, the two plots and latest.md into dir.
func report(dir string, info runInfo, results []result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	base := info.Date + "-" + info.Host
	csvName, rssName, timeName := base+".csv", base+"-rss.png", base+"-time.png"
	if err := writeCSV(filepath.Join(dir, csvName), results); err != nil {
		return err
	}
	if err := plotRSS(filepath.Join(dir, rssName), results); err != nil {
		return fmt.Errorf("plot %s: %w", rssName, err)
	}
	if err := plotTime(filepath.Join(dir, timeName), results); err != nil {
		return fmt.Errorf("plot %s: %w", timeName, err)
	}
	md := markdown(info, results, csvName, rssName, timeName)
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644); err != nil {
		return err
	}
	logf("wrote %s, %s, %s and latest.md in %s", csvName, rssName, timeName, dir)
	return nil
}

var csvHeader = []string{"rows", "diff_fraction", "format", "tool", "wall_s", "peak_rss_mb", "bytes_a", "bytes_b",
	"copy_bytes", "ranges_hashed", "ranges_split", "ranges_compared", "differences", "planted",
	"floor_a_s", "floor_b_s", "floor_c_s", "cpu_s", "load1", "error"}

func writeCSV(path string, results []result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	w.Write(csvHeader)
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	s := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	for _, r := range results {
		row := []string{i(r.Rows), s(r.Fraction, -1), r.Format, r.Tool, s(r.Wall, 3), s(mib(r.PeakRSS), 1),
			i(r.BytesA), i(r.BytesB), i(r.CopyBytes), i(r.RangesHashed), i(r.RangesSplit), i(r.RangesCompared),
			i(r.Differences), i(r.Planted), s(r.FloorA, 3), s(r.FloorB, 3), s(r.FloorC, 3), s(r.CPU, 3), s(r.Load1, 2), r.Err}
		if r.Tool != "rowdiff" { // pg_comparator reports no bytes or ranges: unknown, not zero
			for _, k := range []int{6, 7, 9, 10, 11} {
				row[k] = ""
			}
		}
		if r.Err != "" && r.Wall == 0 { // never ran: no measurement rather than zeros
			for k := 4; k < 13; k++ {
				row[k] = ""
			}
			row[17] = ""
		}
		w.Write(row)
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// find returns the result of one tool run, or nil.
func find(results []result, rows int64, fraction float64, tool, format string) *result {
	for i := range results {
		r := &results[i]
		if r.Rows == rows && r.Fraction == fraction && r.Tool == tool && r.Format == format {
			return r
		}
	}
	return nil
}

func ok(r *result) bool { return r != nil && r.Err == "" }

func fracLabel(f float64) string {
	return strconv.FormatFloat(f*100, 'f', -1, 64) + "%"
}

// target is one line of the targets table.
type target struct {
	name, value, verdict string
}

func check(name string, value float64, unit string, pass bool) target {
	v := "FAIL"
	if pass {
		v = "PASS"
	}
	// Three decimals, so a value just past a limit (1.304 against 1.3) does not print as the limit.
	return target{name, strconv.FormatFloat(value, 'f', 3, 64) + unit, v}
}

func missing(name, why string) target { return target{name, why, "n/a"} }

const (
	m1   = 1_000_000
	k100 = 100_000
)

// targets computes the project's performance targets from the results of the 1M-row table.
func targets(results []result) []target {
	var out []target
	rd := find(results, m1, 0.003, "rowdiff", "jsonl")
	pc := find(results, m1, 0.003, "pg_comparator", "text")
	const t1a, t1b = "(1) 1M @ 0.3%: rowdiff / floor (b) <= 1.5", "(1) 1M @ 0.3%: pg_comparator / rowdiff >= 3"
	if ok(rd) {
		out = append(out, check(t1a, rd.Wall/rd.FloorB, "", rd.Wall/rd.FloorB <= 1.5))
	} else {
		out = append(out, missing(t1a, why(rd)))
	}
	switch {
	case !ok(rd):
		out = append(out, missing(t1b, why(rd)))
	case pc == nil || pc.Wall == 0:
		out = append(out, missing(t1b, "pg_comparator: "+why(pc)))
	default:
		t := check(t1b, pc.Wall/rd.Wall, "", pc.Wall/rd.Wall >= 3)
		if pc.Err != "" {
			t.value += " (" + pc.Err + ")"
		}
		out = append(out, t)
	}

	pq := find(results, m1, 1, "rowdiff", "parquet")
	const t2a, t2b = "(2) 1M @ 100% parquet: rowdiff / floor (c) <= 2", "(2) 1M @ 100% parquet: peak RSS <= 96 MiB"
	if ok(pq) {
		out = append(out, check(t2a, pq.Wall/pq.FloorC, "", pq.Wall/pq.FloorC <= 2),
			check(t2b, mib(pq.PeakRSS), " MiB", mib(pq.PeakRSS) <= 96))
	} else {
		out = append(out, missing(t2a, why(pq)), missing(t2b, why(pq)))
	}

	for _, c := range []struct {
		f      float64
		format string
	}{{0, "jsonl"}, {0.003, "jsonl"}, {1, "jsonl"}, {1, "parquet"}} {
		name := fmt.Sprintf("(3) RSS(1M) / RSS(100k) <= 1.3 @ %s %s", fracLabel(c.f), c.format)
		big, small := find(results, m1, c.f, "rowdiff", c.format), find(results, k100, c.f, "rowdiff", c.format)
		switch {
		case !ok(big):
			out = append(out, missing(name, why(big)))
		case !ok(small):
			out = append(out, missing(name, "100k: "+why(small)))
		default:
			ratio := float64(big.PeakRSS) / float64(small.PeakRSS)
			out = append(out, check(name, ratio, fmt.Sprintf(" (%.1f / %.1f MiB)", mib(big.PeakRSS), mib(small.PeakRSS)), ratio <= 1.3))
		}
	}

	const t4 = "(4) 1M @ 0.3%: bytes received per node <= 5% of the binary COPY size"
	if ok(rd) {
		ratio := float64(max(rd.BytesA, rd.BytesB)) / float64(rd.CopyBytes)
		out = append(out, check(t4, ratio*100, fmt.Sprintf("%% (%.2f of %.1f MiB)", mib(max(rd.BytesA, rd.BytesB)), mib(rd.CopyBytes)), ratio <= 0.05))
	} else {
		out = append(out, missing(t4, why(rd)))
	}
	return out
}

func why(r *result) string {
	switch {
	case r == nil:
		return "not run (the 1M-row table and, for (3), the 100k one must be in -sizes)"
	case r.Err != "":
		return "failed: " + r.Err
	}
	return ""
}

func markdown(info runInfo, results []result, csvName, rssName, timeName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# rowdiff benchmark: %s on %s\n\n", info.Date, info.Host)
	fmt.Fprintf(&b, "Generated by `go run ./bench` (see [README](../README.md) for the method). Raw data: [%s](%s).\n\n", csvName, csvName)
	fmt.Fprintf(&b, "- machine: %s, %d cores, %s RAM; both clusters and every client on this one machine\n", info.CPU, info.Cores, info.Memory)
	fmt.Fprintf(&b, "- server: %s; shared_buffers 512MB, work_mem 64MB, fsync off, everything else default\n", info.Postgres)
	args := "defaults (" + info.RowdiffDefaults + ")"
	if len(info.RowdiffArgs) > 0 {
		args = "defaults plus `" + strings.Join(info.RowdiffArgs, " ") + "`"
	}
	fmt.Fprintf(&b, "- rowdiff: commit %s, built with %s; flags: %s\n", info.Commit, info.Go, args)
	pg := "pg_comparator 2.3.2 (Debian postgresql-comparator), defaults plus --max-ratio=2.0"
	if info.Pgcmp != "" {
		pg = "pg_comparator: " + info.Pgcmp
	}
	fmt.Fprintf(&b, "- %s\n", pg)
	fmt.Fprintf(&b, "- %d rounds per case, each running the floors (on both nodes at once) and then each tool once, so with the table in cache; every floor and tool shows its fastest round, and peak RSS is the highest of all rounds\n", info.Runs)
	fmt.Fprintf(&b, "- whole run (loading included): %s; 1-minute load average %.2f at the start, %.2f at the end "+
		"(the `load` column is the load when each case started: anything above ~0.5 on this machine means other work competed for its %d cores and the times are inflated)\n\n",
		info.Elapsed.Round(1e9), info.LoadStart, info.LoadEnd, info.Cores)

	b.WriteString("## Targets (1M rows)\n\n| target | measured | verdict |\n|---|---|---|\n")
	for _, t := range targets(results) {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.name, t.value, t.verdict)
	}

	b.WriteString("\n## Runs\n\nTimes in seconds (wall; cpu is the tool process's own user+system time), sizes in MiB. Floors: (a) rowdiff's row hash over the whole table, " +
		"(b) `bit_xor(hash_record_extended(t, 0))`, (c) binary `COPY ... ORDER BY id`; each on both nodes at once.\n\n")
	b.WriteString("| rows | diff | tool | format | wall | cpu | peak RSS | recv a | recv b | recv/COPY | COPY | hashed | split | compared | differences | planted | floor a | floor b | floor c | load | note |\n")
	b.WriteString("|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range results {
		ran := r.Wall > 0
		num := func(s string) string {
			if !ran {
				return ""
			}
			return s
		}
		recv := func(x int64) string {
			if r.Tool != "rowdiff" {
				return ""
			}
			return num(fmt.Sprintf("%.2f", mib(x)))
		}
		ratio := ""
		if r.Tool == "rowdiff" && ran && r.CopyBytes > 0 {
			ratio = fmt.Sprintf("%.2f%%", 100*float64(max(r.BytesA, r.BytesB))/float64(r.CopyBytes))
		}
		ranges := func(x int64) string {
			if r.Tool != "rowdiff" {
				return ""
			}
			return num(strconv.FormatInt(x, 10))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %s | %s | %s | %d | %.3f | %.3f | %.3f | %.1f | %s |\n",
			sizeLabel(r.Rows), fracLabel(r.Fraction), r.Tool, r.Format,
			num(fmt.Sprintf("%.3f", r.Wall)), num(fmt.Sprintf("%.3f", r.CPU)), num(fmt.Sprintf("%.1f", mib(r.PeakRSS))), recv(r.BytesA), recv(r.BytesB), ratio,
			mib(r.CopyBytes), ranges(r.RangesHashed), ranges(r.RangesSplit), ranges(r.RangesCompared),
			num(strconv.FormatInt(r.Differences, 10)), r.Planted, r.FloorA, r.FloorB, r.FloorC, r.Load1, strings.ReplaceAll(r.Err, "|", "\\|"))
	}
	fmt.Fprintf(&b, "\n![peak RSS vs rows](%s)\n\n![time vs rows](%s)\n", rssName, timeName)
	return b.String()
}

// series is one line of a plot.
type series struct {
	name   string
	pts    plotter.XYs
	dashed bool
	color  color.Color // nil: the next palette color
}

func rowdiffSeries(results []result, y func(result) float64) []series {
	var out []series
	for _, c := range []struct {
		f      float64
		format string
	}{{0, "jsonl"}, {0.003, "jsonl"}, {1, "jsonl"}, {1, "parquet"}} {
		s := series{name: fmt.Sprintf("rowdiff %s %s", fracLabel(c.f), c.format)}
		for _, r := range results {
			if r.Tool == "rowdiff" && r.Fraction == c.f && r.Format == c.format && r.Err == "" {
				s.pts = append(s.pts, plotter.XY{X: float64(r.Rows), Y: y(r)})
			}
		}
		out = append(out, s)
	}
	return out
}

func pgcmpSeries(results []result, y func(result) float64) series {
	s := series{name: "pg_comparator 0.3%", dashed: true}
	for _, r := range results {
		if r.Tool == "pg_comparator" && r.Fraction == 0.003 && r.Wall > 0 {
			s.pts = append(s.pts, plotter.XY{X: float64(r.Rows), Y: y(r)})
		}
	}
	return s
}

func plotRSS(path string, results []result) error {
	rss := func(r result) float64 { return mib(r.PeakRSS) }
	ss := append(rowdiffSeries(results, rss), pgcmpSeries(results, rss))
	p := newPlot("Peak RSS (warm cache)", "peak RSS (MiB)", false)
	if err := addSeries(p, ss); err != nil {
		return err
	}
	p.Y.Min = 0
	p.Y.Max *= 1.5 // room for the legend above the lines
	return save(p, path)
}

func plotTime(path string, results []result) error {
	wall := func(r result) float64 { return r.Wall }
	ss := rowdiffSeries(results, wall)
	ss = append(ss, pgcmpSeries(results, wall))
	// The floors are drawn from the 0.3% case; they barely differ between fractions.
	for _, fl := range []struct {
		name  string
		color color.Color
		y     func(result) float64
	}{
		{"floor (a) row hash", color.Gray{0}, func(r result) float64 { return r.FloorA }},
		{"floor (b) hash_record_extended", color.Gray{90}, func(r result) float64 { return r.FloorB }},
		{"floor (c) binary COPY", color.Gray{160}, func(r result) float64 { return r.FloorC }},
	} {
		s := series{name: fl.name + " (0.3% case)", dashed: true, color: fl.color}
		for _, r := range results {
			if r.Tool == "rowdiff" && r.Fraction == 0.003 && r.Format == "jsonl" {
				s.pts = append(s.pts, plotter.XY{X: float64(r.Rows), Y: fl.y(r)})
			}
		}
		ss = append(ss, s)
	}
	p := newPlot("Wall time (warm cache)", "seconds (log)", true)
	if err := addSeries(p, ss); err != nil {
		return err
	}
	p.Y.Max *= 8 // room for the legend above the lines
	return save(p, path)
}

func newPlot(title, ylabel string, logY bool) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "rows (log)"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = rowTicks{}
	p.Y.Label.Text = ylabel
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	p.Legend.Left = true
	return p
}

func addSeries(p *plot.Plot, ss []series) error {
	for i, s := range ss {
		var pts plotter.XYs
		for _, pt := range s.pts {
			if pt.X > 0 && pt.Y > 0 { // a log axis cannot show zero
				pts = append(pts, pt)
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := s.color
		if c == nil {
			c = plotutil.Color(i)
		}
		l.Color, sc.Color = c, c
		sc.Shape = plotutil.Shape(i)
		if s.dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
	}
	// A log axis needs a positive extent: widen a single value so one table size still plots, and give
	// an empty plot (every run failed) some range rather than panic.
	if p.X.Min > p.X.Max {
		p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 1, 10, 1, 10
	}
	if p.X.Min == p.X.Max {
		p.X.Min, p.X.Max = p.X.Min/2, p.X.Max*2
	}
	if _, ok := p.Y.Scale.(plot.LogScale); ok && p.Y.Min == p.Y.Max {
		p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*2
	}
	return nil
}

func save(p *plot.Plot, path string) error {
	p.BackgroundColor = color.White
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.Legend.Padding = vg.Points(2)
	return p.Save(9*vg.Inch, 6*vg.Inch, path)
}

// rowTicks labels a log row axis 10k, 100k, 1m instead of 10000, 100000, 1e+06.
type rowTicks struct{}

func (rowTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = sizeLabel(int64(t.Value))
		}
	}
	return ticks
}
