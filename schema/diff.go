package schema

// Value is one column value in its PostgreSQL text form; Null marks SQL NULL.
type Value struct {
	S    string
	Null bool
}

// Row is one node's version of a row: a value per column of Table.Columns.
type Row []Value

// Kind of a difference: Missing when the key is absent on at least one node, else Changed.
const (
	Changed = "changed"
	Missing = "missing"
)

// Diff is one differing key: every node's version of the row, nil where the key is absent.
type Diff struct {
	Table *Table
	Key   Key
	Kind  string
	Rows  []Row
}
