package pipeline

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// ErrLimit stops a run once --max-diffs differences are written; the run then succeeds, incomplete.
var ErrLimit = errors.New("difference limit reached")

// hinted adds to a server error, or to a transaction that never started, what an operator can do about
// it, where the error alone does not say: which of rowdiff's flags or which server setting to change.
// Other errors pass unchanged.
func hinted(err error) error {
	var pe *pgconn.PgError
	if errors.Is(err, errNoTransaction) {
		return fmt.Errorf("%w (is a connection pooler out of server connections? Give its pool room for "+
			"--max-connections per node, or lower --max-connections)", err)
	}
	if errors.As(err, new(startCancelled)) {
		return fmt.Errorf("%w (cancelled as the transaction started, before rowdiff's --statement-timeout applies: a "+
			"statement_timeout set for the role or database that is shorter than a transaction's start, or another "+
			"session's cancel request; raise the role's, e.g. ALTER ROLE ... SET statement_timeout)", err)
	}
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	var hint string
	switch {
	case pe.Code == "57014" && strings.Contains(pe.Message, "statement timeout"):
		hint = "raise --statement-timeout"
	case pe.Code == "53200" && strings.Contains(pe.Hint, "max_locks_per_transaction"):
		// The server's hint alone means a restart: a partitioned table of 2,500 partitions failed at
		// the defaults, and other sessions got the same error while the run held its locks (in a
		// helper's runs); one worker per node passed.
		hint = "HINT: " + pe.Hint + " Each of rowdiff's sessions locks every table, partition and index it reads until the run " +
			"ends, and the server's lock table is shared by every session: lower --concurrency for fewer such sessions"
	case pe.Code == "53400" && strings.Contains(pe.Message, "temp_file_limit"):
		// A compare of a table read by key hash, or by a text key, sorts its rows on the server; at a
		// temp_file_limit of 100kB it failed (in a helper's runs) with nothing said of what to change.
		hint = "the server's temp_file_limit is below what this query's sort needs: raise it for rowdiff's role " +
			"(ALTER ROLE ... SET temp_file_limit), or give the role more work_mem"
	case pe.Code == "22021" && strings.Contains(pe.Message, `for encoding "UTF8"`):
		// Where the nodes' encodings differ, text is compared as UTF-8, and a SQL_ASCII node's bytes need
		// not be (between SQL_ASCII nodes they are compared as they are).
		hint = "a SQL_ASCII database holds text that is not UTF-8, which rowdiff compares as UTF-8 beside nodes of another " +
			"server encoding: convert the data, or leave the column out with --exclude-columns"
	case pe.Code == "55P03":
		// In a run of more than 64 tables a worker locks a table at its first read, behind any DDL that
		// waits for the run's own lock there: raising the timeout does not help then.
		hint = "another session holds a lock on the table, or DDL waits for this run's own lock on it and this run's " +
			"reads queue behind that DDL: run when the other session is done, or cancel the DDL"
	case pe.Code == "25P03":
		hint = "a session went without a statement for longer than --idle-timeout: rowdiff was stopped or stalled, or the timeout is too short"
	case pe.Code == "42501" && strings.Contains(pe.Message, "row-level security"):
		// The owner bypasses the policies unless the table has FORCE ROW LEVEL SECURITY.
		hint = "read as a role with BYPASSRLS, or as the table's owner if the table does not FORCE ROW LEVEL SECURITY"
	case pe.Code == "40001" && strings.Contains(pe.Message, "conflict with recovery"):
		// The DETAIL says which conflict: the standby's fix for a lock is not that for removed rows.
		switch {
		case strings.Contains(pe.Detail, "relation lock"):
			hint = "the primary took a lock that this run's reads of the table conflict with (DDL, LOCK TABLE, or a " +
				"VACUUM cutting off the table's empty end, which hot_standby_feedback = on prevents while the run still " +
				"sees rows there), and the standby cancelled the run to replay it: raise the standby's " +
				"max_standby_streaming_delay for as long as a diff runs, or run when no such lock is taken"
		case strings.Contains(pe.Detail, "buffer pin"), strings.Contains(pe.Detail, "deadlock"):
			hint = "the standby cancelled the run to replay changes to pages it was reading: raise its " +
				"max_standby_streaming_delay for as long as a diff runs"
		default:
			hint = "the standby removed row versions this run's snapshot still needed: set hot_standby_feedback = on " +
				"on the standby, or raise its max_standby_streaming_delay, for as long as a diff runs"
		}
	case pe.Hint != "":
		// PostgreSQL's own: "out of shared memory" says which setting to raise only there.
		hint = "HINT: " + pe.Hint
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}
