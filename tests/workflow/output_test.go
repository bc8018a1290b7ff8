package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// outSetup is a table big enough for the live display to draw at least one frame.
const outSetup = `CREATE TABLE big (id int8 PRIMARY KEY, v text, n numeric);
INSERT INTO big SELECT g, repeat('x', 40) || g, g FROM generate_series(1, 200000) g;
ANALYZE big;`

const outPlants = `UPDATE big SET v = 'changed' WHERE id % 20000 = 0;
DELETE FROM big WHERE id IN (5, 6);`

// summaryLine matches every line the human summary of a single-table run may have.
var summaryLine = regexp.MustCompile(`^(rowdiff: \S.*|  node .* rows .* received|  ranges: .*|  differences: \d+ \(\d+ changed, \d+ missing\)|  elapsed: [0-9.]+s)$`)

// TestStderrOutputs checks what rowdiff prints on stderr when it is not a terminal (as under CI): only the
// summary by default and with --quiet, and only JSON objects with --log-format json.
func TestStderrOutputs(t *testing.T) {
	t.Parallel()
	a, b := pair(t, outSetup, "", outPlants)
	nodes := []Node{a, b}
	want := truth(t, a, b, Spec{Table: "big", Key: []string{"id"}}, false)
	changed, missing := kinds(want)
	wantDiffLine := fmt.Sprintf("  differences: %d (%d changed, %d missing)", len(want), changed, missing)

	for _, quiet := range []bool{false, true} {
		args := []string{"--table", "big"}
		if quiet {
			args = append(args, "--quiet")
		}
		d := diff(t, nodes, args...)
		wantCode(t, d.Proc, 1)
		sameKeys(t, d.String(), keysOf(t, d.Records), want)
		if strings.Contains(d.Stderr, "\x1b[") || strings.Contains(d.Stderr, "\r") {
			t.Errorf("%s: stderr is not a terminal but has escape sequences or carriage returns: %q", d, abbrev(d.Stderr, 1000))
		}
		lines := strings.Split(strings.TrimSuffix(d.Stderr, "\n"), "\n")
		for _, l := range lines {
			if !summaryLine.MatchString(l) {
				t.Errorf("%s: stderr line %q is not part of the summary\nstderr:\n%s", d, l, d.Stderr)
			}
		}
		if len(lines) == 0 || lines[0] != "rowdiff: public.big" || !strings.Contains(d.Stderr, wantDiffLine+"\n") {
			t.Errorf("%s: summary should start with 'rowdiff: public.big' and contain %q:\n%s", d, wantDiffLine, d.Stderr)
		}
	}

	// --log-format json: every stderr line is a JSON object, and one says the run finished and how it went.
	d := diff(t, nodes, "--table", "big", "--log-format", "json")
	wantCode(t, d.Proc, 1)
	sameKeys(t, d.String(), keysOf(t, d.Records), want)
	finished := jsonLogLines(t, d.Proc, "run finished")
	if len(finished) != 1 {
		t.Errorf("%s: %d records with msg \"run finished\", want 1:\n%s", d, len(finished), d.Stderr)
	} else {
		var rec struct {
			Level       string
			Differences *int64
			Changed     *int64
			Missing     *int64
		}
		if err := json.Unmarshal(finished[0], &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Level != "INFO" || rec.Differences == nil || *rec.Differences != int64(len(want)) ||
			rec.Changed == nil || *rec.Changed != changed || rec.Missing == nil || *rec.Missing != missing {
			t.Errorf("%s: run finished record %s, want level INFO, differences %d, changed %d, missing %d",
				d, finished[0], len(want), changed, missing)
		}
	}

	// Each table has a record of its own, and the run's names its nodes' counts (only the run's was written,
	// and in text its nodes were a Go struct: nodes="[{Name:a Rows:...}]").
	tables := jsonLogLines(t, d.Proc, "table")
	var tbl struct {
		Table       string
		Differences int64
	}
	if len(tables) != 1 || json.Unmarshal(tables[0], &tbl) != nil || tbl.Table != "public.big" || tbl.Differences != int64(len(want)) {
		t.Errorf("%s: want one \"table\" record for public.big with %d differences:\n%s", d, len(want), d.Stderr)
	}
	var run struct {
		Nodes map[string]struct{ Rows int64 }
	}
	if len(finished) == 1 && (json.Unmarshal(finished[0], &run) != nil || run.Nodes["a"].Rows == 0 || run.Nodes["b"].Rows == 0) {
		t.Errorf("%s: run finished record %s, want rows under nodes.a and nodes.b", d, finished[0])
	}
	// --max-diffs says the output is truncated in a record too, not in a plain line among them.
	d = diff(t, nodes, "--table", "big", "--log-format", "json", "--max-diffs", "1")
	wantCode(t, d.Proc, 1)
	if cut := jsonLogLines(t, d.Proc, "output truncated at --max-diffs; rows not compared yet may differ too"); len(cut) != 1 {
		t.Errorf("%s: %d records saying the output is truncated, want 1:\n%s", d, len(cut), d.Stderr)
	}

	// An error is a JSON record too, and still exit 2.
	out := filepath.Join(t.TempDir(), "err.jsonl")
	p := rowdiff(t, append(append([]string{"diff", "--table", "no_such_table", "--log-format", "json"}, nodeArgs(a, b)...), "--out", out)...)
	wantCode(t, p, 2)
	failed := jsonLogLines(t, p, "run failed")
	if len(failed) != 1 || !bytes.Contains(failed[0], []byte("no_such_table")) || !bytes.Contains(failed[0], []byte(`"level":"ERROR"`)) {
		t.Errorf("%s: want one ERROR record \"run failed\" naming no_such_table; stderr:\n%s", p, p.Stderr)
	}

	// --log-format text is slog's key=value form.
	d = diff(t, nodes, "--table", "big", "--log-format", "text")
	wantCode(t, d.Proc, 1)
	if !strings.Contains(d.Stderr, `msg="run finished"`) || !strings.Contains(d.Stderr, fmt.Sprintf("differences=%d ", len(want))) ||
		!strings.Contains(d.Stderr, " nodes.a.rows=") {
		t.Errorf("%s: stderr lacks msg=\"run finished\" with differences=%d and nodes.a.rows:\n%s", d, len(want), d.Stderr)
	}

	p = rowdiff(t, append(append([]string{"diff", "--table", "big", "--log-format", "xml"}, nodeArgs(a, b)...), "--out", out)...)
	wantCode(t, p, 2)
	if !strings.Contains(p.Stderr, "--log-format") {
		t.Errorf("%s: stderr does not name the bad flag:\n%s", p, p.Stderr)
	}
}

// jsonLogLines asserts every stderr line of p is a JSON object with time, level and msg, and returns those
// whose msg is msg.
func jsonLogLines(t *testing.T, p Proc, msg string) []json.RawMessage {
	t.Helper()
	var found []json.RawMessage
	for i, l := range strings.Split(strings.TrimSuffix(p.Stderr, "\n"), "\n") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("%s: stderr line %d is not a JSON object (%v): %q", p, i+1, err, l)
			continue
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: stderr line %d has no %q: %s", p, i+1, k, l)
			}
		}
		if string(m["msg"]) == fmt.Sprintf("%q", msg) {
			found = append(found, json.RawMessage(l))
		}
	}
	return found
}

