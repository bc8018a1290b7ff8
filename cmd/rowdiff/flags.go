package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/rowdiff/rowdiff/internal/progress"
	"github.com/rowdiff/rowdiff/pipeline"
	"github.com/rowdiff/rowdiff/schema"
	"github.com/rowdiff/rowdiff/sinks"
)

// nodeFlags are the --node NAME=DSN flags every subcommand takes.
type nodeFlags []string

func (n *nodeFlags) add(fl *pflag.FlagSet) {
	fl.StringArrayVar((*[]string)(n), "node", nil, "NAME=DSN of a node (libpq keyword/value string or postgres:// URL; PG* variables apply); repeat for every node")
}

func (n nodeFlags) parse() ([]pipeline.Node, error) {
	var out []pipeline.Node
	for i, s := range n {
		name, dsn, ok := strings.Cut(s, "=")
		// A DSN given without its NAME= would otherwise be cut at its first = and the rest taken for a
		// name, and both named in messages and the summary: password included. The value is not shown.
		if ok && connKeywords[strings.ToLower(name)] {
			// The keyword alone is shown, never what follows it.
			return nil, fmt.Errorf("--node number %d: want NAME=DSN, and %q is a connection keyword, not a node name: "+
				"is NAME= missing? (the value is not shown: it may hold a password)", i+1, name)
		}
		if !ok || name == "" || strings.ContainsAny(name, ":/@?&= \t'\"") {
			return nil, fmt.Errorf("--node number %d: want NAME=DSN, NAME a node name such as a or primary (the value is not shown: it may hold a password)", i+1)
		}
		out = append(out, pipeline.Node{Name: name, DSN: dsn})
	}
	return out, nil
}

// connKeywords are libpq's connection keywords, which no node is named after: "password=x host=h", a DSN
// without its NAME=, was taken for a node named password, and pgx's reason for refusing the rest quoted the
// password (found by an exploratory helper).
var connKeywords = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`host hostaddr port dbname user password passfile require_auth channel_binding
		connect_timeout client_encoding options application_name fallback_application_name keepalives
		keepalives_idle keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode
		sslnegotiation requiressl sslcompression sslcert sslkey sslcertmode sslpassword sslrootcert sslcrl sslcrldir
		sslsni requirepeer ssl_min_protocol_version ssl_max_protocol_version krbsrvname gsslib gssdelegation
		service servicefile target_session_attrs load_balance_hosts krbspn min_protocol_version max_protocol_version`) {
		connKeywords[k] = true
	}
}

func addTimeouts(fl *pflag.FlagSet, t *pipeline.Timeouts) {
	fl.DurationVar(&t.Connect, "connect-timeout", 10*time.Second, "give up connecting to a node, or starting a transaction there, after this long (0: no limit)")
	fl.DurationVar(&t.Statement, "statement-timeout", 30*time.Minute, "statement_timeout of every session")
	fl.DurationVar(&t.Lock, "lock-timeout", 5*time.Second, "lock_timeout of every session")
	fl.DurationVar(&t.IdleTransaction, "idle-timeout", time.Hour, "idle_in_transaction_session_timeout of every session")
}

// columnFlags select compared columns and how they compare.
type columnFlags struct {
	columns, excludes, zone string
	fl                      *pflag.FlagSet // where they were added, to tell an empty value from none
}

func (c *columnFlags) add(fl *pflag.FlagSet) {
	c.fl = fl
	fl.StringVar(&c.columns, "columns", "", "compare only these columns, comma separated (the key is always compared)")
	fl.StringVar(&c.excludes, "exclude-columns", "", "do not compare these columns")
	addTimestampZone(fl, &c.zone)
}

// addForRepair is add for repair, which compares nothing: the flags say which columns its script writes.
func (c *columnFlags) addForRepair(fl *pflag.FlagSet) {
	c.fl = fl
	fl.StringVar(&c.columns, "columns", "", "write only these columns, comma separated, as the diff compared them (the key is always written)")
	fl.StringVar(&c.excludes, "exclude-columns", "", "do not write these columns (pass the diff's own; the target's values stay)")
	addTimestampZone(fl, &c.zone)
}

func addTimestampZone(fl *pflag.FlagSet, zone *string) {
	fl.StringVar(zone, "timestamp-zone", "", "compare a column that is timestamp on some nodes and timestamptz on others, "+
		"reading the timestamps as local times in this zone (e.g. UTC, Europe/Berlin), as ALTER ... TYPE timestamptz USING col AT TIME ZONE would")
}

