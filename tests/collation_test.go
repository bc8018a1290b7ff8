package tests

import (
	"fmt"
	"strings"
	"testing"
)

// TestCollations diffs a database with the ICU en-US collation against one with the C collation. Text keys
// sort differently under the two ('a' < 'B' in en-US, 'B' < 'a' in C; '_x', accents), so rowdiff must order
// keys the same way on every node: no false differences, and the planted ones found. Each node is also
// the first (the one range bounds are read from) once. Node a's key indexes are not in a C collation,
// so its tables are hashed by key hash and the differing buckets read whole, with their row hashes, in one
// full compare. In tn a fifth of the rows differ in a numeric value and a third only in its scale (2.5
// against 2.5000), which is no difference; tn is analyzed, so buckets hold about --leaf-rows rows and most
// scale-only rows share one with a real difference.
func TestCollations(t *testing.T) {
	t.Parallel()
	q := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	special := []string{"a", "B", "_x", "é", "e", "E", "f", "Z", "z", "-a", "a-", "ab", "aB", "Ab", "AB", "ä", "ae",
		" a", "a ", "1", "10", "9", "ß", "ss", "Ω", "ω", "ǅ", "a_b", "a-b", "ab_", "Æ", "æ", "Ä", "Öl", "oe", "x y", "x-y"}
	var keys []string
	seen := map[string]bool{}
	for _, s := range special {
		keys, seen[s] = append(keys, s), true
	}
	parts := []string{"a", "B", "_", "é", "E", "-", "z", "Ä", " "}
	for i := 0; len(keys) < 600; i++ {
		s := parts[i%len(parts)] + parts[(i/3)%len(parts)] + fmt.Sprint(i*31%97) + parts[(i/7)%len(parts)]
		if !seen[s] {
			keys, seen[s] = append(keys, s), true
		}
	}
	var rows, crow []string
	for i, k := range keys {
		rows = append(rows, fmt.Sprintf("(%s, %d, %s)", q(k), i+1, q("v"+k)))
		if i < 200 {
			crow = append(crow, fmt.Sprintf("(%s, %d, %d)", q(keys[i%25]), i, i))
		}
	}
	common := func(vColl string) string {
		return fmt.Sprintf(`CREATE TABLE t (k text PRIMARY KEY, n int NOT NULL, v text %s);
CREATE TABLE tv (k varchar(20) PRIMARY KEY, n int NOT NULL, v text);
CREATE TABLE tc (tenant text, id int, v int, PRIMARY KEY (tenant, id));
CREATE TABLE tn (k text PRIMARY KEY, n int NOT NULL, num numeric);
%s;
INSERT INTO tv SELECT left(k, 20), n, v FROM t ON CONFLICT DO NOTHING;
INSERT INTO tn SELECT k, n, n / 4.0 FROM t;
ANALYZE tn;
%s;`, vColl, insertRows("t", rows), insertRows("tc", crow))
	}
	// Node a's v column also has an ICU collation of its own: its type is still text, and "a" vs "A" still
	// differ because the collation is deterministic.
	a := newNodeWith(t, "a", clA, "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8' TEMPLATE template0",
		common(`COLLATE "en-x-icu"`))
	b := newNodeWith(t, "b", clB, "LOCALE 'C' TEMPLATE template0", common(""))
	plants := `UPDATE %[1]s SET v = upper(v) WHERE n %% 13 = 1;
DELETE FROM %[1]s WHERE n %% 17 = 2;`
	a.Exec(t, fmt.Sprintf(plants, "t")+fmt.Sprintf(plants, "tv")+"UPDATE tc SET v = -v WHERE id % 7 = 3; DELETE FROM tc WHERE id % 11 = 4;")
	b.Exec(t, `DELETE FROM t WHERE n % 19 = 3; DELETE FROM tv WHERE n % 19 = 3; DELETE FROM tc WHERE id % 13 = 5;
UPDATE t SET v = 'changed on b' WHERE k IN ('a', 'B', '_x', 'é', 'Z', 'ǅ');
UPDATE tn SET num = round(num, 4) WHERE n % 3 = 0; UPDATE tn SET num = num + 1 WHERE n % 5 = 0;
INSERT INTO t VALUES ('A', 0, 'only on b'), ('b', 0, 'only on b'), ('_', 0, 'only on b');`)

	for _, tc := range []struct {
		table string
		key   []string
	}{{"t", []string{"k"}}, {"tv", []string{"k"}}, {"tc", []string{"tenant", "id"}}, {"tn", []string{"k"}}} {
		t.Run(tc.table, func(t *testing.T) {
			t.Parallel()
			for _, nodes := range [][]Node{{a, b}, {b, a}} {
				want := truth(t, nodes, Spec{Table: tc.table, Key: tc.key})
				if len(want) < 10 {
					t.Fatalf("only %d planted differences", len(want))
				}
				for _, mode := range [][]string{nil, {"--block-rows", "16", "--leaf-rows", "2"}} {
					check(t, diff(t, tc.table, nodes, mode...), want, tc.key, "public."+tc.table)
				}
			}
		})
	}
}
