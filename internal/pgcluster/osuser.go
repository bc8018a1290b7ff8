package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// fallbackUserName is created when we run as root and no "postgres" account
// exists (fresh CI images that only have the client packages, containers).
const fallbackUserName = "rowdiff-pg"

// runAs is the unprivileged account the PostgreSQL binaries execute as.
// A nil *runAs means "run as the current user": PostgreSQL refuses to run
// as root, so we only switch identity when we are root.
type runAs struct {
	name     string
	uid, gid uint32
}

var (
	runAsMu     sync.Mutex
	runAsCached *runAs
)

// serverUser returns the account to run PostgreSQL binaries as, creating the
// fallback account when needed. The result is cached because useradd is slow
// and racy when several clusters start concurrently.
func serverUser() (*runAs, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	runAsMu.Lock()
	defer runAsMu.Unlock()
	if runAsCached != nil {
		return runAsCached, nil
	}
	u, err := resolveUser([]string{"postgres", fallbackUserName}, fallbackUserName)
	if err != nil {
		return nil, err
	}
	runAsCached = u
	return u, nil
}

// resolveUser returns the first existing account among candidates, creating
// create when none exists. It is separate from serverUser so the creation
// path can be exercised on machines where "postgres" already exists.
func resolveUser(candidates []string, create string) (*runAs, error) {
	for _, name := range candidates {
		if u, err := lookupUser(name); err == nil {
			return u, nil
		}
	}
	useradd, err := exec.LookPath("useradd")
	if err != nil {
		useradd = "/usr/sbin/useradd"
	}
	out, err := exec.Command(useradd, "--system", "--no-create-home", create).CombinedOutput()
	if err != nil {
		// Another process may have created the account between our lookup
		// and useradd (exit status 9); the account is usable either way.
		if u, lerr := lookupUser(create); lerr == nil {
			return u, nil
		}
		return nil, fmt.Errorf("pgcluster: running as root but no %q account exists and creating %q failed: %v: %s (PostgreSQL refuses to run as root; create an unprivileged user or run as non-root)",
			candidates[0], create, err, strings.TrimSpace(string(out)))
	}
	return lookupUser(create)
}

func lookupUser(name string) (*runAs, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user %s has non-numeric uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: user %s has non-numeric gid %q", name, u.Gid)
	}
	return &runAs{name: name, uid: uint32(uid), gid: uint32(gid)}, nil
}

// command builds an exec.Cmd for a PostgreSQL binary. dir becomes the working
// directory because initdb and pg_ctl fail when the inherited cwd (often
// /root) is not accessible to the unprivileged account.
func (u *runAs) command(ctx context.Context, dir, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(u, dir)
	if u != nil {
		setCredential(cmd, u.uid, u.gid)
	}
	return cmd
}

// childEnv drops PG* variables so a developer's PGHOST/PGPORT/PGDATA/
// PGOPTIONS cannot redirect or reconfigure the throwaway cluster.
func childEnv(u *runAs, home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		if u != nil && strings.HasPrefix(kv, "HOME=") {
			// root's HOME is unreadable for the server account; libpq probes
			// $HOME/.pgpass, so point it somewhere the account owns.
			continue
		}
		env = append(env, kv)
	}
	if u != nil {
		env = append(env, "HOME="+home)
	}
	return append(env, "PGCONNECT_TIMEOUT=10")
}

// chownTree hands files we create as root to the server account; PostgreSQL
// refuses data directories (and cannot read config files) it does not own.
func (u *runAs) chownTree(root string) error {
	if u == nil {
		return nil
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		return os.Lchown(p, int(u.uid), int(u.gid))
	})
}

// tempParent picks where throwaway clusters live. As root the server account
// must be able to traverse every ancestor, which a TMPDIR under /root would
// break, so we fall back to /tmp in that case.
func tempParent(u *runAs) string {
	dir := os.TempDir()
	if u == nil || traversableByOthers(dir) {
		return dir
	}
	return "/tmp"
}

func traversableByOthers(dir string) bool {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}
