package pipeline

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestParseErrorMasksPasswords: a DSN pgx cannot parse is reported by its cause, with no password of the
// DSN in it, however the password is written.
func TestParseErrorMasksPasswords(t *testing.T) {
	for _, tc := range []struct{ dsn, secret string }{
		{"host=h port=notaport password=s3cret-kw", "s3cret-kw"},
		{`host=h port=notaport password='s3 cr\'et'`, `s3 cr'et`},
		{"postgres://u:s3cret@url@h:notaport/db", "s3cret@url"},
		{"postgres://u:s3cret%40enc@h:notaport/db", "s3cret@enc"},
		{"postgres://u:s3cret%zz@h/db", "s3cret%zz"},
	} {
		_, err := pgx.ParseConfig(tc.dsn)
		if err == nil {
			t.Fatalf("%s: pgx parsed it; the case needs a DSN it refuses", tc.dsn)
		}
		msg := parseError(err, tc.dsn)
		if strings.Contains(msg, tc.secret) || strings.Contains(msg, "cannot parse") || msg == "" {
			t.Errorf("%s: %q, want the cause without the DSN or its password", tc.dsn, msg)
		}
		// pgx's causes for these hold no password; one that quoted a value would be masked.
		if msg := parseError(fmt.Errorf("bad value %q", tc.secret), tc.dsn); strings.Contains(msg, tc.secret) {
			t.Errorf("%s: a cause quoting the password: %q", tc.dsn, msg)
		}
	}
}
