package pipeline

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// parseError says why pgx could not parse a node's DSN without the DSN: pgx quotes it with the password
// redacted as best it can ("an invalid connection string can be too ambiguous to identify every
// password"), so the quote is cut off. The causes seen hold no password, but one may quote a value (a
// port's), and a malformed DSN can put the password anywhere: any password the DSN or PGPASSWORD holds
// is masked in the rest.
func parseError(err error, dsn string) string {
	msg := err.Error()
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		if i := strings.Index(msg, "`: "); strings.HasPrefix(msg, "cannot parse `") && i >= 0 {
			msg = msg[i+len("`: "):]
		} else {
			return "cannot parse it"
		}
	}
	for _, s := range secrets(dsn) {
		msg = strings.ReplaceAll(msg, s, "********")
	}
	return msg
}

// passwordKeyword finds a keyword/value DSN's password, quoted or not.
var passwordKeyword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// secrets are the passwords dsn and the environment may hold, as written and decoded, longest first.
func secrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	add(os.Getenv("PGPASSWORD"))
	for _, m := range passwordKeyword.FindAllStringSubmatch(dsn, -1) {
		add(m[1])
		add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(strings.Trim(m[1], "'")))
	}
	// A URL's user information ends at its last @ before the path: the password may hold an @ itself.
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
				add(pw)
				if dec, err := url.PathUnescape(pw); err == nil {
					add(dec)
				}
			}
		}
	}
	// Longer first, so that a password containing another is masked whole.
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

// clientKeywords applies the libpq connection keywords that pgx does not know and would send to the server
// as settings, where they fail the connection (FATAL: unrecognized configuration parameter "hostaddr"):
// a primary_conninfo that pg_basebackup -R wrote holds several. Those rowdiff can honour are honoured:
// hostaddr (connect there, while host names the server for TLS and the password file), keepalives,
// keepalives_idle, keepalives_interval, keepalives_count and tcp_user_timeout (in place of rowdiff's own),
// ssl_min_protocol_version and ssl_max_protocol_version. Those without effect here are dropped:
// fallback_application_name (rowdiff names its sessions), sslcompression (obsolete), load_balance_hosts
// (all of a node's sessions must reach the server that exported the snapshot), gssencmode other than
// require and the other GSSAPI keywords (pgx never encrypts with GSSAPI), an empty sslcrl or sslcrldir.
// Those that would weaken what the DSN asks for are refused: gssencmode=require, a certificate
// revocation list, requirepeer.
func clientKeywords(cfg *pgx.ConnConfig, dialer *net.Dialer, userTimeout *time.Duration) error {
	params := cfg.RuntimeParams
	take := func(k string) (string, bool) {
		v, ok := params[k]
		delete(params, k)
		return v, ok
	}
	// count sets a positive number keyword k (0 or absent: rowdiff's own setting stays).
	count := func(k string, set func(int)) error {
		v, ok := take(k)
		if !ok || v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("%s=%s: want a number", k, v)
		}
		if n > 0 {
			set(n)
		}
		return nil
	}
	if v, ok := take("keepalives"); ok && v == "0" {
		dialer.KeepAliveConfig.Enable = false
		dialer.KeepAlive = -1
	}
	ka := &dialer.KeepAliveConfig
	for _, err := range []error{
		count("keepalives_idle", func(n int) { ka.Idle = time.Duration(n) * time.Second }),
		count("keepalives_interval", func(n int) { ka.Interval = time.Duration(n) * time.Second }),
		count("keepalives_count", func(n int) { ka.Count = n }),
		count("tcp_user_timeout", func(n int) { *userTimeout = time.Duration(n) * time.Millisecond }),
	} {
		if err != nil {
			return err
		}
	}
	for _, k := range []string{"ssl_min_protocol_version", "ssl_max_protocol_version"} {
		v, ok := take(k)
		if !ok || v == "" {
			continue
		}
		version, known := tlsVersions[v]
		if !known {
			return fmt.Errorf("%s=%s: want TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3", k, v)
		}
		for _, tc := range tlsConfigs(cfg) {
			if k == "ssl_min_protocol_version" {
				tc.MinVersion = version
			} else {
				tc.MaxVersion = version
			}
		}
	}
	if v, ok := take("gssencmode"); ok && v == "require" {
		return errors.New("gssencmode=require: rowdiff cannot encrypt with GSSAPI; use TLS (sslmode)")
	}
	for _, k := range []string{"sslcrl", "sslcrldir"} {
		if v, ok := take(k); ok && v != "" {
			return fmt.Errorf("%s: rowdiff cannot check certificate revocation lists", k)
		}
	}
	if _, ok := take("requirepeer"); ok {
		return errors.New("requirepeer: rowdiff cannot check the operating-system user of the server's process")
	}
	for _, k := range []string{"fallback_application_name", "sslcompression", "load_balance_hosts", "gsslib", "gssdelegation"} {
		take(k)
	}
	if v, ok := take("hostaddr"); ok && v != "" {
		return hostaddr(cfg, v)
	}
	return nil
}

