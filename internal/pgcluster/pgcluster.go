// Package pgcluster starts disposable PostgreSQL clusters from the real server
// binaries (initdb, pg_ctl, pg_basebackup), so integration tests, benchmarks
// and demos exercise a genuine server instead of mocks.
//
// Clusters listen only on 127.0.0.1, use trust authentication for the
// "postgres" superuser and run with durability switched off; they are meant
// for throwaway data only. When the calling process is root, every
// PostgreSQL binary runs as an unprivileged account because the server
// refuses to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role every cluster is initialised with; DSN connects as it.
const Superuser = "postgres"

// binNotFoundMsg is the advice printed when the server binaries are missing;
// tests surface it verbatim so a CI failure says how to fix itself.
const binNotFoundMsg = "PostgreSQL server binaries not found (initdb); install them with: apt-get install -y postgresql"

// BinDir returns the directory holding the PostgreSQL server binaries.
//
// An initdb on PATH wins (symlinks resolved, so /usr/local/bin links into a
// versioned directory work); otherwise the newest /usr/lib/postgresql/*/bin
// containing initdb is used, because Debian's postgresql package does not put
// server binaries on PATH. The error explains how to install them.
func BinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	best, bestVer := "", []int(nil)
	for _, m := range matches {
		ver := parseVersion(filepath.Base(filepath.Dir(filepath.Dir(m))))
		if best == "" || slices.Compare(ver, bestVer) > 0 {
			best, bestVer = filepath.Dir(m), ver
		}
	}
	if best == "" {
		return "", errors.New(binNotFoundMsg)
	}
	return best, nil
}

// parseVersion orders directory names like "9.6" and "15" numerically; a
// lexical sort would rank "9.6" above "15".
func parseVersion(s string) []int {
	var v []int
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			n = -1
		}
		v = append(v, n)
	}
	return v
}

// Options configures a cluster. The zero value is valid.
type Options struct {
	// Name identifies the cluster in errors and in its temp directory name.
	// Defaults to "pg1", "pg2", ... in start order.
	Name string
	// Locale is passed to initdb --locale (e.g. "C", "C.UTF-8",
	// "en_US.UTF-8"); it must exist in `locale -a`. Defaults to "C.UTF-8".
	// Ignored by StartStandby, which copies the primary's files.
	Locale string
	// Encoding is passed to initdb --encoding. Defaults to "UTF8".
	// Ignored by StartStandby.
	Encoding string
	// TimeZone sets the server's timezone and log_timezone. Defaults to "UTC"
	// so results do not depend on the host's zone.
	TimeZone string
	// Settings are extra postgresql.conf parameters, written after the
	// package defaults so they override them (except port, which the package
	// always owns). Values are single-quoted unless already quoted.
	// StartStandby merges the primary's Settings underneath these, since a
	// hot standby refuses to start with smaller limits than its primary.
	Settings map[string]string
	// HBA holds extra pg_hba.conf lines placed before the default
	// trust-everything-on-loopback lines, so they take precedence
	// (pg_hba.conf is first-match).
	HBA []string
}

type state int

const (
	stateRunning state = iota
	stateHalted
	stateRemoved
)

// Cluster is a running (or halted) throwaway PostgreSQL cluster. Its methods
// are safe for concurrent use.
type Cluster struct {
	name    string
	bin     string
	base    string // temp dir owning dataDir and logFile; removed by Stop
	dataDir string
	logFile string
	user    *runAs
	opts    Options // with defaults applied

	mu    sync.Mutex
	port  int
	state state
}

var clusterSeq atomic.Int64

// Start initialises a fresh cluster in a new temp directory and starts it on
// a free loopback port. The caller owns the cluster and must call Stop, which
// also removes its files. On failure nothing is left behind and the error
// names the cluster and includes the tail of the server log.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		c.discard()
		return nil, err
	}
	if err := c.startFresh(ctx); err != nil {
		c.discard()
		return nil, err
	}
	return c, nil
}

