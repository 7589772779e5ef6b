package kafkasource

import (
	"encoding/binary"
	"maps"
	"testing"
)

func TestCountingConnFraming(t *testing.T) {
	// frame is a request of API key key and n bytes after the key.
	frame := func(key uint16, n int) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(n+2))
		b = binary.BigEndian.AppendUint16(b, key)
		return append(b, make([]byte, n)...)
	}
	stream := append(append(append(frame(9, 10), frame(18, 0)...), frame(9, 300)...), frame(300, 1)...)
	cases := []struct {
		name  string
		chunk int
	}{
		{"whole stream in one write", len(stream)},
		{"byte by byte: size prefixes split across writes", 1},
		{"odd chunks", 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &requestCounter{}
			c := &countingConn{rc: rc}
			for i := 0; i < len(stream); i += tc.chunk {
				c.scan(stream[i:min(i+tc.chunk, len(stream))])
			}
			if got := rc.Count(); got != 4 {
				t.Errorf("counted %d requests, want 4", got)
			}
			want := map[int16]int64{9: 2, 18: 1, maxCountedKey: 1}
			if got := rc.ByKey(); !maps.Equal(got, want) {
				t.Errorf("by key %v, want %v", got, want)
			}
		})
	}
}
