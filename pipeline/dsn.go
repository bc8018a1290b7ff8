package pipeline

import (
	"cmp"
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
	return masked(errors.New(msg), dsn).Error()
}

// passwordKeyword finds a keyword/value DSN's password, quoted or not.
var passwordKeyword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// passwordWords finds what follows a keyword/value DSN's password keyword, up to the next keyword.
var passwordWords = regexp.MustCompile(`password\s*=\s*(.*?)(?:\s+\w+\s*=|$)`)

// masked is err with any password dsn or the environment holds masked.
func masked(err error, dsn string) error {
	msg := err.Error()
	for _, s := range secrets(dsn) {
		msg = strings.ReplaceAll(msg, s, "********")
	}
	if msg == err.Error() {
		return err
	}
	return cleanedError{msg, err}
}

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
	// A password written with a space and no quotes, or in double quotes, is cut at the space, and pgx's
	// cause quotes the next word ("missing \"=\" after \"tailB\"", found by an exploratory helper): every
	// word up to the next keyword is masked (but one- and two-letter words, which would garble the rest).
	for _, m := range passwordWords.FindAllStringSubmatch(dsn, -1) {
		for _, w := range strings.Fields(m[1]) {
			if len(w) > 2 {
				add(w)
				add(strings.Trim(w, `"'`))
			}
		}
	}
	// A URL's user information ends at an @ before the path: its last, where the password holds an @
	// itself, but pgx, as libpq, ends it at the first, and the rest of the password went into the host
	// name its error quoted ("lookup tailB@127.0.0.1", found by an exploratory helper): each piece too.
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		authority, _, _ := strings.Cut(rest, "/")
		if at := strings.LastIndex(authority, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
				for _, p := range append([]string{pw}, strings.Split(pw, "@")...) {
					add(p)
					if dec, err := url.PathUnescape(p); err == nil {
						add(dec)
					}
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
	fromEnv := map[string]bool{}
	// take is keyword k's value: the DSN's, else libpq's environment variable for it, which pgx does not
	// read either. PGSSLCRL and PGREQUIREPEER were ignored where their keywords were refused, and
	// PGHOSTADDR left rowdiff on another server (found by an exploratory helper).
	take := func(k string) (string, bool) {
		v, ok := params[k]
		delete(params, k)
		if !ok && libpqEnv[k] != "" {
			v, ok = os.LookupEnv(libpqEnv[k])
			fromEnv[k] = ok
		}
		return v, ok
	}
	// named is how a message names keyword k: by the environment variable where that set it.
	named := func(k string) string {
		if fromEnv[k] {
			return libpqEnv[k]
		}
		return k
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
			return fmt.Errorf("%s=%s: want TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3", named(k), v)
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
		return fmt.Errorf("%s=require: rowdiff cannot encrypt with GSSAPI; use TLS (sslmode)", named("gssencmode"))
	}
	for _, k := range []string{"sslcrl", "sslcrldir"} {
		if v, ok := take(k); ok && v != "" {
			return fmt.Errorf("%s: rowdiff cannot check certificate revocation lists", named(k))
		}
	}
	if v, ok := take("requirepeer"); ok && v != "" {
		return fmt.Errorf("%s: rowdiff cannot check the operating-system user of the server's process", named("requirepeer"))
	}
	for _, k := range []string{"fallback_application_name", "sslcompression", "load_balance_hosts", "gsslib", "gssdelegation"} {
		take(k)
	}
	if v, ok := take("hostaddr"); ok && v != "" {
		return hostaddr(cfg, v)
	}
	return nil
}

// libpqEnv are the environment variables libpq reads for the keywords clientKeywords takes.
var libpqEnv = map[string]string{
	"hostaddr": "PGHOSTADDR", "sslcrl": "PGSSLCRL", "sslcrldir": "PGSSLCRLDIR", "requirepeer": "PGREQUIREPEER",
	"gssencmode": "PGGSSENCMODE", "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION",
	"ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION", "sslcompression": "PGSSLCOMPRESSION",
	"gsslib": "PGGSSLIB", "load_balance_hosts": "PGLOADBALANCEHOSTS",
}

// socketsToHostaddr is dsn with a host list in which each host that is a socket directory gives way to its
// hostaddr, when the DSN (or PGHOSTADDR) has one: libpq connects to hostaddr over TCP whatever host says,
// where pgx dials the socket, its default host where the DSN names none. A DSN of hostaddr and port alone
// reached the local server on that port through its socket, and a diff read another server's rows (found
// by an exploratory helper). The DSN is parsed again with the new list, so that TLS applies as it asks.
func socketsToHostaddr(dsn string, cfg *pgx.ConnConfig) (string, bool) {
	list, ok := cfg.RuntimeParams["hostaddr"]
	if !ok {
		list = os.Getenv(libpqEnv["hostaddr"])
	}
	hosts, _ := hostPositions(cfg)
	addrs := strings.Split(list, ",")
	named := namesHost(dsn)
	if list == "" || (named && len(addrs) != len(hosts)) { // hostaddr says what is wrong with the latter
		return "", false
	}
	var names []string
	changed := false
	if !named {
		// Without a host, hostaddr alone lists the places, as in libpq (pgx's default was one socket).
		for _, a := range addrs {
			names = append(names, strings.TrimSpace(a))
		}
		changed = true
	} else {
		for i, h := range hosts {
			names = append(names, h.host)
			if a := strings.TrimSpace(addrs[i]); strings.HasPrefix(h.host, "/") && a != "" {
				names[i], changed = a, true
			}
		}
	}
	if !changed {
		return "", false
	}
	// pgx, as libpq, takes a URL's host parameter over its authority and the last of a keyword's values.
	// (Go's url.Parse refuses the authority %2Ftmp of a socket directory, and such a URL dialled the socket.)
	host := strings.Join(names, ",")
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "host=" + url.QueryEscape(host), true
	}
	return dsn + " host='" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(host) + "'", true
}