// StartStandby clones primary with pg_basebackup (-R, streaming WAL) into a
// new temp directory and starts the copy as a hot standby on its own port.
// It returns once the standby accepts read-only queries and
// pg_is_in_recovery() is true. Locale and Encoding in opts are ignored (they
// come from the primary); Name defaults to primary's name + "-standby".
func StartStandby(ctx context.Context, primary *Cluster, opts Options) (*Cluster, error) {
	if opts.Name == "" {
		opts.Name = primary.Name() + "-standby"
	}
	merged := map[string]string{}
	for k, v := range primary.opts.Settings {
		merged[k] = v
	}
	for k, v := range opts.Settings {
		merged[k] = v
	}
	opts.Settings = merged
	opts.Locale, opts.Encoding = primary.opts.Locale, primary.opts.Encoding

	primary.mu.Lock()
	pport, pstate := primary.port, primary.state
	primary.mu.Unlock()
	if pstate != stateRunning {
		return nil, fmt.Errorf("pgcluster %s: cannot create standby: primary %s is not running", opts.Name, primary.Name())
	}

	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	// --checkpoint=fast avoids waiting out a spread checkpoint on the primary;
	// --no-sync because durability is irrelevant for throwaway data.
	out, err := c.user.command(ctx, c.base, filepath.Join(c.bin, "pg_basebackup"),
		"-h", "127.0.0.1", "-p", strconv.Itoa(pport), "-U", Superuser,
		"-D", c.dataDir, "-R", "-X", "stream", "--checkpoint=fast", "--no-sync",
	).CombinedOutput()
	if err != nil {
		c.discard()
		return nil, fmt.Errorf("pgcluster %s: pg_basebackup from %s (port %d): %v\n%s",
			c.name, primary.Name(), pport, err, tail(string(out), 40))
	}
	if err := c.startFresh(ctx); err != nil {
		c.discard()
		return nil, err
	}
	if err := c.waitRecovery(ctx); err != nil {
		_ = c.Stop(ctx)
		return nil, err
	}
	return c, nil
}

func newCluster(opts Options) (*Cluster, error) {
	seq := clusterSeq.Add(1)
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("pg%d", seq)
	}
	if opts.Locale == "" {
		opts.Locale = "C.UTF-8"
	}
	if opts.Encoding == "" {
		opts.Encoding = "UTF8"
	}
	if opts.TimeZone == "" {
		opts.TimeZone = "UTC"
	}
	for k, v := range opts.Settings {
		if !settingName.MatchString(k) || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("pgcluster %s: invalid setting %q = %q", opts.Name, k, v)
		}
	}
	bin, err := BinDir()
	if err != nil {
		return nil, fmt.Errorf("pgcluster %s: %w", opts.Name, err)
	}
	u, err := serverUser()
	if err != nil {
		return nil, fmt.Errorf("pgcluster %s: %w", opts.Name, err)
	}
	base, err := os.MkdirTemp(tempParent(u), "rowdiff-pg-"+safeName.ReplaceAllString(opts.Name, "_")+"-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster %s: %w", opts.Name, err)
	}
	c := &Cluster{
		name:    opts.Name,
		bin:     bin,
		base:    base,
		dataDir: filepath.Join(base, "data"),
		logFile: filepath.Join(base, "log"),
		user:    u,
		opts:    opts,
		state:   stateHalted,
	}
	// 0755 so the server account can traverse into its data dir even though
	// root created the parent.
	if err := os.Chmod(base, 0o755); err != nil {
		c.discard()
		return nil, fmt.Errorf("pgcluster %s: %w", c.name, err)
	}
	if err := u.chownTree(base); err != nil {
		c.discard()
		return nil, fmt.Errorf("pgcluster %s: %w", c.name, err)
	}
	return c, nil
}

var (
	settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)
	safeName    = regexp.MustCompile(`[^A-Za-z0-9_.-]`)
)

func (c *Cluster) initdb(ctx context.Context) error {
	out, err := c.user.command(ctx, c.base, filepath.Join(c.bin, "initdb"),
		"-D", c.dataDir, "--auth=trust", "-U", Superuser, "--no-sync",
		"--locale="+c.opts.Locale, "--encoding="+c.opts.Encoding,
	).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgcluster %s: initdb (locale %q, encoding %q): %v\n%s",
			c.name, c.opts.Locale, c.opts.Encoding, err, tail(string(out), 40))
	}
	return nil
}

// confFile is included from postgresql.conf and rewritten on every start, so
// a standby copied from a primary can get its own port without us editing
// the copied postgresql.conf.
const confFile = "rowdiff.conf"