// runPTY runs rowdiff with stdin, stdout and stderr on a pseudo-terminal and returns what it drew. A run
// still going after timeout gets SIGQUIT, so the failure shows the goroutine dump of the hang.
func runPTY(t *testing.T, timeout time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, rowdiffBin, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cmd.Environ(), "TERM=xterm-256color")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		t.Fatalf("start rowdiff on a pseudo-terminal: %v", err)
	}
	var buf bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Reading ends with EIO once the child has exited and closed the terminal.
		_, _ = io.Copy(&buf, f)
	}()
	err = cmd.Wait()
	wg.Wait()
	f.Close()
	code := 0
	var ee *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("rowdiff %s on a terminal: still running after %v; killed with SIGQUIT. Its output, then the goroutines in rowdiff's own packages:\n%s",
			shellArgs(args), timeout, ownGoroutines(buf.String()))
	case errors.As(err, &ee) && ee.Exited():
		code = ee.ExitCode()
	default:
		t.Fatalf("rowdiff %s on a terminal: %v", shellArgs(args), err)
	}
	return code, buf.String()
}

// ownGoroutines shortens the output of a Go program killed by SIGQUIT to what precedes the dump and the
// goroutines whose stacks pass through rowdiff's own packages (the rest is runtime and library noise).
func ownGoroutines(out string) string {
	out = strings.ReplaceAll(out, "\r\n", "\n")
	head, dump, ok := strings.Cut(out, "SIGQUIT: quit")
	if !ok {
		return abbrev(out, 16000)
	}
	var b strings.Builder
	b.WriteString(head)
	for _, g := range strings.Split(dump, "\n\n") {
		if strings.Contains(g, "github.com/rowdiff/rowdiff/") {
			b.WriteString(g + "\n\n")
		}
	}
	return abbrev(b.String(), 16000)
}

