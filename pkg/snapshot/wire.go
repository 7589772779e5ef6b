package snapshot

import (
	"context"
	"encoding/binary"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
)

// kafka-go's Client splits a ListOffsets request into one request per
// partition, and a DescribeGroups request into one per group, each behind a
// FindCoordinator lookup; OffsetFetch also looks its coordinator up every
// time. That makes the number of requests grow with partitions. The types
// below carry the same wire format as kafka-go's own (the fields and tags are
// copied from its protocol packages) but are addressed to one broker and are
// never split, through the protocol package's override registry, so that one
// tick sends one ListOffsets request per partition leader and offset kind, one
// DescribeGroups per coordinator, and one OffsetFetch per group straight to its
// coordinator.

const overrideKey protocol.OverrideTypeKey = 17

func init() {
	protocol.RegisterOverride(&leaderListOffsets{}, &listoffsets.Response{}, overrideKey)
	protocol.RegisterOverride(&brokerDescribeGroups{}, &describegroups.Response{}, overrideKey)
	protocol.RegisterOverride(&brokerOffsetFetch{}, &offsetfetch.Response{}, overrideKey)
}

// leaderListOffsets is listoffsets.Request sent whole to one broker. Kafka
// refuses a partition twice in one request, so the earliest and latest
// offsets travel in two requests.
type leaderListOffsets struct {
	ReplicaID      int32                      `kafka:"min=v1,max=v5"`
	IsolationLevel int8                       `kafka:"min=v2,max=v5"`
	Topics         []listoffsets.RequestTopic `kafka:"min=v1,max=v5"`

	broker int32 `kafka:"-"`
}

func (r *leaderListOffsets) ApiKey() protocol.ApiKey           { return protocol.ListOffsets }
func (r *leaderListOffsets) TypeKey() protocol.OverrideTypeKey { return overrideKey }
func (r *leaderListOffsets) Broker(c protocol.Cluster) (protocol.Broker, error) {
	return brokerOf(c, r.broker)
}

// brokerDescribeGroups is describegroups.Request for every group one
// coordinator owns.
type brokerDescribeGroups struct {
	_                           struct{} `kafka:"min=v5,max=v5,tag"`
	Groups                      []string `kafka:"min=v0,max=v4|min=v5,max=v5,compact"`
	IncludeAuthorizedOperations bool     `kafka:"min=v3,max=v5"`

	broker int32 `kafka:"-"`
}

func (r *brokerDescribeGroups) ApiKey() protocol.ApiKey           { return protocol.DescribeGroups }
func (r *brokerDescribeGroups) TypeKey() protocol.OverrideTypeKey { return overrideKey }
func (r *brokerDescribeGroups) Broker(c protocol.Cluster) (protocol.Broker, error) {
	return brokerOf(c, r.broker)
}

// brokerOffsetFetch is offsetfetch.Request sent to a known coordinator
// without a FindCoordinator round trip.
type brokerOffsetFetch struct {
	GroupID string                     `kafka:"min=v0,max=v5"`
	Topics  []offsetfetch.RequestTopic `kafka:"min=v0,max=v5,nullable"`

	broker int32 `kafka:"-"`
}

func (r *brokerOffsetFetch) ApiKey() protocol.ApiKey           { return protocol.OffsetFetch }
func (r *brokerOffsetFetch) TypeKey() protocol.OverrideTypeKey { return overrideKey }
func (r *brokerOffsetFetch) Broker(c protocol.Cluster) (protocol.Broker, error) {
	return brokerOf(c, r.broker)
}

func brokerOf(c protocol.Cluster, id int32) (protocol.Broker, error) {
	b, ok := c.Brokers[id]
	if !ok {
		return protocol.Broker{}, &unknownBrokerError{id: id}
	}
	return b, nil
}

type unknownBrokerError struct{ id int32 }

func (e *unknownBrokerError) Error() string {
	return "broker " + strconv.Itoa(int(e.id)) + " is not in the cluster metadata"
}

// RequestCounter wraps a dial function so that every Kafka request written on
// the connections it makes is counted, by reading the protocol's size-prefixed
// framing of the outgoing bytes. Metadata refreshes made in the background by
// the transport count too. The count reads plain bytes: with TLS, wrap the
// dial function that makes the plain connection and do the TLS handshake
// inside it, not through the transport's TLS option.
type RequestCounter struct {
	n atomic.Int64
}

// Count returns the number of requests written so far.
func (rc *RequestCounter) Count() int64 { return rc.n.Load() }

// Dial wraps dial.
func (rc *RequestCounter) Dial(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
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
	rc *RequestCounter
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
