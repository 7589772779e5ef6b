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
// the transport count too. The count reads plain bytes: with TLS, wrap the
// dial function that makes the plain connection and do the TLS handshake
// inside it, not through the transport's TLS option.
type requestCounter struct {
	n atomic.Int64
}

// Count returns the number of requests written so far.
func (rc *requestCounter) Count() int64 { return rc.n.Load() }

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
	// size prefix split across writes.
	left int64
	hdr  []byte
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.scan(b[:n])
	return n, err
}

func (c *countingConn) scan(b []byte) {
	for len(b) > 0 {
		if c.left > 0 {
			k := min(int64(len(b)), c.left)
			c.left -= k
			b = b[k:]
			continue
		}
		need := 4 - len(c.hdr)
		k := min(need, len(b))
		c.hdr = append(c.hdr, b[:k]...)
		b = b[k:]
		if len(c.hdr) == 4 {
			c.left = int64(binary.BigEndian.Uint32(c.hdr))
			c.hdr = c.hdr[:0]
			c.rc.n.Add(1)
		}
	}
}
