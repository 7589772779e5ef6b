package kafkasource

import (
	"encoding/binary"
	"testing"
)

func TestCountingConnFraming(t *testing.T) {
	frame := func(n int) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(n)), make([]byte, n)...) }
	stream := append(append(frame(10), frame(0)...), frame(300)...)
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
			if got := rc.Count(); got != 3 {
				t.Errorf("counted %d requests, want 3", got)
			}
		})
	}
}
