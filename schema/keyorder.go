package schema

import (
	"cmp"
	"strconv"
	"strings"
)

// keyTypes are the key column types rowdiff can order in Go exactly as PostgreSQL orders them under
// COLLATE "C", given their text form in a session pinned to DateStyle=ISO and TimeZone=UTC.
var keyTypes = map[string]func(a, b string) int{
	"int2": compareInt, "int4": compareInt, "int8": compareInt,
	"numeric": CompareNumeric,
	"text":    strings.Compare, "varchar": strings.Compare, "name": strings.Compare,
	"bpchar": compareBpchar,
	"uuid":   strings.Compare, // canonical lower-case hex: text order is byte order
	"bytea":  strings.Compare, // \x hex: text order is memcmp order, shorter prefix first
	"bool":   strings.Compare, // f < t
	"date":   CompareDateTime, "timestamp": CompareDateTime, "timestamptz": CompareDateTime,
}

// KeyTypeSupported reports whether a key column of base type base can be ordered by rowdiff.
func KeyTypeSupported(base string) bool { return keyTypes[base] != nil }

// CompareKeys orders two keys of t the way the server's ORDER BY does. Safe for concurrent use.
func (t *Table) CompareKeys(a, b Key) int {
	t.cmpOnce.Do(func() {
		for _, k := range t.Key {
			t.cmp = append(t.cmp, keyTypes[t.Columns[k].Base])
		}
	})
	for i, cmp := range t.cmp {
		if c := cmp(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

func compareInt(a, b string) int {
	// Canonical integer text orders by sign, then length, then digits: no parsing needed.
	na, nb := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	switch {
	case na != nb:
		if na {
			return -1
		}
		return 1
	case na:
		return -compareDigits(a[1:], b[1:])
	}
	return compareDigits(a, b)
}

func compareDigits(a, b string) int {
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func compareBpchar(a, b string) int {
	return strings.Compare(strings.TrimRight(a, " "), strings.TrimRight(b, " "))
}

// CompareNumeric orders numeric text forms: -Infinity < finite values < Infinity < NaN, as PostgreSQL does.
func CompareNumeric(a, b string) int {
	ra, rb := numericRank(a), numericRank(b)
	if ra != rb || ra != 1 {
		return cmp.Compare(ra, rb)
	}
	negA, negB := strings.HasPrefix(a, "-"), strings.HasPrefix(b, "-")
	a, b = strings.TrimPrefix(a, "-"), strings.TrimPrefix(b, "-")
	za, zb := isZero(a), isZero(b)
	if za {
		negA = false
	}
	if zb {
		negB = false
	}
	if negA != negB {
		if negA {
			return -1
		}
		return 1
	}
	c := compareUnsignedDecimal(a, b)
	if negA {
		return -c
	}
	return c
}

func numericRank(s string) int {
	switch s {
	case "-Infinity":
		return 0
	case "Infinity":
		return 2
	case "NaN":
		return 3
	}
	return 1
}

func isZero(s string) bool { return strings.Trim(s, "0.") == "" }

func compareUnsignedDecimal(a, b string) int {
	ia, fa, _ := strings.Cut(a, ".")
	ib, fb, _ := strings.Cut(b, ".")
	ia, ib = strings.TrimLeft(ia, "0"), strings.TrimLeft(ib, "0")
	if c := cmp.Compare(len(ia), len(ib)); c != 0 {
		return c
	}
	if c := strings.Compare(ia, ib); c != 0 {
		return c
	}
	fa, fb = strings.TrimRight(fa, "0"), strings.TrimRight(fb, "0")
	return strings.Compare(fa, fb)
}

// CompareDateTime orders ISO date, timestamp and timestamptz (in UTC) text forms, including BC years,
// years past 9999 and ±infinity, which plain text order gets wrong.
func CompareDateTime(a, b string) int {
	ca, ya, ra := splitDateTime(a)
	cb, yb, rb := splitDateTime(b)
	if ca != cb {
		return cmp.Compare(ca, cb)
	}
	switch ca {
	case 1: // BC: a larger year is earlier
		if c := cmp.Compare(yb, ya); c != 0 {
			return c
		}
	case 2:
		if c := cmp.Compare(ya, yb); c != 0 {
			return c
		}
	default:
		return 0
	}
	return strings.Compare(ra, rb)
}

// splitDateTime returns the era class (0 -infinity, 1 BC, 2 AD, 3 infinity), the year and the rest.
func splitDateTime(s string) (int, int64, string) {
	switch s {
	case "-infinity":
		return 0, 0, ""
	case "infinity":
		return 3, 0, ""
	}
	class := 2
	if rest, ok := strings.CutSuffix(s, " BC"); ok {
		class, s = 1, rest
	}
	y, rest, _ := strings.Cut(s, "-")
	year, _ := strconv.ParseInt(y, 10, 64)
	return class, year, rest
}
