package tests

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// TestEmptyTables: a table empty on one node is all missing; empty on both is exit 0 with an empty file.
func TestEmptyTables(t *testing.T) {
	t.Parallel()
	schema := "CREATE TABLE e (id int8 PRIMARY KEY, v text); CREATE TABLE ek (k text PRIMARY KEY, v text); CREATE TABLE both_empty (id int PRIMARY KEY);"
	fill := "INSERT INTO e SELECT i, 'v' || i FROM generate_series(1, 100) i; INSERT INTO ek SELECT 'k' || i, 'v' FROM generate_series(1, 100) i;"
	a, b := pair(t, schema, fill, "")
	for _, nodes := range [][]Node{{a, b}, {b, a}} {
		for _, tbl := range []struct{ name, key string }{{"e", "id"}, {"ek", "k"}} {
			want := truth(t, nodes, Spec{Table: tbl.name, Key: []string{tbl.key}})
			if len(want) != 100 {
				t.Fatalf("truth: %d differences, want 100", len(want))
			}
			for _, mode := range [][]string{nil, {"--block-rows", "8", "--leaf-rows", "2"}} {
				r := diff(t, tbl.name, nodes, mode...)
				check(t, r, want, []string{tbl.key}, "public."+tbl.name)
				for _, rec := range r.Records {
					if rec.Row(t, "b") != nil || rec.Row(t, "a") == nil {
						t.Fatalf("want a's row and b null: %s", rec.Line)
					}
				}
			}
		}
	}
	r := diff(t, "both_empty", []Node{a, b})
	check(t, r, map[string]string{}, []string{"id"}, "")
	if r.Summary.Nodes[0].Rows != 0 || r.Summary.Nodes[1].Rows != 0 {
		t.Errorf("summary rows %+v, want 0 on both", r.Summary.Nodes)
	}
}

// TestSkewedAndGappyKeys: integer keys bunched at 1..1000 with outliers at ±1e12, and keys that are
// multiples of a million, with changes planted at the outliers and in between.
func TestSkewedAndGappyKeys(t *testing.T) {
	t.Parallel()
	schema := `CREATE TABLE skew (id int8 PRIMARY KEY, v int);
INSERT INTO skew SELECT i, i FROM generate_series(1, 1000) i;
INSERT INTO skew VALUES (1000000000000, 1), (-1000000000000, 2), (999999999999, 3);
CREATE TABLE gap (id int8 PRIMARY KEY, v int);
INSERT INTO gap SELECT i::int8 * 1000000, i FROM generate_series(1, 3000) i;`
	a, b := pair(t, schema,
		`UPDATE skew SET v = -1 WHERE id IN (500, 1000000000000, 1000); DELETE FROM skew WHERE id IN (1, 999999999999);
INSERT INTO skew VALUES (2000000000000, 0), (-3, 0);
UPDATE gap SET v = -v WHERE v % 97 = 1; DELETE FROM gap WHERE v % 89 = 2; INSERT INTO gap VALUES (1500000, 0), (-1000000, 0);`,
		`DELETE FROM skew WHERE id IN (-1000000000000, 2, 999);
UPDATE skew SET v = NULL WHERE id = 3;
DELETE FROM gap WHERE v % 83 = 3; INSERT INTO gap VALUES (3000000001, 0);`)
	nodes := []Node{a, b}
	for _, tbl := range []string{"skew", "gap"} {
		want := truth(t, nodes, Spec{Table: tbl, Key: []string{"id"}})
		for _, mode := range [][]string{nil, {"--block-rows", "100", "--leaf-rows", "4"}, {"--block-rows", "7", "--leaf-rows", "1", "--concurrency", "2"}} {
			check(t, diff(t, tbl, nodes, mode...), want, []string{"id"}, "public."+tbl)
		}
	}
}

