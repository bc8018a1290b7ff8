package pipeline

import (
	"encoding/binary"
	"fmt"

	"github.com/cespare/xxhash/v2"

	"github.com/rowdiff/rowdiff/schema"
)

// keyDigest fingerprints the set of differences a run found: the XOR of an xxhash64 per difference over
// a length-prefixed encoding of its table, kind and key values. It does not depend on the order in which
// the workers found them, so two runs (a diff and its recheck, or a JSON Lines and a Parquet export) can
// be checked for the same result by comparing one number.
type keyDigest struct {
	sum uint64
	buf []byte
}

func (k *keyDigest) add(d schema.Diff) {
	b := k.buf[:0]
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field(d.Table.String())
	field(d.Kind)
	for _, v := range d.Key {
		field(v)
	}
	k.buf = b
	k.sum ^= xxhash.Sum64(b)
}

func (k *keyDigest) String() string { return fmt.Sprintf("%016x", k.sum) }
