package kafkasource

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
)

// requestCounter wraps a dial function so that every Kafka request written on
// the connections it makes is counted, by reading the protocol's size-prefixed
// framing of the outgoing bytes. Metadata refreshes made in the background by
// the transport count too, and each request is counted by its API key (the
// two bytes after the size). The count reads plain bytes: with TLS, wrap the
// dial function that makes the plain connection and do the TLS handshake
// inside it, not through the transport's TLS option.
type requestCounter struct {
	n atomic.Int64
	// byKey counts by API key; keys beyond the array (none today: the
	// highest is below 100) count in the last slot.
	byKey [maxCountedKey + 1]atomic.Int64
}

const maxCountedKey = 127

// Count returns the number of requests written so far.
func (rc *requestCounter) Count() int64 { return rc.n.Load() }

// ByKey returns the number of requests written so far per API key, for the
// keys sent at least once.
func (rc *requestCounter) ByKey() map[int16]int64 {
	out := map[int16]int64{}
	for k := range rc.byKey {
		if n := rc.byKey[k].Load(); n > 0 {
			out[int16(k)] = n
		}
	}
	return out
}

// Dial wraps dial.
func (rc *requestCounter) Dial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, rc: rc}, nil
	}
}

type countingConn struct {
	net.Conn
	rc *requestCounter
	// left is how many bytes of the current request remain; hdr collects a
	// size prefix and then the API key, either split across writes; inKey
	// is set while hdr collects the key.
	left  int64
	hdr   []byte
	inKey bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.scan(b[:n])
	return n, err
}

func (c *countingConn) scan(b []byte) {
	for len(b) > 0 {
		if c.left > 0 && !c.inKey {
			k := min(int64(len(b)), c.left)
			c.left -= k
			b = b[k:]
			continue
		}
		want := 4
		if c.inKey {
			want = 2
		}
		k := min(want-len(c.hdr), len(b))
		c.hdr = append(c.hdr, b[:k]...)
		b = b[k:]
		if len(c.hdr) < want {
			continue
		}
		if !c.inKey {
			c.left = int64(binary.BigEndian.Uint32(c.hdr))
			c.hdr = c.hdr[:0]
			c.rc.n.Add(1)
			// Every request starts with its API key; a body too short for
			// one (none the protocol has) counts under the last slot.
			if c.left < 2 {
				c.rc.byKey[maxCountedKey].Add(1)
				continue
			}
			c.inKey = true
			continue
		}
		key := int(binary.BigEndian.Uint16(c.hdr))
		c.hdr, c.inKey, c.left = c.hdr[:0], false, c.left-2
		c.rc.byKey[min(key, maxCountedKey)].Add(1)
	}
}
