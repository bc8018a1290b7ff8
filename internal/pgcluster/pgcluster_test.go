package pgcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// requireBinaries fails (never skips) so a CI machine without PostgreSQL
// reports the missing dependency instead of silently passing.
func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := BinDir(); err != nil {
		t.Fatal(err)
	}
}

// secondLocale prefers a real language locale to prove per-cluster locales
// work, but falls back to "C" because fresh Debian images ship without
// en_US.UTF-8.
func secondLocale(t *testing.T) string {
	out, err := exec.Command("locale", "-a").Output()
	if err != nil {
		t.Logf("locale -a failed (%v); using C", err)
		return "C"
	}
	for _, l := range strings.Fields(string(out)) {
		if strings.EqualFold(l, "en_US.UTF-8") || strings.EqualFold(l, "en_US.utf8") {
			return "en_US.UTF-8"
		}
	}
	t.Log("en_US.UTF-8 not installed; second cluster uses locale C")
	return "C"
}

func connect(t *testing.T, ctx context.Context, c *Cluster, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatalf("connect %s/%s: %v", c.Name(), db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, ctx context.Context, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func startCluster(t *testing.T, ctx context.Context, opts Options) *Cluster {
	t.Helper()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestClustersLocalesTimezonesAndStandby(t *testing.T) {
	requireBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	specs := []Options{
		{Name: "utc", Locale: "C.UTF-8", TimeZone: "UTC"},
		{Name: "ny", Locale: secondLocale(t), TimeZone: "America/New_York",
			Settings: map[string]string{"work_mem": "8MB"}},
	}
	clusters := make([]*Cluster, len(specs))
	for i, o := range specs {
		clusters[i] = startCluster(t, ctx, o)
	}
	if clusters[0].Port() == clusters[1].Port() {
		t.Fatalf("both clusters on port %d", clusters[0].Port())
	}

	for i, c := range clusters {
		o := specs[i]
		conn := connect(t, ctx, c, "postgres")
		if got := queryString(t, ctx, conn, "SHOW TimeZone"); got != o.TimeZone {
			t.Errorf("%s: TimeZone = %q, want %q", c.Name(), got, o.TimeZone)
		}
		if got := queryString(t, ctx, conn, "SHOW lc_collate"); got != o.Locale {
			t.Errorf("%s: lc_collate = %q, want %q", c.Name(), got, o.Locale)
		}
		if got := queryString(t, ctx, conn, "SHOW server_encoding"); got != "UTF8" {
			t.Errorf("%s: server_encoding = %q", c.Name(), got)
		}
		if err := c.CreateDB(ctx, "app db", "CREATE TABLE t (id int PRIMARY KEY, v text)",
			"INSERT INTO t VALUES (1, 'one')"); err != nil {
			t.Fatal(err)
		}
		appConn := connect(t, ctx, c, "app db")
		if got := queryString(t, ctx, appConn, "SELECT v FROM t WHERE id = $1", 1); got != "one" {
			t.Errorf("%s: v = %q", c.Name(), got)
		}
		if err := c.CreateDBWith(ctx, "c_db", "C"); err != nil {
			t.Fatal(err)
		}
		if got := queryString(t, ctx, conn, "SELECT datcollate FROM pg_database WHERE datname = 'c_db'"); got != "C" {
			t.Errorf("%s: c_db collate = %q", c.Name(), got)
		}
	}
	if got := queryString(t, ctx, connect(t, ctx, clusters[1], "postgres"), "SHOW work_mem"); got != "8MB" {
		t.Errorf("Settings not applied: work_mem = %q", got)
	}

	primary := clusters[1]
	standby, err := StartStandby(ctx, primary, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := standby.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	if standby.Port() == primary.Port() {
		t.Fatalf("standby shares primary port %d", primary.Port())
	}
	if want := primary.Name() + "-standby"; standby.Name() != want {
		t.Errorf("standby name %q, want %q", standby.Name(), want)
	}

	if err := primary.Exec(ctx, "app db", "INSERT INTO t VALUES ($1, $2)", 2, "two"); err != nil {
		t.Fatal(err)
	}
	if err := standby.WaitReplay(ctx, primary); err != nil {
		t.Fatal(err)
	}
	sconn := connect(t, ctx, standby, "app db")
	if got := queryString(t, ctx, sconn, "SELECT v FROM t WHERE id = 2"); got != "two" {
		t.Errorf("standby v = %q", got)
	}
	if got := queryString(t, ctx, sconn, "SELECT pg_is_in_recovery()::text"); got != "true" {
		t.Errorf("standby pg_is_in_recovery = %s", got)
	}
	if got := queryString(t, ctx, sconn, "SHOW TimeZone"); got != "UTC" {
		t.Errorf("standby TimeZone = %q, want UTC (its own default)", got)
	}
	if err := standby.Exec(ctx, "app db", "INSERT INTO t VALUES (3, 'x')"); err == nil {
		t.Error("write on hot standby succeeded")
	}

	// Repeat after a burst of writes to catch WaitReplay returning early.
	for i := 10; i < 60; i++ {
		if err := primary.Exec(ctx, "app db", "INSERT INTO t VALUES ($1, 'x')", i); err != nil {
			t.Fatal(err)
		}
	}
	if err := standby.WaitReplay(ctx, primary); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, ctx, sconn, "SELECT count(*)::text FROM t"); got != "52" {
		t.Errorf("standby row count = %s, want 52", got)
	}

	// Crash and restart keeps data and port.
	c := clusters[0]
	port, dir := c.Port(), c.Dir()
	if err := c.StopImmediate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.StopImmediate(ctx); err != nil {
		t.Fatalf("second StopImmediate: %v", err)
	}
	if err := c.Exec(ctx, "postgres", "SELECT 1"); err == nil {
		t.Error("halted cluster still answers")
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Port() != port {
		t.Errorf("port changed across restart: %d -> %d", port, c.Port())
	}
	if got := queryString(t, ctx, connect(t, ctx, c, "app db"), "SELECT v FROM t WHERE id = 1"); got != "one" {
		t.Errorf("after restart v = %q", got)
	}

	// Stop is idempotent and removes files.
	for i := range 2 {
		if err := c.Stop(ctx); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir %s still exists after Stop (err %v)", dir, err)
	}
	if err := c.Restart(ctx); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

func TestConcurrentStart(t *testing.T) {
	requireBinaries(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	const n = 3
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			clusters[i], errs[i] = Start(ctx, Options{Name: fmt.Sprintf("conc%d", i)})
		})
	}
	wg.Wait()
	for i, c := range clusters {
		if c != nil {
			t.Cleanup(func() { _ = c.Stop(context.Background()) })
		}
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	seen := map[int]string{}
	for _, c := range clusters {
		if other, dup := seen[c.Port()]; dup {
			t.Fatalf("%s and %s share port %d", c.Name(), other, c.Port())
		}
		seen[c.Port()] = c.Name()
		conn := connect(t, ctx, c, "")
		if got := queryString(t, ctx, conn, "SELECT current_setting('port')"); got != fmt.Sprint(c.Port()) {
			t.Errorf("%s: server port %s, Port() %d", c.Name(), got, c.Port())
		}
	}
}

func TestStartErrorIncludesNameAndLog(t *testing.T) {
	requireBinaries(t)
	t.Parallel()
	_, err := Start(t.Context(), Options{Name: "broken", Settings: map[string]string{"shared_buffers": "nonsense"}})
	if err == nil {
		t.Fatal("Start with invalid setting succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "broken") || !strings.Contains(msg, "shared_buffers") {
		t.Errorf("error lacks cluster name or log tail:\n%s", msg)
	}
}