// TestLargeTables diffs 200,000 rows with a few hundred planted differences, keyed by int8 and by text,
// in ranges of 4096 rows. The int8 keys are dense in 1..100,000 and sparse (every 1000th) above, so the
// arithmetic cut of the key space leaves far more rows than --leaf-rows in the dense buckets, and those
// have to be split further. A text key whose column collation is C and whose order follows the table's
// (bigc), and a composite key (bigk), are cut into ranges at keys of the first node, each range hashed in
// buckets of a hash of the key, leaf-sized from the start, so they never need a split. A text key in the
// database's C.UTF-8 collation (bigt) has no index that serves COLLATE "C" range conditions, and a
// C-collated key in random order (bigr) would be read through its index in random order: rowdiff hashes
// those tables once by key hash and reads the differing buckets back in one more scan. Every run must
// compare only a small part of the rows and read the table a small number of times.
func TestLargeTables(t *testing.T) {
	t.Parallel()
	schema := `CREATE TABLE big (id int8 PRIMARY KEY, h text, g int);
INSERT INTO big SELECT CASE WHEN i <= 100000 THEN i ELSE 100000 + (i - 100000) * 1000 END, md5(i::text), i % 1000
  FROM generate_series(1, 200000) i;
CREATE TABLE bigt (k text PRIMARY KEY, g int);
INSERT INTO bigt SELECT 'key-' || md5(i::text), i FROM generate_series(1, 200000) i;
CREATE TABLE bigc (k text COLLATE "C" PRIMARY KEY, g int);
INSERT INTO bigc SELECT 'key-' || lpad(i::text, 7, '0'), i FROM generate_series(1, 200000) i;
CREATE TABLE bigr (k text COLLATE "C" PRIMARY KEY, g int);
INSERT INTO bigr SELECT * FROM bigt;
CREATE TABLE bigk (tenant int, id int8, g int, PRIMARY KEY (tenant, id));
INSERT INTO bigk SELECT i % 20, i, i FROM generate_series(1, 200000) i ORDER BY 1, 2;
ANALYZE;`
	a, b := pair(t, schema,
		`UPDATE big SET g = -g WHERE id % 2003 = 7; DELETE FROM big WHERE id % 1999 = 11;
UPDATE bigt SET g = -g WHERE g % 2003 = 7; DELETE FROM bigt WHERE g % 1999 = 11;
UPDATE bigc SET g = -g WHERE g % 2003 = 7; DELETE FROM bigc WHERE g % 1999 = 11;
UPDATE bigr SET g = -g WHERE g % 2003 = 7; DELETE FROM bigr WHERE g % 1999 = 11;
UPDATE bigk SET g = -g WHERE g % 2003 = 7; DELETE FROM bigk WHERE g % 1999 = 11;`,
		`DELETE FROM big WHERE id % 2011 = 5; INSERT INTO big SELECT 200000 + i * 7, 'new', 0 FROM generate_series(1, 50) i;
INSERT INTO big VALUES (-5, 'neg', 0);
DELETE FROM bigt WHERE g % 2011 = 5; INSERT INTO bigt SELECT 'key-' || md5((-i)::text), 0 FROM generate_series(1, 50) i;
UPDATE bigt SET k = upper(k) WHERE g % 4001 = 9;
DELETE FROM bigc WHERE g % 2011 = 5; INSERT INTO bigc SELECT 'key-' || md5((-i)::text), 0 FROM generate_series(1, 50) i;
UPDATE bigc SET k = upper(k) WHERE g % 4001 = 9;
DELETE FROM bigr WHERE g % 2011 = 5; INSERT INTO bigr SELECT 'key-' || md5((-i)::text), 0 FROM generate_series(1, 50) i;
UPDATE bigr SET k = upper(k) WHERE g % 4001 = 9;
DELETE FROM bigk WHERE g % 2011 = 5; INSERT INTO bigk SELECT i % 20, 300000 + i, 0 FROM generate_series(1, 50) i;`)
	nodes := []Node{a, b}
	for _, tbl := range []struct {
		name       string
		key        []string
		wantSplits bool
		// minRanges and maxRanges bound the ranges hashed: one for a table read by key hash, two when
		// its first range is hashed first as a sample.
		minRanges, maxRanges int64
		// keyHashed: read by key hash, so through its index only for that sample.
		keyHashed bool
	}{
		{"big", []string{"id"}, true, 40, 0, false}, {"bigt", []string{"k"}, false, 1, 1, true}, {"bigc", []string{"k"}, false, 40, 0, false},
		{"bigr", []string{"k"}, false, 2, 2, true},
		// A composite key in key order: before, each compare of a few of its ranges read the whole index
		// (the planner estimates a row comparison from its first column alone), 20-50 times the table.
		{"bigk", []string{"tenant", "id"}, false, 40, 0, false},
	} {
		t.Run(tbl.name, func(t *testing.T) {
			t.Parallel()
			want := truth(t, nodes, Spec{Table: tbl.name, Key: tbl.key})
			if len(want) < 300 {
				t.Fatalf("test setup: only %d planted differences", len(want))
			}
			// Counted before, so that the count's own scan is not taken for rowdiff's.
			rowsA, rowsB := a.QueryInt(t, "SELECT count(*) FROM "+tbl.name), b.QueryInt(t, "SELECT count(*) FROM "+tbl.name)
			before := []int64{tableReads(t, a, tbl.name), tableReads(t, b, tbl.name)}
			indexBefore := []int64{indexReads(t, a, tbl.name), indexReads(t, b, tbl.name)}
			r := diff(t, tbl.name, nodes, "--block-rows", "4096", "--leaf-rows", "8")
			check(t, r, want, tbl.key, "public."+tbl.name)
			// Each range query must read its own range, not the whole table: the rows the server read for
			// rowdiff stay a small multiple of the table, however many ranges there are.
			for i, n := range nodes {
				rows := []int64{rowsA, rowsB}[i]
				read := tableReads(t, n, tbl.name) - before[i]
				t.Logf("node %s: the server read %d rows (%.1f× the table) for rowdiff", n.Name, read, float64(read)/float64(rows))
				if read > 4*rows {
					t.Errorf("node %s: rowdiff made the server read %d rows of a %d-row table (%.1f×): range queries scan the whole table",
						n.Name, read, rows, float64(read)/float64(rows))
				}
				// A table read by key hash is read in scans but for its sample (bound, hash and compare of
				// 4,096 rows): through its key's index, the read-back of the differing buckets visited a
				// random key's rows in random order (36.6 s for 10M rows).
				if read := indexReads(t, n, tbl.name) - indexBefore[i]; tbl.keyHashed && read > (tbl.maxRanges-1)*3*(4096+1) {
					t.Errorf("node %s: a table read by key hash had %d index entries read for rowdiff", n.Name, read)
				}
			}
			s := r.Summary
			if s.RangesHashed < tbl.minRanges || tbl.maxRanges > 0 && s.RangesHashed > tbl.maxRanges {
				t.Errorf("summary ranges_hashed=%d: want %d to %d (0: any)", s.RangesHashed, tbl.minRanges, tbl.maxRanges)
			}
			if tbl.wantSplits && s.RangesSplit == 0 {
				t.Errorf("summary ranges_split=0: buckets of ~4000 dense keys must be split")
			}
			if s.RowsCompared > 20000 {
				t.Errorf("summary rows_compared=%d: a few hundred differences should not need a tenth of the table", s.RowsCompared)
			}
			if s.Nodes[0].Rows != rowsA || s.Nodes[1].Rows != rowsB {
				t.Errorf("summary rows a=%d b=%d, want %d and %d", s.Nodes[0].Rows, s.Nodes[1].Rows, rowsA, rowsB)
			}
			if s.Nodes[0].BytesReceived <= 0 || s.Nodes[1].BytesReceived <= 0 {
				t.Errorf("summary bytes_received %+v, want > 0", s.Nodes)
			}
			t.Logf("%s: %d differences in %.2fs: %d ranges hashed, %d split, %d compared, %d rows compared",
				tbl.name, s.Differences, s.ElapsedSeconds, s.RangesHashed, s.RangesSplit, s.RangesCompared, s.RowsCompared)
		})
	}
}