func (c *Cluster) configure(port int) error {
	var b strings.Builder
	b.WriteString("# written by pgcluster; rewritten on every start\n")
	defaults := [][2]string{
		{"listen_addresses", "127.0.0.1"},
		// No Unix socket: avoids lock-file clashes in /tmp between clusters
		// and permission trouble with /var/run/postgresql.
		{"unix_socket_directories", ""},
		{"fsync", "off"},
		{"synchronous_commit", "off"},
		{"full_page_writes", "off"},
		{"max_connections", "100"},
		{"wal_level", "replica"},
		{"max_wal_senders", "5"},
		{"hot_standby", "on"},
		{"timezone", c.opts.TimeZone},
		{"log_timezone", c.opts.TimeZone},
	}
	for _, kv := range defaults {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], confQuote(kv[1]))
	}
	keys := make([]string, 0, len(c.opts.Settings))
	for k := range c.opts.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, confQuote(c.opts.Settings[k]))
	}
	fmt.Fprintf(&b, "port = %d\n", port)
	if err := os.WriteFile(filepath.Join(c.dataDir, confFile), []byte(b.String()), 0o600); err != nil {
		return err
	}

	mainConf := filepath.Join(c.dataDir, "postgresql.conf")
	cur, err := os.ReadFile(mainConf)
	if err != nil {
		return err
	}
	include := "include '" + confFile + "'"
	if !bytes.Contains(cur, []byte(include)) {
		f, err := os.OpenFile(mainConf, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(f, "\n%s\n", include)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}

	// Rewritten rather than edited so a standby does not inherit the
	// primary's extra lines and the user lines always come first.
	var h strings.Builder
	h.WriteString("# written by pgcluster\n")
	for _, l := range c.opts.HBA {
		h.WriteString(l + "\n")
	}
	h.WriteString(`local   all             all                     trust
local   replication     all                     trust
host    all             all     127.0.0.1/32    trust
host    all             all     ::1/128         trust
host    replication     all     127.0.0.1/32    trust
host    replication     all     ::1/128         trust
`)
	if err := os.WriteFile(filepath.Join(c.dataDir, "pg_hba.conf"), []byte(h.String()), 0o600); err != nil {
		return err
	}
	return c.user.chownTree(c.base)
}

