package pipeline

import (
	"errors"
	"fmt"
	"slices"
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
	var sc startCancelled
	if errors.As(err, &sc) && sc.own {
		return fmt.Errorf("%w (cancelled as the transaction started, under rowdiff's own --statement-timeout, or by another "+
			"session's cancel request: raise --statement-timeout)", err)
	}
	if errors.As(err, &sc) {
		return fmt.Errorf("%w (cancelled as the transaction started, before rowdiff's --statement-timeout applies: a "+
			"statement_timeout set for the role or database that is shorter than a transaction's start, or another "+
			"session's cancel request; raise the role's, e.g. ALTER ROLE ... SET statement_timeout)", err)
	}
	if err == nil || !errors.As(err, &pe) {
		return err
	}
	// Chosen by SQLSTATE, and where one code has several causes by what does not depend on lc_messages:
	// a setting's name in the text, the routine that raised it. Matched on English messages, every hint
	// but these vanished for a role whose lc_messages is another language (found by a tester).
	var hint string
	switch {
	case pe.Code == "57014":
		// The cause is in the message alone ("statement timeout", "user request"), and not always there: a
		// timeout that fires as a statement ends is reported as a cancel request in the next.
		hint = "cancelled by --statement-timeout, or by another session's cancel request: raise --statement-timeout"
	case pe.Code == "53200" && strings.Contains(pe.Hint, "max_locks_per_transaction"):
		// The server's hint alone means a restart: a partitioned table of 2,500 partitions failed at
		// the defaults, and other sessions got the same error while the run held its locks (in a
		// helper's runs); one worker per node passed. The setting's name is not translated.
		hint = "HINT: " + pe.Hint + " Each of rowdiff's sessions locks every table, partition and index it reads until the run " +
			"ends, and the server's lock table is shared by every session: lower --concurrency for fewer such sessions"
	case pe.Code == "53400" && strings.Contains(pe.Message, "temp_file_limit"):
		// A compare of a table read by key hash, or by a text key, sorts its rows on the server; at a
		// temp_file_limit of 100kB it failed (in a helper's runs) with nothing said of what to change.
		hint = "the server's temp_file_limit is below what this query's sort needs: raise it for rowdiff's role " +
			"(ALTER ROLE ... SET temp_file_limit), or give the role more work_mem"
	case pe.Code == "22021" && strings.Contains(pe.Message, "UTF8"):
		// Where the nodes' encodings differ, text is compared as UTF-8, and a SQL_ASCII node's bytes need
		// not be (between SQL_ASCII nodes they are compared as they are). Quoted "UTF8" in English,
		// »UTF8« in German.
		hint = "a SQL_ASCII database holds text that is not UTF-8, which rowdiff compares as UTF-8 beside nodes of another " +
			"server encoding: convert the data, or leave the column out with --exclude-columns"
	case pe.Code == "55P03":
		// In a run of more than 64 tables a worker locks a table at its first read, behind any DDL that
		// waits for the run's own lock there: raising the timeout does not help then.
		hint = "another session holds a lock on the table, or DDL waits for this run's own lock on it and this run's " +
			"reads queue behind that DDL: run when the other session is done, or cancel the DDL"
	case pe.Code == "25P03":
		hint = "a session went without a statement for longer than --idle-timeout: rowdiff was stopped or stalled, or the timeout is too short"
	case pe.Code == "42501" && pe.Routine == rlsRoutine:
		// 42501 is every missing privilege's too. The owner bypasses the policies unless the table has
		// FORCE ROW LEVEL SECURITY.
		hint = "rowdiff reads with row_security off and a row-level security policy applies to this role: read as a role with " +
			"BYPASSRLS, or as the table's owner if the table does not FORCE ROW LEVEL SECURITY"
	case pe.Code == "40001":
		// rowdiff's transactions are REPEATABLE READ READ ONLY, which no other serialization failure
		// ends. The DETAIL says which conflict (the standby's fix for a lock is not that for removed
		// rows), in English here; in another language every fix is named.
		switch {
		case pe.Detail == lockConflict:
			hint = "the primary took a lock that this run's reads of the table conflict with (DDL, LOCK TABLE, or a " +
				"VACUUM cutting off the table's empty end, which hot_standby_feedback = on prevents while the run still " +
				"sees rows there), and the standby cancelled the run to replay it: raise the standby's " +
				"max_standby_streaming_delay for as long as a diff runs, or run when no such lock is taken"
		case slices.Contains(pageConflicts, pe.Detail):
			hint = "the standby cancelled the run to replay changes to pages it was reading: raise its " +
				"max_standby_streaming_delay for as long as a diff runs"
		case pe.Detail == snapshotConflict:
			hint = "the standby removed row versions this run's snapshot still needed: set hot_standby_feedback = on " +
				"on the standby, or raise its max_standby_streaming_delay, for as long as a diff runs"
		default:
			// The DETAIL, which pgx's error leaves out, is the only way to tell them apart (found by a re-test helper).
			hint = "DETAIL: " + pe.Detail + " The standby cancelled the run to replay the primary's changes (the DETAIL says which): where row versions " +
				"the run still needed were removed, set hot_standby_feedback = on on the standby; for a lock or pages the run " +
				"was reading, raise its max_standby_streaming_delay for as long as a diff runs"
		}
	case pe.Hint != "":
		// PostgreSQL's own: "out of shared memory" says which setting to raise only there.
		hint = "HINT: " + pe.Hint
	default:
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}

// rlsRoutine is the server routine that refuses a query a row-level security policy would filter under
// row_security = off (the error's R field, which is not translated; the same in PostgreSQL 9.5 to 17).
const rlsRoutine = "check_enable_rls"

// The DETAILs of a standby's recovery conflicts, as PostgreSQL 15 writes them in English.
const (
	lockConflict     = "User was holding a relation lock for too long."
	snapshotConflict = "User query might have needed to see row versions that must be removed."
)

var pageConflicts = []string{"User was holding shared buffer pin for too long.", "User transaction caused buffer deadlock with recovery."}
