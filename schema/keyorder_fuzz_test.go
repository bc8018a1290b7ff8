package schema

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/rowdiff/rowdiff/internal/pgcluster"
)

// The key order rowdiff uses to merge streams must be exactly the order PostgreSQL's ORDER BY gives under
// COLLATE "C". FuzzKeyOrder asks a real server for the text forms and the order of two values of each key
// type and checks CompareKeys agrees.

var server struct {
	once    sync.Once
	cluster *pgcluster.Cluster
	conn    *pgx.Conn
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.cluster != nil {
		server.conn.Close(context.Background())
		server.cluster.Stop(context.Background())
	}
	os.Exit(code)
}

func pgConn(t testing.TB) *pgx.Conn {
	server.once.Do(func() {
		ctx := context.Background()
		c, err := pgcluster.Start(ctx, pgcluster.Options{Name: "keyorder", TimeZone: "America/Denver"})
		if err != nil {
			server.err = err
			return
		}
		server.cluster = c
		cfg, _ := pgx.ParseConfig(c.DSN(""))
		// The session settings rowdiff pins; the server's own TimeZone is deliberately different.
		for k, v := range map[string]string{"TimeZone": "UTC", "DateStyle": "ISO, YMD", "extra_float_digits": "3", "bytea_output": "hex"} {
			cfg.RuntimeParams[k] = v
		}
		server.conn, server.err = pgx.ConnectConfig(ctx, cfg)
	})
	if server.err != nil {
		t.Fatalf("start PostgreSQL for key order checks: %v", server.err)
	}
	return server.conn
}

// keyValue turns fuzz bytes into an SQL expression of type typ (over parameter $n) and its argument.
func keyValue(typ string, b []byte, n int) (string, any) {
	i64 := func() int64 {
		var buf [8]byte
		copy(buf[:], b)
		return int64(binary.LittleEndian.Uint64(buf[:]))
	}
	p := fmt.Sprintf("$%d", n)
	switch typ {
	case "int2":
		return p + "::int2", int64(int16(i64()))
	case "int4":
		return p + "::int4", int64(int32(i64()))
	case "int8":
		return p + "::int8", i64()
	case "numeric":
		s := numericText(b)
		return p + "::numeric", s
	case "text":
		s := strings.ToValidUTF8(strings.ReplaceAll(string(b), "\x00", ""), "?")
		return p + `::text COLLATE "C"`, s
	case "bpchar":
		s := strings.ToValidUTF8(strings.ReplaceAll(string(b), "\x00", ""), "?")
		return p + `::char(12) COLLATE "C"`, s
	case "bytea":
		return p + "::bytea", append([]byte{}, b...) // never nil: nil is NULL
	case "uuid":
		var u [16]byte
		copy(u[:], b)
		return "encode(" + p + "::bytea, 'hex')::uuid", u[:]
	case "bool":
		return p + "::bool", len(b) > 0 && b[0]&1 == 1
	case "date":
		v := i64() % 2000000
		if len(b) > 8 && b[8] == 0xff {
			return "(CASE WHEN " + p + "::int8 > 0 THEN 'infinity' ELSE '-infinity' END)::date", v
		}
		return "('2000-01-01'::date + " + p + "::int4)", v
	case "timestamp", "timestamptz":
		v := i64() % (200000 * 365 * 86400 * 1000000 / 100) // about ±2000 years in microseconds
		if len(b) > 8 && b[8] == 0xff {
			return "(CASE WHEN " + p + "::int8 > 0 THEN 'infinity' ELSE '-infinity' END)::" + typ, v
		}
		return "('2000-01-01 00:00:00+00'::" + typ + " + " + p + "::int8 * interval '1 microsecond')", v
	}
	panic(typ)
}

// numericText makes a decimal (or special value) from bytes: sign, up to 20 digits, a scale.
func numericText(b []byte) string {
	if len(b) == 0 {
		return "0"
	}
	switch b[0] % 16 {
	case 0:
		return "NaN"
	case 1:
		return "Infinity"
	case 2:
		return "-Infinity"
	}
	var sb strings.Builder
	if b[0]&0x10 != 0 {
		sb.WriteByte('-')
	}
	digits := b[1:]
	if len(digits) > 20 {
		digits = digits[:20]
	}
	scale := 0
	if len(digits) > 0 {
		scale = int(b[0]>>5) % (len(digits) + 1)
	}
	if len(digits) == 0 {
		sb.WriteByte('0')
	}
	for i, d := range digits {
		if i == len(digits)-scale && i > 0 {
			sb.WriteByte('.')
		} else if i == 0 && scale == len(digits) {
			sb.WriteString("0.")
		}
		sb.WriteByte('0' + d%10)
	}
	return sb.String()
}

var fuzzTypes = []string{"int2", "int4", "int8", "numeric", "text", "bpchar", "bytea", "uuid", "bool", "date", "timestamp", "timestamptz"}

func FuzzKeyOrder(f *testing.F) {
	seeds := [][]byte{nil, {0}, {1}, {2}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, {0, 0, 0, 0, 0, 0, 0, 0x80},
		[]byte("a"), []byte("B"), []byte("é"), []byte("a b "), {0x33, 1, 2, 3, 4}, {0x13, 9, 9}, {0, 0, 0, 0, 0, 0, 0, 0, 0xff}, {1, 0, 0, 0, 0, 0, 0, 0, 0xff}}
	for t := range fuzzTypes {
		for _, a := range seeds {
			for _, b := range seeds[:4] {
				f.Add(uint8(t), a, b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ti uint8, a, b []byte) {
		typ := fuzzTypes[int(ti)%len(fuzzTypes)]
		conn := pgConn(t)
		ea, va := keyValue(typ, a, 1)
		eb, vb := keyValue(typ, b, 2)
		var ta, tb string
		var want int
		sql := fmt.Sprintf("SELECT (%s)::text, (%s)::text, CASE WHEN %s < %s THEN -1 WHEN %s = %s THEN 0 ELSE 1 END",
			ea, eb, ea, eb, ea, eb)
		if typ == "bpchar" {
			// char(n)'s text cast drops the padding; its output function, which rowdiff reads, keeps it.
			sql = fmt.Sprintf("SELECT rpad(%s, 12), rpad(%s, 12), CASE WHEN %s < %s THEN -1 WHEN %s = %s THEN 0 ELSE 1 END",
				ea, eb, ea, eb, ea, eb)
		}
		if err := conn.QueryRow(context.Background(), sql, va, vb).Scan(&ta, &tb, &want); err != nil {
			if strings.Contains(err.Error(), "out of range") || strings.Contains(err.Error(), "value too long") {
				return // not a representable key
			}
			t.Fatalf("%s: %v", typ, err)
		}
		tbl := &Table{Columns: []Column{{Name: "k", Base: typ}}, Key: []int{0}}
		if got := tbl.CompareKeys(Key{ta}, Key{tb}); got != want {
			t.Fatalf("%s: CompareKeys(%q, %q) = %d, PostgreSQL says %d", typ, ta, tb, got, want)
		}
	})
}