func confQuote(v string) string {
	if len(v) >= 2 && strings.HasPrefix(v, "'") && strings.HasSuffix(v, "'") {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

// startFresh starts a not-yet-started cluster, moving to another port when
// the chosen one was grabbed by someone else between probe and bind (other
// test processes pick ports the same way).
func (c *Cluster) startFresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	const attempts = 5
	var err error
	for i := 0; i < attempts; i++ {
		var port int
		if port, err = reservePort(); err != nil {
			return fmt.Errorf("pgcluster %s: %w", c.name, err)
		}
		if err = c.configure(port); err != nil {
			releasePort(port)
			return fmt.Errorf("pgcluster %s: writing config: %w", c.name, err)
		}
		var inUse bool
		if inUse, err = c.pgctlStart(ctx, port); err == nil {
			c.port, c.state = port, stateRunning
			return nil
		}
		releasePort(port)
		if !inUse || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// pgctlStart runs pg_ctl start and reports whether a failure was caused by
// the port being taken, so the caller can retry elsewhere.
func (c *Cluster) pgctlStart(ctx context.Context, port int) (portInUse bool, err error) {
	var logStart int64
	if fi, err := os.Stat(c.logFile); err == nil {
		logStart = fi.Size()
	}
	out, err := c.user.command(ctx, c.base, filepath.Join(c.bin, "pg_ctl"),
		"-D", c.dataDir, "-l", c.logFile, "-w", "-t", "60", "start",
	).CombinedOutput()
	if err == nil {
		return false, nil
	}
	// pg_ctl may have timed out or been killed by ctx while the postmaster
	// keeps starting; make sure it cannot outlive the failed attempt.
	c.forceStop()
	logText := readFrom(c.logFile, logStart)
	portInUse = strings.Contains(logText, "Address already in use") ||
		strings.Contains(logText, "could not create any TCP/IP sockets")
	return portInUse, fmt.Errorf("pgcluster %s: pg_ctl start on port %d: %v\n%s\n--- server log tail (%s) ---\n%s",
		c.name, port, err, strings.TrimSpace(string(out)), c.logFile, tail(logText, 40))
}

// pgctlStop stops the server if it is running. Stopping is cleanup, so it
// deliberately ignores ctx cancellation (test contexts are cancelled before
// cleanups run); pg_ctl's own -t bounds the wait.
func (c *Cluster) pgctlStop(ctx context.Context, mode string) error {
	if !c.pidFileExists() {
		return nil
	}
	out, err := c.user.command(context.WithoutCancel(ctx), c.base, filepath.Join(c.bin, "pg_ctl"),
		"-D", c.dataDir, "-m", mode, "-w", "-t", "60", "stop",
	).CombinedOutput()
	if err != nil && c.pidFileExists() {
		return fmt.Errorf("pgcluster %s: pg_ctl stop -m %s: %v\n%s", c.name, mode, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// forceStop is the last resort when orderly shutdown fails: a lingering
// postmaster would keep its port and, after Stop, run on deleted files.
func (c *Cluster) forceStop() {
	if c.pgctlStop(context.Background(), "immediate") == nil {
		return
	}
	data, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return
	}
	line, _, _ := strings.Cut(string(data), "\n")
	if pid, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && pid > 0 {
		killPID(pid)
	}
}

func (c *Cluster) pidFileExists() bool {
	_, err := os.Stat(filepath.Join(c.dataDir, "postmaster.pid"))
	return err == nil
}

// Halt stops the server with the given pg_ctl shutdown mode ("smart", "fast"
// or "immediate") but keeps its files so Restart can bring it back with the
// same data and port. Halting a halted cluster is a no-op. Like Stop, it
// completes even if ctx is already cancelled.
func (c *Cluster) Halt(ctx context.Context, mode string) error {
	switch mode {
	case "smart", "fast", "immediate":
	default:
		return fmt.Errorf("pgcluster %s: unknown shutdown mode %q", c.name, mode)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateRemoved:
		return fmt.Errorf("pgcluster %s: already stopped and removed", c.name)
	case stateHalted:
		return nil
	}
	if err := c.pgctlStop(ctx, mode); err != nil {
		return err
	}
	c.state = stateHalted
	return nil
}

// StopImmediate simulates a crash (pg_ctl stop -m immediate, no checkpoint)
// and keeps the files; Restart then exercises crash recovery.
func (c *Cluster) StopImmediate(ctx context.Context) error {
	return c.Halt(ctx, "immediate")
}

// Restart starts a halted cluster again on the same port, so DSNs handed out
// earlier stay valid; a running cluster is first halted with mode "fast".
// It fails rather than moving if the port was taken in the meantime.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.state {
	case stateRemoved:
		return fmt.Errorf("pgcluster %s: cannot restart: stopped and removed", c.name)
	case stateRunning:
		if err := c.pgctlStop(ctx, "fast"); err != nil {
			return err
		}
		c.state = stateHalted
	}
	if err := c.configure(c.port); err != nil {
		return fmt.Errorf("pgcluster %s: writing config: %w", c.name, err)
	}
	if _, err := c.pgctlStart(ctx, c.port); err != nil {
		return err
	}
	c.state = stateRunning
	return nil
}

// Stop shuts the server down (mode "fast", escalating to "immediate" and
// finally SIGKILL) and removes all of its files. It is idempotent, safe on a
// halted cluster, and completes even if ctx is already cancelled, so it can
// be used directly in test cleanups. A non-nil error means files may remain.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateRemoved {
		return nil
	}
	if err := c.pgctlStop(ctx, "fast"); err != nil {
		c.forceStop()
	}
	c.state = stateRemoved
	releasePort(c.port)
	if err := os.RemoveAll(c.base); err != nil {
		return fmt.Errorf("pgcluster %s: removing %s: %w", c.name, c.base, err)
	}
	return nil
}

// discard cleans up after a failed Start; the cluster was never handed out.
func (c *Cluster) discard() {
	c.forceStop()
	_ = os.RemoveAll(c.base)
}

// Name returns Options.Name (or the generated default).
func (c *Cluster) Name() string { return c.name }

// Port returns the TCP port on 127.0.0.1; it does not change across Restart.
func (c *Cluster) Port() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.port
}

// Dir returns the data directory (PGDATA). It is deleted by Stop.
func (c *Cluster) Dir() string { return c.dataDir }

// LogFile returns the server log path, useful to dump when a test fails.
// It is deleted by Stop.
func (c *Cluster) LogFile() string { return c.logFile }

// DSN returns a libpq keyword/value connection string for database db
// ("postgres" when empty) as the superuser. connect_timeout keeps a dead
// cluster from hanging callers.
func (c *Cluster) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=disable connect_timeout=10",
		c.Port(), Superuser, dsnQuote(db))
}