func (c *columnFlags) parse(sel *pipeline.Selection) error {
	if err := notEmpty(c.fl, "columns", c.columns); err != nil {
		return err
	}
	if err := notEmpty(c.fl, "exclude-columns", c.excludes); err != nil {
		return err
	}
	var err error
	if sel.Columns, err = schema.ParseIdentList(c.columns); err != nil {
		return fmt.Errorf("--columns: %w", err)
	}
	if sel.Exclude, err = schema.ParseIdentList(c.excludes); err != nil {
		return fmt.Errorf("--exclude-columns: %w", err)
	}
	sel.TimestampZone = c.zone
	return nil
}

// opener picks the sink from --out and --format.
func opener(out, format string) (pipeline.Opener, error) {
	f, err := sinks.FormatFor(out, format)
	if err != nil {
		return nil, err
	}
	return func(tables []*schema.Table, names []string, started time.Time) (pipeline.Sink, error) {
		// Said once records may have gone out: a run that failed before, connecting say, wrote nothing
		// (found by an exploratory helper). A path written in place (/dev/stdout, a named pipe) keeps
		// them too: it said "no output written" after thousands of records (found by another).
		switch {
		case out == "-":
			interruptedOutput = "the records already on stdout are incomplete, and the last may be cut short"
		case sinks.InPlace(out):
			interruptedOutput = "the records already written to " + out + " are incomplete, and the last may be cut short"
		}
		switch {
		case f == sinks.FormatJSONLines:
			return sinks.NewJSONLines(out, names)
		case f == sinks.FormatParquetDir:
			return sinks.NewParquetDir(out, tables, names, started)
		case len(tables) != 1:
			return nil, fmt.Errorf("a Parquet file holds one table's columns, and this run compares %d tables: "+
				"write them to a directory (--out DIR/, a Parquet file per table) or to .jsonl", len(tables))
		}
		return sinks.NewParquet(out, tables[0], names)
	}, nil
}

// progressFor starts the live display unless stderr is not a terminal, --quiet or --log-format is set.
func progressFor() *progress.Display {
	return progress.Start(os.Stderr, output.quiet || output.logFormat != "")
}

// logger is the structured logger --log-format asks for, or nil.
func logger() (*slog.Logger, error) {
	switch output.logFormat {
	case "":
		return nil, nil
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, nil)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", output.logFormat)
}

// finish prints the summary, writes --summary and turns the outcome into the exit status.
func finish(sum *pipeline.Summary, err error, summary *sinks.Summary, limit int64) error {
	if errors.Is(err, syscall.EPIPE) {
		// Whoever read --out - has gone (| head): nothing more to say, as any pipeline stage would.
		summary.Abort()
		return err
	}
	log, lerr := logger()
	if lerr != nil {
		summary.Abort()
		return lerr
	}
	if log != nil {
		sum.Log(log, err != nil, limit)
	} else {
		sum.WriteText(os.Stderr)
	}
	if werr := summary.Commit(sum.WriteJSON); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return err
	}
	if !sum.Complete && log == nil {
		fmt.Fprintf(os.Stderr, "rowdiff: output truncated at --max-diffs %d differences; rows not compared yet may differ too\n", limit)
	}
	if sum.Differs() {
		return exitStatus{exitDiffs}
	}
	return nil
}

// output holds the flags that shape what rowdiff prints on stderr.
var output struct {
	quiet     bool
	logFormat string
}

func addOutputFlags(fl *pflag.FlagSet) {
	fl.BoolVar(&output.quiet, "quiet", false, "no live progress display (it is shown only when stderr is a terminal)")
	fl.StringVar(&output.logFormat, "log-format", "", "write the outcome as structured log records on stderr: text or json (default: a human summary)")
}

// notEmpty refuses a flag given an empty value: --columns "" (a shell variable left unset) was taken for no
// flag at all, and every column compared without a word; --where ' ' failed late, at the first range.
func notEmpty(fl *pflag.FlagSet, name, value string) error {
	if fl.Changed(name) && strings.TrimSpace(value) == "" {
		return fmt.Errorf("--%s is empty: give it a value, or leave the flag out", name)
	}
	return nil
}