// A table read by key hash with differences in half its buckets of a coarse cut. Without a sample they
// are hashed again, finer, and only the finer buckets that differ are read back (read back at once, they
// brought half the table with them). With a sample (its first range, through the index), the many
// differences there make the whole cut fine at once.
func TestKeyHashRefined(t *testing.T) {
	t.Parallel()
	a, b := pair(t, `CREATE TABLE ru (id uuid PRIMARY KEY, g int);
INSERT INTO ru SELECT md5(i::text)::uuid, i FROM generate_series(1, 200000) i;
ANALYZE;`, "",
		`UPDATE ru SET g = -g WHERE g % 20 = 3; DELETE FROM ru WHERE g % 97 = 5;
INSERT INTO ru SELECT md5((-i)::text)::uuid, 0 FROM generate_series(1, 300) i;`)
	nodes := []Node{a, b}
	want := truth(t, nodes, Spec{Table: "ru", Key: []string{"id"}})
	if len(want) < 12000 {
		t.Fatalf("test setup: only %d planted differences", len(want))
	}
	rows := a.QueryInt(t, "SELECT count(*) FROM ru")
	for _, c := range []struct {
		name  string
		flags []string
		// split: the differing buckets were hashed again; indexed: rows the sample may read by index.
		split   int64
		indexed int64
	}{
		// Ranges of 65,536 rows: the table is too small for a sample. 2^14 buckets of about 12 rows,
		// more than 4*LeafRows; 12,000 differences fall in about half of them.
		{"coarse, then finer", []string{"--leaf-rows", "2"}, 1, 0},
		// Ranges of 4,096 rows: the first is the sample, and the cut of the rest takes 2^17 buckets.
		{"sampled", []string{"--leaf-rows", "2", "--block-rows", "4096"}, 0, 3 * (4096 + 1)},
	} {
		before := []int64{tableReads(t, a, "ru"), tableReads(t, b, "ru")}
		indexBefore := []int64{indexReads(t, a, "ru"), indexReads(t, b, "ru")}
		r := diff(t, "ru", nodes, c.flags...)
		check(t, r, want, []string{"id"}, "public.ru")
		s := r.Summary
		t.Logf("%s: %d differences: %d ranges hashed, %d split, %d compared, %d rows compared",
			c.name, s.Differences, s.RangesHashed, s.RangesSplit, s.RangesCompared, s.RowsCompared)
		if s.RangesHashed != 2 || s.RangesSplit != c.split {
			t.Errorf("%s: summary ranges_hashed=%d ranges_split=%d: want 2 and %d", c.name, s.RangesHashed, s.RangesSplit, c.split)
		}
		if s.RowsCompared > rows/4 {
			t.Errorf("%s: summary rows_compared=%d of %d rows: the differing buckets were read back from a coarse cut", c.name, s.RowsCompared, rows)
		}
		for i, n := range nodes {
			// At most three scans: the hash, the finer hash and the read-back, all sequential.
			if read := tableReads(t, n, "ru") - before[i]; read > 4*rows {
				t.Errorf("%s: node %s: the server read %d rows of a %d-row table for rowdiff", c.name, n.Name, read, rows)
			}
			if read := indexReads(t, n, "ru") - indexBefore[i]; read > c.indexed {
				t.Errorf("%s: node %s: a table read by key hash had %d index entries read, want at most %d", c.name, n.Name, read, c.indexed)
			}
		}
	}
}