func dsnQuote(v string) string {
	if v != "" && !strings.ContainsAny(v, ` '\`) {
		return v
	}
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(v) + "'"
}

// Exec runs sql in database db over a fresh connection. Without args the
// simple protocol is used, so sql may contain several statements.
func (c *Cluster) Exec(ctx context.Context, db, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		return fmt.Errorf("pgcluster %s: connect %s: %w", c.name, db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		return fmt.Errorf("pgcluster %s: db %s: %w", c.name, db, err)
	}
	return nil
}

// CreateDB creates database name from the default template and then runs
// each of extraSQL inside it, in order (typically schema setup).
func (c *Cluster) CreateDB(ctx context.Context, name string, extraSQL ...string) error {
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	for _, s := range extraSQL {
		if err := c.Exec(ctx, name, s); err != nil {
			return err
		}
	}
	return nil
}

// CreateDBWith creates database name with a collation/ctype locale that may
// differ from the cluster's. A non-empty locale requires TEMPLATE template0,
// because template1 may contain locale-dependent indexes; the locale must
// be installed on the host. An empty locale behaves like CreateDB.
func (c *Cluster) CreateDBWith(ctx context.Context, name, locale string) error {
	if locale == "" {
		return c.CreateDB(ctx, name)
	}
	return c.Exec(ctx, "postgres", fmt.Sprintf("CREATE DATABASE %s TEMPLATE template0 LOCALE '%s'",
		pgx.Identifier{name}.Sanitize(), strings.ReplaceAll(locale, "'", "''")))
}

// waitRecovery waits for a freshly started standby to accept queries in
// recovery; pg_ctl -w alone does not prove the copy came up as a standby.
func (c *Cluster) waitRecovery(ctx context.Context) error {
	ctx, cancel := defaultDeadline(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		var inRecovery bool
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
			conn.Close(context.WithoutCancel(ctx))
		}
		if err == nil && inRecovery {
			return nil
		}
		if err == nil {
			err = errors.New("pg_is_in_recovery() is false")
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgcluster %s: standby not in recovery: %v (last: %v)\n--- server log tail ---\n%s",
				c.name, ctx.Err(), last, tail(readFrom(c.logFile, 0), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WaitReplay blocks until this standby has replayed all WAL that primary had
// inserted when WaitReplay was called, so committed writes made before the
// call are visible on the standby afterwards.
//
// It compares against pg_current_wal_insert_lsn() rather than
// pg_current_wal_lsn(): with synchronous_commit=off a commit record may still
// sit in WAL buffers, and the write position would let WaitReplay return
// before that commit is replayed. Gives up after 2 minutes unless ctx ends
// earlier.
func (c *Cluster) WaitReplay(ctx context.Context, primary *Cluster) error {
	ctx, cancel := defaultDeadline(ctx, 2*time.Minute)
	defer cancel()
	pconn, err := pgx.Connect(ctx, primary.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster %s: connect primary %s: %w", c.name, primary.Name(), err)
	}
	var target string
	err = pconn.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&target)
	pconn.Close(context.WithoutCancel(ctx))
	if err != nil {
		return fmt.Errorf("pgcluster %s: primary %s LSN: %w", c.name, primary.Name(), err)
	}

	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	var replayed *string
	var last error
	for {
		if conn == nil {
			conn, last = pgx.Connect(ctx, c.DSN("postgres"))
		}
		if conn != nil {
			var done *bool
			last = conn.QueryRow(ctx,
				"SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn, pg_last_wal_replay_lsn()::text", target,
			).Scan(&done, &replayed)
			switch {
			case last != nil:
				conn.Close(context.WithoutCancel(ctx))
				conn = nil
			case done == nil:
				return fmt.Errorf("pgcluster %s: not a standby (pg_last_wal_replay_lsn() is NULL)", c.name)
			case *done:
				return nil
			}
		}
		select {
		case <-ctx.Done():
			got := "unknown"
			if replayed != nil {
				got = *replayed
			}
			return fmt.Errorf("pgcluster %s: waiting for replay of %s from %s (replayed %s): %v (last error: %v)\n--- standby log tail ---\n%s",
				c.name, target, primary.Name(), got, ctx.Err(), last, tail(readFrom(c.logFile, 0), 40))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func defaultDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

var (
	portsMu  sync.Mutex
	reserved = map[int]bool{}
)

// reservePort asks the kernel for a free port. The in-process registry keeps
// concurrently starting clusters from being handed the same port before
// either has bound it; collisions with other processes are handled by the
// retry in startFresh.
func reservePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("finding a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !reserved[port] {
			reserved[port] = true
			return port, nil
		}
	}
	return 0, errors.New("finding a free port: kernel keeps returning reserved ports")
}

func releasePort(port int) {
	portsMu.Lock()
	defer portsMu.Unlock()
	delete(reserved, port)
}

// readFrom returns the file content after offset (at most the last 64 KiB),
// so error messages show this attempt's log rather than earlier runs.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	const maxTail = 64 << 10
	if fi.Size()-offset > maxTail {
		offset = fi.Size() - maxTail
	}
	buf := make([]byte, fi.Size()-offset)
	n, _ := f.ReadAt(buf, offset)
	return string(buf[:n])
}

func tail(s string, lines int) string {
	s = strings.TrimRight(s, "\n")
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}
