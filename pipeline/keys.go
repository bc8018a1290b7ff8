package pipeline

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rowdiff/rowdiff/schema"
)

// keyRecord is the part of a JSON Lines difference that recheck and repair need: which table, which key.
type keyRecord struct {
	Table   string
	Columns []string // key column names, in the order the record lists them
	Key     schema.Key
}

// keyReader streams the keys of a rowdiff JSON Lines file, one record at a time, so memory stays flat
// however many differences the file holds.
// recordStart is how every record rowdiff writes begins.
var recordStart = []byte(`{"table":`)

type keyReader struct {
	path string
	f    *os.File
	sc   *bufio.Scanner
	line int
	// unterminated says the line just scanned ended the file without a line break.
	unterminated bool
}

// keySource yields the records of an earlier run's output, one per differing key.
type keySource interface {
	next() (keyRecord, error) // io.EOF at the end
	// compared returns the columns the record next returned last holds: those its diff compared.
	compared() ([]string, error)
	close()
}

// openKeys reads a rowdiff JSON Lines or Parquet output, or a directory of Parquet files.
func openKeys(path string) (keySource, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		files, _ := filepath.Glob(filepath.Join(path, "*.parquet")) // sorted; the pattern is valid
		if len(files) == 0 {
			return nil, fmt.Errorf("--in: directory %s holds no .parquet file", path)
		}
		return &dirKeys{files: files}, nil
	}
	if strings.HasSuffix(strings.ToLower(path), ".parquet") {
		return openParquetKeys(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--in: %w", err)
	}
	// Read twice, for its tables and then for its keys: the second read of a pipe (/dev/stdin, <(...))
	// found nothing, and a recheck of differing rows said there were none, with exit 0 (found by an
	// exploratory helper).
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("--in %s is not a regular file (a pipe?): it is read twice; save the output to a file first", path)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30) // records with TOASTed values can be large
	r := &keyReader{path: path, f: f, sc: sc}
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		advance, token, err := bufio.ScanLines(data, atEOF)
		r.unterminated = atEOF && token != nil && advance == len(data) && data[len(data)-1] != '\n'
		return advance, token, err
	})
	return r, nil
}

// dirKeys reads the Parquet files of a directory (a diff's --out DIR/, a file per table) as one output,
// one file after the other in name order.
type dirKeys struct {
	files []string // still to read
	cur   keySource
}

func (d *dirKeys) next() (keyRecord, error) {
	for {
		if d.cur == nil {
			if len(d.files) == 0 {
				return keyRecord{}, io.EOF
			}
			src, err := openParquetKeys(d.files[0])
			if err != nil {
				return keyRecord{}, err
			}
			d.cur, d.files = src, d.files[1:]
		}
		rec, err := d.cur.next()
		if err != io.EOF {
			return rec, err
		}
		d.cur.close()
		d.cur = nil
	}
}

func (d *dirKeys) compared() ([]string, error) { return d.cur.compared() }

func (d *dirKeys) close() {
	if d.cur != nil {
		d.cur.close()
	}
}

// tableKey identifies the table of a record and the key columns it was diffed by, joined by NUL, the one
// character no PostgreSQL identifier holds.
type tableKey struct{ name, key string }

func (k keyRecord) tableKey() tableKey { return tableKey{k.Table, strings.Join(k.Columns, "\x00")} }

// columns returns the key columns.
func (k tableKey) columns() []string { return strings.Split(k.key, "\x00") }

func (r *keyReader) close() { r.f.Close() }

// next returns the next record, or io.EOF.
func (r *keyReader) next() (keyRecord, error) {
	for r.sc.Scan() {
		r.line++
		line := r.sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		// parseKeyRecord stops at the key, so a record cut short after it (the last of an interrupted --out -)
		// passed: a last line without its line break must be whole. So must a line where another record
		// starts, as the next run's first does after such a cut in a file appended to (>>): the record
		// glued to the cut one was dropped (found by an exploratory helper). The whole line is checked only
		// there: on every line it would double the time spent on wide rows.
		if (r.unterminated || bytes.Count(line, recordStart) > 1) && !json.Valid(line) {
			return keyRecord{}, fmt.Errorf("%s:%d: not one whole record: a record cut short (the output of an interrupted run?)", r.path, r.line)
		}
		rec, err := parseKeyRecord(line)
		if err != nil {
			return rec, fmt.Errorf("%s:%d: %w", r.path, r.line, err)
		}
		return rec, nil
	}
	if err := r.sc.Err(); err != nil {
		return keyRecord{}, fmt.Errorf("read %s: %w", r.path, err)
	}
	return keyRecord{}, io.EOF
}

// compared reads the columns of the line next returned, whole: those of its first node that has the row.
func (r *keyReader) compared() ([]string, error) {
	d := json.NewDecoder(bytes.NewReader(r.sc.Bytes()))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s:%d: not a JSON object", r.path, r.line)
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", r.path, r.line, err)
		}
		var rows map[string]map[string]json.RawMessage
		if t != "nodes" {
			err = d.Decode(new(json.RawMessage))
		} else if err = d.Decode(&rows); err == nil {
			for _, row := range rows {
				if row != nil {
					return slices.Sorted(maps.Keys(row)), nil
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", r.path, r.line, err)
		}
	}
	return nil, fmt.Errorf("%s:%d: the record has no node's row", r.path, r.line)
}