// tableReads returns how many rows the server has read from table on node n (sequential scans plus index
// entries), once the statistics of sessions that just ended have arrived.
func tableReads(t testing.TB, n Node, table string) int64 {
	t.Helper()
	q := "SELECT (SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables WHERE relid = '" + table + "'::regclass) + " +
		"(SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes WHERE relid = '" + table + "'::regclass)::int8"
	last := n.QueryInt(t, q)
	for range 20 {
		time.Sleep(150 * time.Millisecond)
		cur := n.QueryInt(t, q)
		if cur == last {
			return cur
		}
		last = cur
	}
	return last
}

// indexReads returns how many index entries the server has read from table's indexes on node n (call it
// after tableReads, which waits for the statistics to arrive).
func indexReads(t testing.TB, n Node, table string) int64 {
	t.Helper()
	return n.QueryInt(t, "SELECT coalesce(sum(idx_tup_read), 0)::int8 FROM pg_stat_user_indexes WHERE relid = '"+table+"'::regclass")
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestMostlyDifferent covers the probe that starts a table (the first thirty-second of the first range
// for an integer key, the first range for a sampled one, here uuids in insertion order; random ones, in
// allu, are read by key hash): when nearly every row of the probe
// differs, the table goes straight to full row compares instead of being hashed first and found
// different everywhere. A table that differs throughout must then be read about once per node, not
// twice (a hash scan and then a full read). A table that differs only in its first rows must go back to
// hashing once the compares find most rows equal, so that it is not read whole either. Both must report
// exactly the truth. Full compares decide by the rows' text where it decides (allv): one row in a hundred
// differs only in the text of columns whose text does not (numeric scale, interval units, float -0),
// which are equal, and a third of those also in a value, which must be found.
func TestMostlyDifferent(t *testing.T) {
	t.Parallel()
	const rows, headRows = 200_000, 400_000
	schema := fmt.Sprintf(`CREATE TABLE allx (id int8 PRIMARY KEY, v int, s text);
INSERT INTO allx SELECT i, i, md5(i::text) FROM generate_series(1, %d) i;
CREATE TABLE headx (id int8 PRIMARY KEY, v int);
INSERT INTO headx SELECT i, i FROM generate_series(1, %d) i;
CREATE TABLE allv (id int8 PRIMARY KEY, v int, num numeric, jb jsonb, iv interval, f8 float8);
INSERT INTO allv SELECT i, i, i / 4.0, jsonb_build_object('a', i / 4.0), make_interval(hours => i %% 100), 0
  FROM generate_series(1, %[1]d) i;
CREATE TABLE allu (id uuid PRIMARY KEY, v int);
INSERT INTO allu SELECT md5(i::text)::uuid, i FROM generate_series(1, %[1]d) i;
CREATE TABLE headu (id uuid PRIMARY KEY, v int);
INSERT INTO headu SELECT lpad(to_hex(i), 32, '0')::uuid, i FROM generate_series(1, %[2]d) i;
ANALYZE;`, rows, headRows)
	a, b := pair(t, schema, "", `UPDATE allx SET v = -v WHERE id % 50 <> 7; DELETE FROM allx WHERE id % 50 = 7;
UPDATE headx SET v = -v WHERE id <= 30000 OR id % 997 = 3;
UPDATE allv SET v = -v WHERE id % 100 <> 0;
UPDATE allv SET num = round(num, 5), iv = iv + '1 day' - '24 hours',
  f8 = '-0' WHERE id % 100 = 0;
UPDATE allv SET num = num + 1 WHERE id % 300 = 0;
UPDATE allu SET v = -v;
UPDATE headu SET v = -v WHERE v <= 25000 OR v % 997 = 3; ANALYZE;`)
	nodes := []Node{a, b}
	for _, tc := range []struct {
		table string
		rows  int64
		extra []string
		// readMax bounds the rows node a's server reads for rowdiff, as a multiple of the table. (Node b's
		// updated rows leave dead index entries that index scans read too.)
		readMax         float64
		minHashed       int64
		maxCompared     int64
		wantDifferences int
	}{
		{table: "allx", rows: rows, readMax: 1.2, wantDifferences: rows},
		{table: "allv", rows: rows, readMax: 1.2, wantDifferences: rows - rows/100 + rows/300},
		// A random key, read by key hash: a hash scan, then every bucket read back.
		{table: "allu", rows: rows, readMax: 2.2, wantDifferences: rows},
		// The first sixteenth of the uuid keys differs: the first range (8,192 rows, as --block-rows says)
		// is the probe. Node a's index gives the ranges' bounds (1×), and with a difference every 997 rows
		// each hashed range's differing key-hash buckets are read back by a scan of the range (2.94× in all).
		{table: "headu", rows: headRows, extra: []string{"--concurrency", "1", "--block-rows", "8192"}, readMax: 3.1, minHashed: 2, maxCompared: headRows / 2,
			wantDifferences: headRows/16 + (headRows-headRows/16)/997},
		// One worker, so the producer hears from each compare soon after sending it. The switch back
		// comes a chunk late (the producer decides on a chunk before handing it over): 30,000 dense rows
		// and two 65,536-row chunks are compared whole, a full read would compare all 400,000.
		{table: "headx", rows: headRows, extra: []string{"--concurrency", "1"}, readMax: 1.6, minHashed: 2, maxCompared: headRows / 2,
			wantDifferences: 30000 + (headRows-30000)/997},
	} {
		t.Run(tc.table, func(t *testing.T) {
			t.Parallel()
			want := truth(t, nodes, Spec{Table: tc.table, Key: []string{"id"}})
			if len(want) < tc.wantDifferences-2 {
				t.Fatalf("test setup: %d differences, want about %d", len(want), tc.wantDifferences)
			}
			before := []int64{tableReads(t, a, tc.table), tableReads(t, b, tc.table)}
			r := diff(t, tc.table, nodes, tc.extra...)
			check(t, r, want, []string{"id"}, "public."+tc.table)
			for i, n := range nodes {
				read := tableReads(t, n, tc.table) - before[i]
				t.Logf("node %s: the server read %d rows (%.2f× the table)", n.Name, read, float64(read)/float64(tc.rows))
				if i == 0 && float64(read) > tc.readMax*float64(tc.rows) {
					t.Errorf("node %s: rowdiff made the server read %d rows (%.2f× the table), want at most %.1f×", n.Name, read, float64(read)/float64(tc.rows), tc.readMax)
				}
			}
			s := r.Summary
			if s.Nodes[0].Rows != tc.rows || s.Nodes[1].Rows != b.QueryInt(t, "SELECT count(*) FROM "+tc.table) {
				t.Errorf("summary rows a=%d b=%d, want each node's row count", s.Nodes[0].Rows, s.Nodes[1].Rows)
			}
			if s.RangesHashed < tc.minHashed {
				t.Errorf("summary ranges_hashed=%d, want at least %d: hashing never resumed", s.RangesHashed, tc.minHashed)
			}
			if tc.maxCompared > 0 && s.RowsCompared > tc.maxCompared {
				t.Errorf("summary rows_compared=%d, want at most %d: the equal rows were compared one by one", s.RowsCompared, tc.maxCompared)
			}
			t.Logf("%s: %d differences: %d ranges hashed, %d split, %d compared, %d rows compared",
				tc.table, s.Differences, s.RangesHashed, s.RangesSplit, s.RangesCompared, s.RowsCompared)
		})
	}
}
