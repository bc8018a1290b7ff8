package pipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestTimeoutMilliseconds: a timeout under a millisecond was sent as 0, which PostgreSQL takes for no
// limit: --lock-timeout 1us waited for locks without end.
func TestTimeoutMilliseconds(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0", time.Microsecond: "1", 1500 * time.Microsecond: "2", 5 * time.Second: "5000"} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %s, want %s", d, got, want)
		}
	}
}

// TestServerError reads the reason a server gave before it closed a connection, past the notices before it.
func TestServerError(t *testing.T) {
	notice, err := (&pgproto3.NoticeResponse{Severity: "WARNING", Code: "57P01", Message: "terminating"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	fatal, err := (&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "40001",
		Message: "terminating connection due to conflict with recovery"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	pe := serverError(append(notice, fatal...))
	if pe == nil || pe.Code != "40001" || pe.Message != "terminating connection due to conflict with recovery" {
		t.Errorf("serverError = %+v, want the FATAL after the notice", pe)
	}
	if pe := serverError(append(notice, fatal[:len(fatal)-3]...)); pe != nil {
		t.Errorf("serverError of a cut message = %+v, want nil", pe)
	}
	if pe := serverError(notice); pe != nil {
		t.Errorf("serverError of a notice = %+v, want nil", pe)
	}
	// What waits unread may start inside a message pgx began to read, and hold results before the FATAL.
	row, err := (&pgproto3.DataRow{Values: [][]byte{[]byte("E\x00\x00\x00")}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if pe := serverError(append(append(row[3:], row...), fatal...)); pe == nil || pe.Code != "40001" {
		t.Errorf("serverError after unread rows = %+v, want the FATAL", pe)
	}
	// A stream of rows cut where an 'E' in a row's length, followed by what reads as the length of the rest,
	// looks like an empty error: not one.
	tail := []byte{'E', 0, 0, 0, 9, 0, 0, 0, 0, 0}
	if pe := serverError(append(row, tail...)); pe != nil {
		t.Errorf("serverError of a cut row = %+v, want nil", pe)
	}
}

// TestTimeoutAt: pinned says which of its statements sets statement_timeout, which tells a cancel as a
// transaction starts under rowdiff's own timeout from one under the role's (startError).
func TestTimeoutAt(t *testing.T) {
	settings, at := pinned(Timeouts{Statement: time.Second})
	stmts := strings.Split(settings, "; ") // settings starts with "; ": stmts[i] is the i-th statement
	if at <= 0 || at >= len(stmts) || !strings.HasPrefix(stmts[at], "SET LOCAL statement_timeout = ") {
		t.Errorf("statement %d of %q, want SET LOCAL statement_timeout", at, settings)
	}
}