// progressBar matches the display's rows counter ("123 / 200000 rows"); the summary has no such text.
var progressBar = regexp.MustCompile(`\d+ / \d+ rows`)

// lastFrame matches the display's counters ("12 ranges, 3 differences").
var lastFrame = regexp.MustCompile(`\d+ ranges, (\d+) differences`)

// TestProgressOnTerminal runs diff under a pseudo-terminal: the live display draws the table and its rows;
// --quiet and --log-format turn it off.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	a, b := pair(t, outSetup, "", outPlants)
	base := append([]string{"diff", "--table", "big"}, nodeArgs(a, b)...)
	want := truth(t, a, b, Spec{Table: "big", Key: []string{"id"}}, false)
	changed, missing := kinds(want)
	wantDiffLine := fmt.Sprintf("differences: %d (%d changed, %d missing)", len(want), changed, missing)

	code, out := runPTY(t, 30*time.Second, append(base, "--out", filepath.Join(t.TempDir(), "o.jsonl"))...)
	if code != 1 {
		t.Errorf("rowdiff on a terminal: exit %d, want 1\n%q", code, abbrev(out, 3000))
	}
	if !strings.Contains(out, "public.big (1/1)") || !progressBar.MatchString(out) {
		t.Errorf("rowdiff on a terminal drew no progress display (want the table name 'public.big (1/1)' and 'N / M rows'):\n%q",
			abbrev(out, 3000))
	}
	// The display's last frame stays on the screen above the summary, so its counters must be the final ones.
	frames := lastFrame.FindAllStringSubmatch(out, -1)
	if len(frames) > 0 {
		last := frames[len(frames)-1]
		if last[1] != fmt.Sprint(len(want)) {
			t.Errorf("the progress display's last frame says %q differences, but the run found %d (summary: %q):\n%q",
				last[1], len(want), wantDiffLine, abbrev(out, 3000))
		}
	}
	if !strings.Contains(out, wantDiffLine) {
		t.Errorf("the summary does not follow the display on the terminal:\n%q", abbrev(out, 3000))
	}

	for _, flag := range [][]string{{"--quiet"}, {"--log-format", "json"}} {
		code, out := runPTY(t, 30*time.Second, append(append(base, "--out", filepath.Join(t.TempDir(), "o.jsonl")), flag...)...)
		if code != 1 {
			t.Errorf("rowdiff %s on a terminal: exit %d, want 1\n%q", flag, code, abbrev(out, 3000))
		}
		if progressBar.MatchString(out) || strings.Contains(out, "(1/1)") || strings.Contains(out, "\x1b[") {
			t.Errorf("rowdiff %s on a terminal still drew the progress display:\n%q", flag, abbrev(out, 3000))
		}
	}
}

// TestProgressOfAFailedRun: a run that fails leaves its bar where it stood. Completing it drew an
// interrupted hash as "150016 / 150016 rows", a finished look (found by an exploratory helper).
func TestProgressOfAFailedRun(t *testing.T) {
	t.Parallel()
	a, b := pair(t, outSetup, "", outPlants)
	// Division by zero at the row of id 150,000: the hash fails three quarters into the table.
	code, out := runPTY(t, 30*time.Second, append(append([]string{"diff", "--table", "big"}, nodeArgs(a, b)...),
		"--where", "1.0 / (id - 150000) IS NOT NULL", "--block-rows", "10000", "--concurrency", "1",
		"--out", filepath.Join(t.TempDir(), "o.jsonl"))...)
	if code != 2 || !strings.Contains(out, "division by zero") {
		t.Fatalf("exit %d, want 2 with the division by zero:\n%q", code, abbrev(out, 3000))
	}
	bars := regexp.MustCompile(`(\d+) / (\d+) rows`).FindAllStringSubmatch(out, -1)
	if len(bars) == 0 {
		t.Fatalf("no progress bar drawn:\n%q", abbrev(out, 3000))
	}
	if last := bars[len(bars)-1]; last[1] == last[2] {
		t.Errorf("the failed run's last frame reads %q, as if every row were done:\n%q", last[0], abbrev(out, 3000))
	}
}