// keywordValue is one keyword and its value, quoted or not, of a keyword/value DSN.
var keywordValue = regexp.MustCompile(`(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// namesHost reports whether dsn, or PGHOST, names a host (not empty), where pgx would otherwise take its
// default socket directory: libpq finds the password file's line by the host named, and without one by
// hostaddr, and lists its places by hostaddr alone.
func namesHost(dsn string) bool {
	if os.Getenv("PGHOST") != "" {
		return true
	}
	_, rest, isURL := strings.Cut(dsn, "://")
	if !isURL {
		for _, m := range keywordValue.FindAllStringSubmatch(dsn, -1) {
			if m[1] == "host" && m[2] != "" && m[2] != "''" {
				return true
			}
		}
		return false
	}
	authority, query, _ := strings.Cut(rest, "?")
	authority, _, _ = strings.Cut(authority, "/")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = authority[at+1:]
	}
	if host, _, _ := strings.Cut(authority, ":"); strings.HasPrefix(authority, "[") || host != "" {
		return true
	}
	for _, kv := range strings.Split(query, "&") {
		if k, v, _ := strings.Cut(kv, "="); k == "host" && v != "" {
			return true
		}
	}
	return false
}

// hostPort is one of a DSN's hosts.
type hostPort struct {
	host string
	port uint16
}

// hostPositions are cfg's hosts in the DSN's order, and the place among them of cfg's own host (pos[0])
// and of each fallback's. pgx tries the first in cfg, and lists it and each other once per TLS mode it
// tries in cfg.Fallbacks (twice, with TLS and without, under sslmode=prefer or allow, but once for a
// socket). A host named twice in a row stays twice (host=db,db with two hostaddr): it was taken for one
// host's two modes, and the DSN refused (found by an exploratory helper).
func hostPositions(cfg *pgx.ConnConfig) (hosts []hostPort, pos []int) {
	hosts, pos = []hostPort{{cfg.Host, cfg.Port}}, []int{0}
	modes, tls := 1, cfg.TLSConfig != nil
	for _, f := range cfg.Fallbacks {
		hp := hostPort{f.Host, f.Port}
		if hosts[len(hosts)-1] == hp && modes == 1 && (f.TLSConfig != nil) != tls {
			modes = 2
		} else {
			hosts, modes, tls = append(hosts, hp), 1, f.TLSConfig != nil
		}
		pos = append(pos, len(hosts)-1)
	}
	return hosts, pos
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
// place of looking the host names up: the names still verify the server's certificate (pgx made the TLS
// settings from them) and found the password file's line, as in libpq.
func hostaddr(cfg *pgx.ConnConfig, list string) error {
	hosts, pos := hostPositions(cfg)
	addrs := strings.Split(list, ",")
	if len(addrs) != len(hosts) { // one address for several hosts too, as libpq refuses it
		return fmt.Errorf("hostaddr lists %d addresses for %d hosts", len(addrs), len(hosts))
	}
	// Each place's host gives way to its address, which pgx then dials; its TLS settings, made from the
	// host name, stay. Looked up by name, a name listed twice went to both addresses at both places and
	// ports (found by an exploratory helper), where libpq tries each address at its own place.
	for i, a := range addrs {
		if addrs[i] = strings.TrimSpace(a); addrs[i] != "" && net.ParseIP(addrs[i]) == nil {
			return fmt.Errorf("hostaddr %q is not an IP address", addrs[i])
		}
	}
	if a := addrs[pos[0]]; a != "" {
		cfg.Host = a
	}
	for i, f := range cfg.Fallbacks {
		if a := addrs[pos[i+1]]; a != "" {
			f.Host = a
		}
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
