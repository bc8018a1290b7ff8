package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
			// The servers here refuse TLS, which sslmode=prefer (these DSNs' default) tries first: the
			// refusal is no cause, and it led every message.
			if tc.cause != "" && strings.Contains(stderr, "server refused TLS connection") {
				t.Errorf("stderr gives the server's refusal of TLS beside the cause:\n%s", stderr)
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

// TestClientKeywords: libpq keywords that pgx does not know were sent to the server as settings, and the
// connection failed (FATAL: unrecognized configuration parameter "hostaddr"); a primary_conninfo that
// pg_basebackup -R writes holds several. Those rowdiff honours work (hostaddr: host names a host that does
// not resolve, so only hostaddr reaches the node), those without effect here are dropped, and those that
// would weaken the connection are refused, naming the node and the keyword. A DSN given without NAME= is
// refused without being shown (it was cut at its first = and shown, password included), and an
// unparsable one says why (it said only "invalid connection string"), its password masked.
func TestClientKeywords(t *testing.T) {
	db, want := negatedDB(t, "kw", 100, "id IN (3, 50, 99)", 3)

	const honoured = " host=no-such-host.invalid hostaddr=127.0.0.1 keepalives=1 keepalives_idle=30 keepalives_interval=5" +
		" keepalives_count=3 tcp_user_timeout=20000 gssencmode=prefer sslcompression=0 fallback_application_name=x" +
		" load_balance_hosts=disable ssl_min_protocol_version=TLSv1.2"
	// hostaddr without a host, or beside a socket directory, is reached over TCP, as libpq does: pgx
	// dialled its default socket directory for the port, where another server may listen (found by an
	// exploratory helper; these clusters have no socket, so the run failed).
	alone := fmt.Sprintf(" port=%d user=%s dbname=%s sslmode=disable", clB.Port(), pgcluster.Superuser, db)
	diffAB := func(what, dsnA, dsnB string) {
		t.Helper()
		out := filepath.Join(t.TempDir(), "o.jsonl")
		ch := runRowdiff(t, append(append(append([]string{"diff", "--table", "t"}, nodeArg("a", dsnA)...),
			nodeArg("b", dsnB)...), "--out", out)...)
		var got []int64
		if ch.code == 1 {
			for _, r := range readRecords(t, out) {
				got = append(got, r.intKey(t, "id"))
			}
			slices.Sort(got)
		}
		if ch.code != 1 || !slices.Equal(got, want) {
			t.Errorf("DSN with %s: exit %d and keys %v, want 1 and %v\nstderr:\n%s", what, ch.code, got, want, ch.stderr.String())
		}
	}
	diffB := func(what, dsnB string) { t.Helper(); diffAB(what, clA.DSN(db), dsnB) }
	diffB("libpq keywords", clB.DSN(db)+honoured)
	diffB("hostaddr alone", "hostaddr=127.0.0.1"+alone)
	diffB("hostaddr beside a socket directory", "host=/nonexistent/rowdiff-sockets hostaddr=127.0.0.1"+alone)
	diffB("hostaddr in a URL", fmt.Sprintf("postgres:///%s?hostaddr=127.0.0.1&port=%d&user=%s&sslmode=disable", db, clB.Port(), pgcluster.Superuser))
	diffB("hostaddr in a URL beside a socket directory", fmt.Sprintf("postgres:///%s?host=%%2Fnonexistent&hostaddr=127.0.0.1&port=%d&user=%s&sslmode=disable", db, clB.Port(), pgcluster.Superuser))
	// Go's url.Parse refuses this authority, and the socket was dialled.
	diffB("hostaddr in a URL whose authority is a socket directory", fmt.Sprintf("postgres://%s@%%2Fnonexistent:%d/%s?hostaddr=127.0.0.1&sslmode=disable", pgcluster.Superuser, clB.Port(), db))
	// A host named twice with two addresses, the first of which nothing answers: refused as two
	// addresses for one host; then, looked up by name, tried at both addresses in both places, which
	// reached node a's server (127.0.0.1 at the first place's port), where libpq goes on to the second.
	diffB("one host name twice with two hostaddr", fmt.Sprintf("host=localhost,localhost hostaddr=127.0.0.2,127.0.0.1 port=%d,%d user=%s dbname=%s sslmode=disable",
		clA.Port(), clB.Port(), pgcluster.Superuser, db))
	// The password file's line is the host's the DSN names (pgx reads a socket as localhost), not the
	// address's: the second, wrong, one was used.
	execSQL(t, clA, db, "GRANT SELECT ON t TO "+pwRole)
	passfile := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(passfile, []byte(fmt.Sprintf("localhost:*:*:%s:%s\n127.0.0.1:*:*:%s:wrong\n", pwRole, pwSecret, pwRole)), 0o600); err != nil {
		t.Fatal(err)
	}
	diffAB("a password file beside hostaddr", fmt.Sprintf("host=/nonexistent hostaddr=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable passfile=%s", clA.Port(), pwRole, db, passfile), clB.DSN(db))
	// Without a host, libpq finds the line by hostaddr: the localhost line, now the wrong one, was used.
	byAddr := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(byAddr, []byte(fmt.Sprintf("127.0.0.1:*:*:%s:%s\nlocalhost:*:*:%s:wrong\n", pwRole, pwSecret, pwRole)), 0o600); err != nil {
		t.Fatal(err)
	}
	// (A host= inside a quoted value names no host: it was taken for one.)
	diffAB("a password file and hostaddr alone", fmt.Sprintf("hostaddr=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable passfile=%s application_name='x host=y'",
		clA.Port(), pwRole, db, byAddr), clB.DSN(db))
	// Without a host, hostaddr alone lists the places, as in libpq: it was refused as two addresses
	// for one host.
	diffB("two hostaddr without a host", fmt.Sprintf("hostaddr=127.0.0.2,127.0.0.1 port=%d user=%s dbname=%s sslmode=disable", clB.Port(), pgcluster.Superuser, db))
	// One address for two hosts is refused, as libpq refuses it: it went to that address at both places.
	ch := runRowdiff(t, append(append(append([]string{"diff", "--table", "t"}, nodeArg("a", clA.DSN(db))...),
		nodeArg("b", fmt.Sprintf("host=localhost,localhost hostaddr=127.0.0.1 port=%d,%d user=%s dbname=%s sslmode=disable", clA.Port(), clB.Port(), pgcluster.Superuser, db))...),
		"--out", filepath.Join(t.TempDir(), "o.jsonl"))...)
	if ch.code != 2 || !strings.Contains(ch.stderr.String(), "hostaddr lists 1 addresses for 2 hosts") {
		t.Errorf("one hostaddr for two hosts: exit %d, want 2 refusing it\nstderr:\n%s", ch.code, ch.stderr.String())
	}
	t.Run("PGHOSTADDR", func(t *testing.T) {
		t.Setenv("PGHOSTADDR", "127.0.0.1")
		diffB("PGHOSTADDR", alone)
	})

	for _, tc := range []struct{ dsn, want string }{
		{clB.DSN(db) + " sslcrl=/etc/crl.pem", "sslcrl"},
		{clB.DSN(db) + " gssencmode=require", "gssencmode=require"},
		{clB.DSN(db) + " requirepeer=postgres", "requirepeer"},
		{fmt.Sprintf("postgres://%s:%s%%zz@127.0.0.1:%d/%s", pwRole, pwSecret, clB.Port(), db), "percent"},
		{"host=127.0.0.1 port=notaport user=" + pwRole + " password=" + pwSecret, "invalid port"},
	} {
		dir := t.TempDir()
		ch := runRowdiff(t, append(append(append([]string{"diff", "--table", "t", "--log-format", "json"}, nodeArg("a", clA.DSN(db))...),
			nodeArg("broken", tc.dsn)...), "--out", filepath.Join(dir, "o.jsonl"))...)
		if stderr := ch.stderr.String(); ch.code != 2 || !strings.Contains(stderr, "node broken") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, want 2 naming node broken and %q\nstderr:\n%s", tc.want, ch.code, tc.want, stderr)
		}
		// A failed run's totals are not logged as a finished run's.
		if stderr := ch.stderr.String(); strings.Contains(stderr, `"run finished"`) || !strings.Contains(stderr, `"msg":"run failed"`) {
			t.Errorf("%s: the JSON log says the run finished, or not that it failed:\n%s", tc.want, stderr)
		}
		checkNoSecrets(t, ch)
		checkNoOutput(t, dir)
	}
	// libpq's environment variables for the refused keywords are refused alike: pgx ignores them, and
	// the run went on without the check they ask for (found by an exploratory helper).
	for env, value := range map[string]string{"PGSSLCRL": "/etc/crl.pem", "PGREQUIREPEER": "postgres", "PGGSSENCMODE": "require"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, value)
			dir := t.TempDir()
			ch := runRowdiff(t, append(append(append([]string{"diff", "--table", "t"}, nodeArg("a", clA.DSN(db))...),
				nodeArg("b", clB.DSN(db))...), "--out", filepath.Join(dir, "o.jsonl"))...)
			if stderr := ch.stderr.String(); ch.code != 2 || !strings.Contains(stderr, env) {
				t.Errorf("%s=%s: exit %d, want 2 naming %s\nstderr:\n%s", env, value, ch.code, env, stderr)
			}
			checkNoOutput(t, dir)
		})
	}

	// A keyword/value DSN starting with its password was cut at its first =, taken for a node named
	// password, and pgx's reason for refusing the rest quoted the password.
	for _, dsn := range []string{
		fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", pwRole, pwSecret, clB.Port(), db),
		fmt.Sprintf("password=%s host=127.0.0.1 port=%d user=%s dbname=%s", pwSecret, clB.Port(), pwRole, db),
		// pgx's keywords beside libpq's: it was taken for a node named servicefile.
		"servicefile=/nonexistent/pg_service.conf service=" + pwSecret,
	} {
		dir := t.TempDir()
		ch := runRowdiff(t, append(append([]string{"diff", "--table", "t", "--node", dsn}, nodeArg("a", clA.DSN(db))...),
			"--out", filepath.Join(dir, "o.jsonl"), "--summary", filepath.Join(dir, "s.json"), "--log-format", "json")...)
		if ch.code != 2 || !strings.Contains(ch.stderr.String(), "want NAME=DSN") {
			t.Errorf("a DSN without NAME=: exit %d, want 2 and \"want NAME=DSN\"\nstderr:\n%s", ch.code, ch.stderr.String())
		}
		checkNoSecrets(t, ch)
		if data, err := os.ReadFile(filepath.Join(dir, "s.json")); err == nil && strings.Contains(string(data), pwSecret) {
			t.Errorf("a DSN without NAME=: the summary shows the password:\n%s", data)
		}
	}
}
