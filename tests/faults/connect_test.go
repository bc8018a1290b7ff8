package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
	"github.com/rowdiff/rowdiff/internal/testkit"
)

// wrongSecret is the password the refused-login cases send; like pwSecret it must never be echoed.
const wrongSecret = "wrong-pass-987"

// TestConnectFailures points one node at something that will not let rowdiff in. Each must end with exit
// 2 within --connect-timeout plus slack, name the broken node, write nothing, and never print a password
// from the DSN.
func TestConnectFailures(t *testing.T) {
	const table = "public.t"
	db := newDB(t, "conn", []*pgcluster.Cluster{clA, clB},
		"CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
	execSQL(t, clA, db, "GRANT SELECT ON t TO "+pwRole)
	good := nodeArg("good", clB.DSN(db))
	base := fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s", clA.Port(), db)

	// Control: the right password gets in, so a refusal below is the wrong password's doing.
	ok := runRowdiff(t, append(append([]string{"diff", "--table", table, "--connect-timeout", "3s"},
		nodeArg("pwnode", base+" user="+pwRole+" password="+pwSecret+" sslmode=disable")...), append(good, "--out", filepath.Join(t.TempDir(), "o.jsonl"))...)...)
	if ok.code != 0 {
		t.Fatalf("control run with the right password: exit %d, want 0\nstderr:\n%s", ok.code, ok.stderr.String())
	}
	checkNoSecrets(t, ok)
	// Control: the wrong password is refused by the server itself (not only by rowdiff).
	if err := tryConnect(base + " user=" + pwRole + " password=" + wrongSecret + " sslmode=disable"); err == nil ||
		!strings.Contains(err.Error(), "password authentication failed") {
		t.Fatalf("the server accepts the wrong password or fails otherwise (%v): fix the HBA setup of cluster a", err)
	}

	const timeout = 3 * time.Second
	// slack covers process start, the other node's connection and exit; it is far below a second try.
	const slack = 2 * time.Second
	for _, tc := range []struct {
		name, dsn string
		// cause is a fragment of the reason stderr must give (lower case).
		cause string
	}{
		{"nothing listening", fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=postgres", testkit.ClosedPort(t), db), "refused"},
		{"wrong password", base + " user=" + pwRole + " password=" + wrongSecret, "password"},
		{"wrong password URL", fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s", pwRole, wrongSecret, clA.Port(), db), "password"},
		{"wrong database", fmt.Sprintf("host=127.0.0.1 port=%d dbname=no_such_db user=postgres", clA.Port()), "no_such_db"},
		{"wrong database right password", fmt.Sprintf("host=127.0.0.1 port=%d dbname=no_such_db user=%s password=%s", clA.Port(), pwRole, pwSecret), "no_such_db"},
		{"unparsable DSN with password", "host=127.0.0.1 port=notaport user=" + pwRole + " password=" + pwSecret, ""},
		{"blackhole", fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=postgres", testkit.Blackhole(t), db), ""},
		{"blackhole sslmode=disable", fmt.Sprintf("host=127.0.0.1 port=%d dbname=%s user=postgres sslmode=disable", testkit.Blackhole(t), db), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"diff", "--table", table, "--connect-timeout", timeout.String()}
			args = append(args, good...)
			args = append(args, nodeArg("broken", tc.dsn)...)
			args = append(args, "--out", filepath.Join(dir, "o.jsonl"))
			ch := runRowdiff(t, args...)
			if ch.code != 2 {
				t.Errorf("exit %d, want 2\nstderr:\n%s", ch.code, ch.stderr.String())
			}
			if ch.elapsed > timeout+slack {
				t.Errorf("took %v, want at most --connect-timeout %v + %v", ch.elapsed.Round(time.Millisecond), timeout, slack)
			}
			t.Logf("exit %d after %v: %s", ch.code, ch.elapsed.Round(time.Millisecond), strings.TrimSpace(ch.stderr.String()))
			stderr := ch.stderr.String()
			if !strings.Contains(stderr, "broken") {
				t.Errorf("stderr does not name node %q:\n%s", "broken", stderr)
			}
			if !strings.Contains(strings.ToLower(stderr), tc.cause) {
				t.Errorf("stderr does not give the cause (%q):\n%s", tc.cause, stderr)
			}
			checkNoSecrets(t, ch)
			checkNoOutput(t, dir)
		})
	}
}

// checkNoSecrets fails the test if a password of this package appears in the process's output.
func checkNoSecrets(t *testing.T, ch *child) {
	t.Helper()
	for _, s := range []string{pwSecret, wrongSecret} {
		for name, out := range map[string]string{"stdout": ch.stdout.String(), "stderr": ch.stderr.String()} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows the password %q:\n%s", name, s, out)
			}
		}
	}
}

// tryConnect opens and closes one connection with dsn.
func tryConnect(dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}
