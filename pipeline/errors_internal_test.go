package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestRecoveryConflictHints: a standby cancels a query for several conflicts under one SQLSTATE, and the
// DETAIL tells them apart. A lock conflict was answered with hot_standby_feedback alone, which does nothing
// for a lock taken by DDL or LOCK TABLE; the details are PostgreSQL 15's.
func TestRecoveryConflictHints(t *testing.T) {
	for _, tc := range []struct{ detail, want, not string }{
		{"User was holding a relation lock for too long.", "max_standby_streaming_delay", ""},
		{"User was holding a relation lock for too long.", "LOCK TABLE", ""},
		{"User query might have needed to see row versions that must be removed.", "hot_standby_feedback = on", "LOCK TABLE"},
		{"User was holding shared buffer pin for too long.", "max_standby_streaming_delay", "hot_standby_feedback"},
		{"User transaction caused buffer deadlock with recovery.", "max_standby_streaming_delay", "hot_standby_feedback"},
	} {
		err := hinted(&pgconn.PgError{Code: "40001", Message: "canceling statement due to conflict with recovery", Detail: tc.detail})
		if msg := err.Error(); !strings.Contains(msg, tc.want) || tc.not != "" && strings.Contains(msg, tc.not) {
			t.Errorf("%s: %q, want %q in it and not %q", tc.detail, msg, tc.want, tc.not)
		}
	}
}

// TestServerHintKept: an error rowdiff has no hint of its own for keeps PostgreSQL's: "out of shared
// memory" names the setting to raise only in its HINT, which was dropped.
func TestServerHintKept(t *testing.T) {
	err := hinted(&pgconn.PgError{Code: "53200", Message: "out of shared memory", Hint: "You might need to increase max_locks_per_transaction."})
	if !strings.Contains(err.Error(), "max_locks_per_transaction") {
		t.Errorf("%q, want PostgreSQL's hint in it", err)
	}
	// Beside it, what rowdiff can do without a restart (found by an exploratory helper).
	if !strings.Contains(err.Error(), "lower --concurrency") {
		t.Errorf("%q, want --concurrency named", err)
	}
}

// TestStartCancelledHint: a role's statement_timeout of 1 ms cancelled a worker's snapshot import, which
// runs before rowdiff's own settings hold, and the hint said to raise --statement-timeout, which could not
// help; "canceling statement due to user request", the other wording of the same cancel, had no hint.
func TestStartCancelledHint(t *testing.T) {
	for _, msg := range []string{"canceling statement due to statement timeout", "canceling statement due to user request"} {
		err := hinted(fmt.Errorf("node b: import snapshot: %w", startCancelled{&pgconn.PgError{Code: "57014", Message: msg}, false}))
		if got := err.Error(); !strings.Contains(got, "ALTER ROLE") || strings.Contains(got, "raise --statement-timeout") {
			t.Errorf("%s: %q, want the role's statement_timeout named, not --statement-timeout", msg, got)
		}
	}
	// After rowdiff's own SET LOCAL statement_timeout, it is the one in force (found by a tester).
	err := hinted(fmt.Errorf("node b: import snapshot: %w", startCancelled{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, true}))
	if got := err.Error(); !strings.Contains(got, "own --statement-timeout") || strings.Contains(got, "ALTER ROLE") {
		t.Errorf("cancelled under rowdiff's own timeout: %q, want --statement-timeout named, not the role's", got)
	}
	err = hinted(fmt.Errorf("node b: hash range: %w", &pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}))
	if got := err.Error(); !strings.Contains(got, "raise --statement-timeout") {
		t.Errorf("a query's timeout: %q, want --statement-timeout named", got)
	}
}

// TestTempFileLimitHint: a compare's sort past the server's temp_file_limit failed with no word of what
// to change (found by an exploratory helper).
func TestTempFileLimitHint(t *testing.T) {
	err := hinted(&pgconn.PgError{Code: "53400", Message: "temporary file size exceeds temp_file_limit (100kB)"})
	if !strings.Contains(err.Error(), "ALTER ROLE ... SET temp_file_limit") {
		t.Errorf("%q, want the setting to raise named", err)
	}
}

// TestHintsInAnotherLanguage: the hints were chosen by the English text of PostgreSQL's messages, and a
// role whose lc_messages is German got none (found by a tester). These are PostgreSQL 15's German texts,
// with the routine the server names for each (the R field, not translated).
func TestHintsInAnotherLanguage(t *testing.T) {
	for _, tc := range []struct {
		name string
		pe   *pgconn.PgError
		want []string
	}{
		{"statement timeout", &pgconn.PgError{Code: "57014", Message: "storniere Anfrage wegen Zeitüberschreitung der Anfrage",
			Routine: "ProcessInterrupts"}, []string{"raise --statement-timeout"}},
		// A timeout that fires as one statement ends is reported in the next as a cancel request.
		{"cancel request", &pgconn.PgError{Code: "57014", Message: "storniere Anfrage wegen Benutzeraufforderung",
			Routine: "ProcessInterrupts"}, []string{"raise --statement-timeout", "cancel request"}},
		{"row-level security", &pgconn.PgError{Code: "42501", Routine: "check_enable_rls",
			Message: "Policy für Sicherheit auf Zeilenebene für Tabelle »t« würde Auswirkung auf die Anfrage haben"},
			[]string{"row-level security", "BYPASSRLS"}},
		{"temp_file_limit", &pgconn.PgError{Code: "53400", Message: "Größe der temporären Datei überschreitet temp_file_limit (100kB)"},
			[]string{"ALTER ROLE ... SET temp_file_limit"}},
		{"not UTF-8", &pgconn.PgError{Code: "22021", Message: "ungültige Byte-Sequenz für Kodierung »UTF8«: 0xff"},
			[]string{"SQL_ASCII"}},
		// Which conflict is said in the DETAIL alone: in another language every fix is named.
		{"recovery conflict", &pgconn.PgError{Code: "40001", Message: "storniere Anfrage wegen Konflikt mit der Wiederherstellung",
			Detail: "Benutzer hat Relationssperre zu lange gehalten."}, []string{"max_standby_streaming_delay", "hot_standby_feedback = on",
			"DETAIL: Benutzer hat Relationssperre zu lange gehalten."}},
	} {
		msg := hinted(tc.pe).Error()
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q, want %q in it", tc.name, msg, w)
			}
		}
	}
	// A missing privilege shares row-level security's SQLSTATE, not its routine or its hint.
	denied := &pgconn.PgError{Code: "42501", Message: "keine Berechtigung für Tabelle t", Routine: "aclcheck_error"}
	if msg := hinted(denied).Error(); strings.Contains(msg, "BYPASSRLS") {
		t.Errorf("permission denied: %q, want no row-level security hint", msg)
	}
}