var tlsVersions = map[string]uint16{"TLSv1": tls.VersionTLS10, "TLSv1.1": tls.VersionTLS11, "TLSv1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13}

// tlsConfigs are the TLS settings of each host and mode pgx will try.
func tlsConfigs(cfg *pgx.ConnConfig) []*tls.Config {
	var out []*tls.Config
	if cfg.TLSConfig != nil {
		out = append(out, cfg.TLSConfig)
	}
	for _, f := range cfg.Fallbacks {
		if f.TLSConfig != nil && f.TLSConfig != cfg.TLSConfig {
			out = append(out, f.TLSConfig)
		}
	}
	return out
}

// hostaddr makes pgx connect to the addresses a DSN's hostaddr lists, one per host (or one for all), in
// place of looking the host names up: the names still verify the server's certificate and find the
// password file's line, as in libpq.
func hostaddr(cfg *pgx.ConnConfig, list string) error {
	type hostPort struct {
		host string
		port uint16
	}
	// The DSN's hosts in order: pgx tries the first in cfg, and lists it and each other once per TLS mode
	// it tries (sslmode=prefer: with TLS, then without) in cfg.Fallbacks.
	hosts := []hostPort{{cfg.Host, cfg.Port}}
	for _, f := range cfg.Fallbacks {
		if hp := (hostPort{f.Host, f.Port}); hosts[len(hosts)-1] != hp {
			hosts = append(hosts, hp)
		}
	}
	addrs := strings.Split(list, ",")
	if len(addrs) == 1 && len(hosts) > 1 {
		addrs = slices.Repeat(addrs, len(hosts))
	}
	if len(addrs) != len(hosts) {
		return fmt.Errorf("hostaddr lists %d addresses for %d hosts", len(addrs), len(hosts))
	}
	to := map[string]string{}
	for i, h := range hosts {
		a := strings.TrimSpace(addrs[i])
		if a == "" {
			continue
		}
		if net.ParseIP(a) == nil {
			return fmt.Errorf("hostaddr %q is not an IP address", a)
		}
		if prev, ok := to[h.host]; ok && prev != a {
			return fmt.Errorf("hostaddr gives host %s two addresses, %s and %s", h.host, prev, a)
		}
		to[h.host] = a
	}
	lookup := cfg.LookupFunc
	cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		if a, ok := to[host]; ok {
			return []string{a}, nil
		}
		return lookup(ctx, host)
	}
	return nil
}

// tlsRefused is how pgx words a server's refusal of TLS, which sslmode=prefer (libpq's default, and pgx's)
// answers by trying again without it.
const tlsRefused = "tls error: server refused TLS connection"

// withoutTLSRefusal drops, from a failed connection's error, the attempts a server refused TLS to when
// another attempt says why the connection failed: under sslmode=prefer every failure began with the
// refusal ("tls error: server refused TLS connection", then "password authentication failed"), and sent
// the reader looking at TLS. It drops repeats too: the two attempts of sslmode=prefer to a refused port
// said "connection refused" twice.
func withoutTLSRefusal(err error) error {
	lines := strings.Split(err.Error(), "\n")
	kept := slices.DeleteFunc(slices.Clone(lines), func(l string) bool { return strings.HasSuffix(l, tlsRefused) })
	if len(kept) == len(lines) || !slices.ContainsFunc(kept, func(l string) bool { return strings.Contains(l, "): ") }) {
		kept = slices.Clone(lines)
	}
	seen := map[string]bool{}
	kept = slices.DeleteFunc(kept, func(l string) bool {
		dup := seen[l]
		seen[l] = true
		return dup
	})
	if len(kept) == len(lines) {
		return err
	}
	return cleanedError{strings.Join(kept, "\n"), err}
}

// cleanedError is err, said as msg.
type cleanedError struct {
	msg string
	err error
}

func (e cleanedError) Error() string { return e.msg }
func (e cleanedError) Unwrap() error { return e.err }