// TestHelpHasExamples checks every subcommand's --help shows an Examples section that uses it.
func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"diff", "recheck", "repair", "demo"} {
		p := rowdiff(t, sub, "--help")
		wantCode(t, p, 0)
		_, ex, ok := strings.Cut(p.Stdout, "\nExamples:\n")
		if !ok {
			t.Errorf("rowdiff %s --help has no Examples: section:\n%s", sub, p.Stdout)
			continue
		}
		ex, _, _ = strings.Cut(ex, "\n\n")
		if !strings.Contains(ex, "rowdiff") || !strings.Contains(ex, " "+sub) {
			t.Errorf("rowdiff %s --help: the examples do not show 'rowdiff ... %s':\n%s", sub, sub, ex)
		}
	}
}

// TestProgressDisplayDoesNotHang runs diffs with many tiny ranges under a pseudo-terminal, so the live
// display is updated hundreds of times a second while it redraws, for about 15 s in all: every run must
// finish (one that does not is killed with SIGQUIT and its goroutine dump shown). A lock-order hang between
// the display's updates and its redraws only shows when they coincide, so this test finds one with high
// probability per run of the suite, not with certainty.
func TestProgressDisplayDoesNotHang(t *testing.T) {
	t.Parallel()
	a, b := pair(t, `CREATE TABLE busy (id int8 PRIMARY KEY, v text);
INSERT INTO busy SELECT g, 'v' || g FROM generate_series(1, 30000) g;
ANALYZE busy;`, "", "UPDATE busy SET v = 'changed' WHERE id % 997 = 0;")
	want := truth(t, a, b, Spec{Table: "busy", Key: []string{"id"}}, false)
	args := append([]string{"diff", "--table", "busy", "--block-rows", "30", "--leaf-rows", "8"}, nodeArgs(a, b)...)
	start := time.Now()
	for i := 1; i <= 3 || time.Since(start) < 15*time.Second; i++ {
		code, out := runPTY(t, 20*time.Second, append(args, "--out", filepath.Join(t.TempDir(), "o.jsonl"))...)
		if code != 1 || !strings.Contains(out, fmt.Sprintf("differences: %d (", len(want))) {
			t.Fatalf("run %d on a terminal: exit %d, want 1 and the summary with %d differences:\n%q", i, code, len(want), abbrev(out, 3000))
		}
	}
}