// parseKeyRecord reads the table and key of one record. It stops once it has both: rowdiff writes them
// first, and the rows after them can be megabytes that neither recheck nor repair reads (parsing the
// whole line took two thirds of a recheck of 300 rows of 2 MiB). Other orders work too.
func parseKeyRecord(line []byte) (keyRecord, error) {
	var out keyRecord
	d := json.NewDecoder(bytes.NewReader(line))
	d.UseNumber()
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return out, errors.New("not a rowdiff record: not a JSON object")
	}
	var haveKey bool
	for (out.Table == "" || !haveKey) && d.More() {
		t, err := d.Token()
		if err != nil {
			return out, fmt.Errorf("not a rowdiff record: %w", err)
		}
		switch t {
		case "table":
			if err := d.Decode(&out.Table); err != nil {
				return out, fmt.Errorf("not a rowdiff record: table: %w", err)
			}
		case "key":
			if err := parseKey(d, &out); err != nil {
				return out, err
			}
			haveKey = true
		default:
			var skip json.RawMessage
			if err := d.Decode(&skip); err != nil {
				return out, fmt.Errorf("not a rowdiff record: %w", err)
			}
		}
	}
	if out.Table == "" || !haveKey || len(out.Key) == 0 {
		return keyRecord{}, errors.New("record has no table or key")
	}
	return out, nil
}

// parseKey reads the key object at d's position into out's columns and values, token by token: the order
// of key columns matters and maps lose it.
func parseKey(d *json.Decoder, out *keyRecord) error {
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return errors.New("key is not an object")
	}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		var v any
		if err := d.Decode(&v); err != nil {
			return err
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			s = x.String()
		case bool:
			s = map[bool]string{true: "t", false: "f"}[x]
		default:
			return fmt.Errorf("key column %q has a value rowdiff does not write: %v", name, v)
		}
		out.Columns = append(out.Columns, name)
		out.Key = append(out.Key, s)
	}
	if _, err := d.Token(); err != nil { // the key's closing brace
		return err
	}
	return nil
}

// eachBatch reads the output at path and calls fn with runs of consecutive keys of one table and key,
// at most n keys at a time, and with that run's first record (for its table and key columns). The keys
// slice is reused once fn returns. Where bytesNodes (SQL_ASCII nodes) are named, a key holding U+FFFD is
// refused: the diff writes it for each byte that is not UTF-8, and the key looked up again would be
// found on no node, and a difference dropped as healed.
func eachBatch(path string, n int, bytesNodes []string, fn func(first keyRecord, keys []schema.Key) error) error {
	r, err := openKeys(path)
	if err != nil {
		return err
	}
	defer r.close()
	var first keyRecord
	var batch []schema.Key
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := fn(first, batch)
		batch = batch[:0]
		return err
	}
	for {
		rec, err := r.next()
		if err == io.EOF {
			return flush()
		}
		if err != nil {
			return err
		}
		if len(batch) > 0 && (rec.tableKey() != first.tableKey() || len(batch) == n) {
			if err := flush(); err != nil {
				return err
			}
		}
		if len(bytesNodes) > 0 && slices.ContainsFunc(rec.Key, lossy) {
			return fmt.Errorf("table %s: a key holds U+FFFD, which the diff writes in place of bytes that are not UTF-8, and "+
				"%s: the key cannot be looked up there", rec.Table, sqlASCIISaid(bytesNodes))
		}
		if len(batch) == 0 {
			first = rec
		}
		batch = append(batch, rec.Key)
	}
}

// lossy reports whether s holds U+FFFD, which the outputs write for each byte that is not UTF-8.
func lossy(s string) bool { return strings.ContainsRune(s, utf8.RuneError) }

// sqlASCIISaid says that nodes have SQL_ASCII databases.
func sqlASCIISaid(nodes []string) string {
	if len(nodes) == 1 {
		return "the database of node " + nodes[0] + " is SQL_ASCII"
	}
	return "the databases of nodes " + strings.Join(nodes, ", ") + " are SQL_ASCII"
}

// lossyNames refuses records whose table or column names hold U+FFFD where bytesNodes (SQL_ASCII nodes)
// are named: the diff writes it for each byte of a name that is not UTF-8, and recheck and repair, looking
// the name up, failed saying the table did not exist or the diff had left the column out (found by an
// exploratory helper).
func lossyNames(order []tableKey, compared map[tableKey][]string, bytesNodes []string) error {
	if len(bytesNodes) == 0 {
		return nil
	}
	for _, tk := range order {
		if lossy(tk.name) || slices.ContainsFunc(tk.columns(), lossy) || slices.ContainsFunc(compared[tk], lossy) {
			return fmt.Errorf("--in's records of %s name a table or column with U+FFFD, which the diff writes in place of "+
				"bytes that are not UTF-8, and %s: the name cannot be found there", tk.name, sqlASCIISaid(bytesNodes))
		}
	}
	return nil
}
