package pipeline

import (
	"errors"
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
		// Unquoted with a space, or in double quotes: pgx's cause quotes the word after the space.
		{"host=h port=5432 password=S3cr3tA tailB dbname=d", "tailB"},
		{`host=h port=5432 password="c l@r" dbname=d`, `l@r`},
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

// TestConnectErrorRepeats: the two attempts of sslmode=prefer to a refused port said the same line twice;
// one is enough. Different lines stay, and a TLS refusal goes where another line says why.
func TestConnectErrorRepeats(t *testing.T) {
	refused := "\t127.0.0.1:2 (127.0.0.1): dial error: dial tcp 127.0.0.1:2: connect: connection refused"
	for in, want := range map[string]string{
		"failed to connect to `user=postgres database=`:\n" + refused + "\n" + refused:                                      "failed to connect to `user=postgres database=`:\n" + refused,
		"failed:\n\t127.0.0.1:5 (127.0.0.1): " + tlsRefused + "\n\t127.0.0.1:5 (127.0.0.1): password authentication failed": "failed:\n\t127.0.0.1:5 (127.0.0.1): password authentication failed",
		"failed:\n\ta (a): one\n\tb (b): two": "failed:\n\ta (a): one\n\tb (b): two",
	} {
		if got := withoutTLSRefusal(errors.New(in)).Error(); got != want {
			t.Errorf("%q\ngave %q\nwant %q", in, got, want)
		}
	}
}

// TestConnectErrorMasksPasswords: an @ in a URL's password ends the user information there, for pgx as
// for libpq, and the rest of the password went into the host name that the connect error quoted.
func TestConnectErrorMasksPasswords(t *testing.T) {
	dsn := "postgres://ro:S3cr3tA@tailB@127.0.0.1:5432/shop"
	if msg := masked(errors.New("hostname resolving error: lookup tailB@127.0.0.1: no such host"), dsn).Error(); strings.Contains(msg, "tailB") {
		t.Errorf("%q shows part of the password", msg)
	}
}
