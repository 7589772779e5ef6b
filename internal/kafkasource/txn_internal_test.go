package kafkasource

import (
	"encoding/binary"
	"testing"
)

// rawBatch builds a magic-2 record batch header of n offsets from base,
// with the given attributes and producer. A control batch gets one record
// whose key says ctrl (0 abort, 1 commit); other batches get filler bytes,
// since only headers are read.
func rawBatch(base int64, n int, attrs uint16, producer int64, ctrl int) []byte {
	b := make([]byte, batchHeaderLen)
	binary.BigEndian.PutUint64(b, uint64(base))
	b[batchMagicOffset] = 2
	binary.BigEndian.PutUint16(b[batchAttrOffset:], attrs)
	binary.BigEndian.PutUint32(b[batchLastDeltaOff:], uint32(n-1))
	binary.BigEndian.PutUint64(b[batchProducerIDOff:], uint64(producer))
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	if attrs&attrControl != 0 {
		var rec []byte
		rec = append(rec, 0)                   // attributes
		rec = binary.AppendVarint(rec, 0)      // timestamp delta
		rec = binary.AppendVarint(rec, 0)      // offset delta
		rec = binary.AppendVarint(rec, 4)      // key length
		rec = append(rec, 0, 0, 0, byte(ctrl)) // version 0, type
		rec = binary.AppendVarint(rec, 6)      // value length
		rec = append(rec, 0, 0, 0, 0, 0, 0)
		rec = binary.AppendVarint(rec, 0) // headers
		b = binary.AppendVarint(b, int64(len(rec)))
		b = append(b, rec...)
	} else {
		b = append(b, make([]byte, 10*n)...)
	}
	binary.BigEndian.PutUint32(b[batchLengthOffset:], uint32(len(b)-12))
	return b
}

func concat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

const (
	txn    = attrTransactional
	marker = attrTransactional | attrControl
	abort  = 0
	commit = 1
)

func TestSkippedOffsets(t *testing.T) {
	cases := []struct {
		name     string
		b        []byte
		aborted  []abortedTxn
		from, to int64
		want     int64
	}{
		{"a committed transaction's marker after the committed offset",
			concat(rawBatch(0, 20, txn, 7, 0), rawBatch(20, 1, marker, 7, commit)), nil, 20, 21, 1},
		{"records before the marker are readable, the marker is not",
			concat(rawBatch(0, 20, txn, 7, 0), rawBatch(20, 1, marker, 7, commit)), nil, 15, 21, 1},
		{"an aborted transaction and its marker, then a committed one: only the committed records count",
			concat(rawBatch(21, 5, txn, 9, 0), rawBatch(26, 1, marker, 9, abort), rawBatch(27, 3, txn, 9, 0), rawBatch(30, 1, marker, 9, commit)),
			[]abortedTxn{{producerID: 9, firstOffset: 21}}, 21, 31, 7},
		{"the same records without an aborted-transaction entry are readable",
			concat(rawBatch(21, 5, txn, 9, 0), rawBatch(26, 1, marker, 9, abort)), nil, 21, 27, 1},
		{"another producer's records interleaved in an aborted transaction are readable",
			concat(rawBatch(0, 3, txn, 1, 0), rawBatch(3, 2, 0, 2, 0), rawBatch(5, 1, marker, 1, abort)),
			[]abortedTxn{{producerID: 1, firstOffset: 0}}, 0, 6, 4},
		{"no transactions: nothing skipped", rawBatch(0, 50, 0, -1, 0), nil, 10, 50, 0},
		{"a batch straddling the committed offset counts only from it",
			concat(rawBatch(0, 10, marker, 3, commit)), nil, 4, 10, 6},
		{"an answer cut short: the rest counts as readable",
			concat(rawBatch(0, 5, txn, 7, 0), rawBatch(5, 1, marker, 7, commit))[:100], nil, 0, 6, 0},
		{"nothing answered: nothing skipped", nil, nil, 0, 6, 0},
		{"an old message format stops the count", func() []byte { b := rawBatch(0, 1, marker, 7, commit); b[batchMagicOffset] = 1; return b }(), nil, 0, 1, 0},
		{"batches past the range are not counted",
			concat(rawBatch(0, 1, marker, 7, commit), rawBatch(1, 1, marker, 7, commit)), nil, 0, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := skippedOffsets(tc.b, tc.aborted, tc.from, tc.to); got != tc.want {
				t.Errorf("skippedOffsets = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestControlType(t *testing.T) {
	for _, want := range []int{abort, commit} {
		b := rawBatch(0, 1, marker, 1, want)
		if got := controlType(b[batchHeaderLen:]); got != want {
			t.Errorf("controlType = %d, want %d", got, want)
		}
	}
	if got := controlType([]byte{0x80}); got != -1 {
		t.Errorf("controlType of a cut record = %d, want -1", got)
	}
}