// TestOutputPathsChecked: the paths of a run's outputs are checked before it reads anything. A --summary
// path that could not be written failed the run at its end, after its differences had replaced the
// --out file; a --summary naming the --out file, or a repair's --out naming its --in file, silently took
// the place of the differences (found by an exploratory helper). --summary - writes to stdout.
func TestOutputPathsChecked(t *testing.T) {
	t.Parallel()
	a, b := pair(t, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;",
		"", "UPDATE t SET v = 'x' WHERE id = 7;")
	dir := t.TempDir()
	keep := filepath.Join(dir, "keep.jsonl")
	const kept = "earlier differences\n"
	if err := os.WriteFile(keep, []byte(kept), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(".", filepath.Join(dir, "here")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("new.jsonl", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	diffArgs := append([]string{"diff", "--table", "t"}, nodeArgs(a, b)...)
	for _, c := range []struct{ name, out, summary, need string }{
		{"summary in a missing directory", keep, filepath.Join(dir, "none", "s.json"), "--summary"},
		{"summary is the output", keep, keep, "--summary"},
		{"summary is the output, spelled another way", keep, filepath.Join(dir, ".", "keep.jsonl"), "--summary"},
		{"both on stdout", "-", "-", "stdout"},
		{"both on stdout, one by its path", "/dev/stdout", "-", "stdout"},
		// Files not there yet, named through a linked directory or a link to them: the paths looked apart.
		{"summary is the output, through a linked directory", filepath.Join(dir, "new.jsonl"), filepath.Join(dir, "here", "new.jsonl"), "--summary"},
		{"summary is the output, through a link", filepath.Join(dir, "new.jsonl"), filepath.Join(dir, "dangling"), "--summary"},
		// A summary named as a file of the output directory took that table's file's place.
		{"summary in the output directory", filepath.Join(dir, "out") + "/", filepath.Join(dir, "out", "public.t.parquet"), "--summary"},
		// Found after the run had replaced --out, as "file exists" (found by an exploratory helper).
		{"summary is a directory", keep, dir, "is a directory"},
	} {
		format := "jsonl"
		if strings.HasSuffix(c.out, "/") {
			format = "parquet"
		}
		p := rowdiff(t, append(diffArgs, "--out", c.out, "--summary", c.summary, "--format", format)...)
		if p.Code != 2 || !strings.Contains(p.Stderr, c.need) || strings.Contains(p.Stderr, "differences:") {
			t.Errorf("%s: %s: exit %d, want 2 before the run, naming %s\nstderr:\n%s", c.name, p, p.Code, c.need, p.Stderr)
		}
		if got, _ := os.ReadFile(keep); string(got) != kept {
			t.Errorf("%s: %s left %s holding %q, want it as it was", c.name, p, keep, abbrev(string(got), 200))
		}
		if _, err := os.Stat(filepath.Join(dir, "new.jsonl")); err == nil {
			t.Errorf("%s: %s wrote new.jsonl", c.name, p)
		}
	}

	p := rowdiff(t, append(diffArgs, "--out", keep, "--summary", "-")...)
	wantCode(t, p, 1)
	var sum struct{ Differences int }
	if err := json.Unmarshal([]byte(p.Stdout), &sum); err != nil || sum.Differences != 1 {
		t.Errorf("%s: stdout %q (%v), want the summary as JSON with 1 difference", p, abbrev(p.Stdout, 300), err)
	}
	diffs, _ := os.ReadFile(keep)
	p = rowdiff(t, append([]string{"repair", "--in", keep, "--source", "a", "--target", "b", "--out", keep}, nodeArgs(a, b)...)...)
	if p.Code != 2 || !strings.Contains(p.Stderr, "--in") {
		t.Errorf("%s: exit %d, want 2 naming --in\nstderr:\n%s", p, p.Code, p.Stderr)
	}
	if got, _ := os.ReadFile(keep); string(got) != string(diffs) {
		t.Errorf("%s replaced its --in file with %q", p, abbrev(string(got), 200))
	}
}

// TestStrayArguments: a --node value with spaces, unquoted, splits into words, and cobra's check of
// arguments printed the word with the password as an unknown command (found by an exploratory helper).
// A word that may hold one is not shown; a mistyped command still is, with exit 2.
func TestStrayArguments(t *testing.T) {
	t.Parallel()
	const secret = "Stray-Secret-91"
	for _, args := range [][]string{
		{"diff", "--table", "t", "--node", "a=host=127.0.0.1", "password=" + secret, "--node", "b=host=127.0.0.1", "--out", "x.jsonl"},
		{"recheck", "--in", "x.jsonl", "--node", "a=host=127.0.0.1", "password=" + secret, "--out", "y.jsonl"},
		{"password=" + secret},
	} {
		p := rowdiff(t, args...)
		if p.Code != 2 || strings.Contains(p.Stderr+p.Stdout, secret) || !strings.Contains(p.Stderr, "quote") {
			t.Errorf("%s: exit %d, want 2 with a hint to quote and without the password\nstderr:\n%s", p, p.Code, p.Stderr)
		}
	}
	p := rowdiff(t, "dif")
	if p.Code != 2 || !strings.Contains(p.Stderr, `"dif"`) {
		t.Errorf("%s: exit %d, want 2 naming the unknown command\nstderr:\n%s", p, p.Code, p.Stderr)
	}
}

// TestOutputToStdoutPath: --out /dev/stdout writes to the process's stdout as it is: opened anew, a file
// the shell appends to (>>) was truncated, its earlier lines lost (found by an exploratory helper).
func TestOutputToStdoutPath(t *testing.T) {
	t.Parallel()
	a, b := pair(t, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g;",
		"", "UPDATE t SET v = 'x' WHERE id IN (3, 7);")
	path := filepath.Join(t.TempDir(), "all.jsonl")
	const earlier = "an earlier line\n"
	if err := os.WriteFile(path, []byte(earlier), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(rowdiffBin, append([]string{"diff", "--table", "t", "--out", "/dev/stdout", "--format", "jsonl"}, nodeArgs(a, b)...)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	err = cmd.Run()
	f.Close()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), want 1\nstderr:\n%s", code, err, stderr.String())
	}
	got, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(got), earlier) || strings.Count(string(got), `"kind":"changed"`) != 2 {
		t.Errorf("stdout's file holds %q, want the earlier line, then the 2 differences", abbrev(string(got), 500))
	}
}
