package kafkasource

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/describegroups"
	"github.com/segmentio/kafka-go/protocol/listgroups"
	"github.com/segmentio/kafka-go/protocol/listoffsets"
	"github.com/segmentio/kafka-go/protocol/offsetfetch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafka-go's Client splits a ListOffsets request into one request per
// partition, and a DescribeGroups request into one per group, each behind a
// FindCoordinator lookup; OffsetFetch also looks its coordinator up every
// time. That makes the number of requests grow with partitions. Its
// ListGroups goes to every broker but merges the answers, returning the
// first error and dropping each broker's error code. The types below carry
// the same wire format as kafka-go's own (the fields and tags are copied
// from its protocol packages) but are addressed to one broker and are never
// split nor merged, through the protocol package's override registry, so
// that one tick sends one ListOffsets request per partition leader and
// offset kind, one DescribeGroups per coordinator, and one ListGroups per
// broker whose answer is its own. ConsumerGroupDescribe, which kafka-go
// does not know, travels as a rawRequest, one per coordinator that has
// consumer-protocol groups, and so do OffsetFetch v8 for many groups (see
// offsets.go), FindCoordinator and Metadata read past the transport's
// cache (see tick.go); kafka-go's OffsetFetch (up to v5), one group per request
// straight to its coordinator, is for brokers before Kafka 3.0.

const overrideKey protocol.OverrideTypeKey = 17

func init() {
	protocol.RegisterOverride(&leaderListOffsets{}, &listoffsets.Response{}, overrideKey)
	protocol.RegisterOverride(&brokerDescribeGroups{}, &describegroups.Response{}, overrideKey)
	protocol.RegisterOverride(&brokerOffsetFetch{}, &offsetfetch.Response{}, overrideKey)
	protocol.RegisterOverride(&brokerListGroups{}, &listgroups.Response{}, overrideKey)
}

// toBroker addresses a request to one broker, never split nor routed by
// kafka-go. Embedded in a request type it is no field on the wire: kafka-go
// encodes exported fields only.
type toBroker struct{ broker int32 }

func (toBroker) TypeKey() protocol.OverrideTypeKey { return overrideKey }
func (b toBroker) Broker(c protocol.Cluster) (protocol.Broker, error) {
	return brokerOf(c, b.broker)
}
func (b toBroker) target() int32 { return b.broker }

// leaderListOffsets is listoffsets.Request sent whole to one broker. Kafka
// refuses a partition twice in one request, and the isolation level is the
// request's, so the earliest offsets, the latest (the high watermark) and
// the latest under READ_COMMITTED (the last stable offset) travel in three
// requests.
type leaderListOffsets struct {
	ReplicaID      int32                      `kafka:"min=v1,max=v5"`
	IsolationLevel int8                       `kafka:"min=v2,max=v5"`
	Topics         []listoffsets.RequestTopic `kafka:"min=v1,max=v5"`
	toBroker
}

func (r *leaderListOffsets) ApiKey() protocol.ApiKey { return protocol.ListOffsets }

// brokerDescribeGroups is describegroups.Request for every group one
// coordinator owns.
type brokerDescribeGroups struct {
	_                           struct{} `kafka:"min=v5,max=v5,tag"`
	Groups                      []string `kafka:"min=v0,max=v4|min=v5,max=v5,compact"`
	IncludeAuthorizedOperations bool     `kafka:"min=v3,max=v5"`
	toBroker
}

func (r *brokerDescribeGroups) ApiKey() protocol.ApiKey { return protocol.DescribeGroups }

// brokerOffsetFetch is offsetfetch.Request sent to a known coordinator
// without a FindCoordinator round trip.
type brokerOffsetFetch struct {
	GroupID string                     `kafka:"min=v0,max=v5"`
	Topics  []offsetfetch.RequestTopic `kafka:"min=v0,max=v5,nullable"`
	toBroker
}

func (r *brokerOffsetFetch) ApiKey() protocol.ApiKey { return protocol.OffsetFetch }

// brokerListGroups is listgroups.Request to one broker: the groups it
// coordinates, with its own error code.
type brokerListGroups struct {
	_ struct{} `kafka:"min=v0,max=v2"`
	toBroker
}

func (r *brokerListGroups) ApiKey() protocol.ApiKey { return protocol.ListGroups }

// kafka-go's protocol registry is a fixed array of the API keys it knows
// (0 to 51), so newer requests such as ConsumerGroupDescribe (key 69,
// KIP-848) cannot be registered with it. kafka-go hands a message that is a
// protocol.RawExchanger the connection itself, already through TLS and SASL
// and with the broker's API versions known, and routes a
// protocol.BrokerMessage to the broker it names. rawRequest is both: it
// writes one kmsg request with its own header and reads the answer, on the
// transport's connection to one broker, so it is counted, timed out and
// authenticated like every other request.

// rawRequest sends Req, at the version Req carries, to one broker. kafka-go
// tells a message only which API keys the broker announced, not the versions
// of keys it does not know itself (it records 0 for them), so the caller
// picks a version every broker that announces the key accepts.
type rawRequest struct {
	Req      kmsg.Request
	ClientID string
	broker   int32
	// supported is set by Required, on the connection's goroutine, just
	// before RawExchange.
	supported bool
}

// consumerGroupDescribe is ConsumerGroupDescribe v0 for groups, to their
// coordinator. v0 is what every broker that announces the request accepts
// (Kafka 4.1 takes v0 and v1; v1 only adds each member's type, classic or
// consumer, in a group being migrated between the protocols: KIP-1099).
func consumerGroupDescribe(coordinator int32, groups []string, clientID string) *rawRequest {
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Version = 0
	req.Groups = groups
	return &rawRequest{Req: req, ClientID: clientID, broker: coordinator}
}

// rawResponse is the answer to a rawRequest: Res decoded, or Unsupported
// when the broker does not announce the request's API key (nothing was
// sent).
type rawResponse struct {
	Res         kmsg.Response
	Unsupported bool
	key         protocol.ApiKey
}

// maxRawResponse bounds the size a broker may announce for one answer, so
// that a stream out of step cannot make us allocate gigabytes. A describe of
// ten thousand groups of ten members each is about 20 MiB.
const maxRawResponse = 128 << 20

// correlation numbers raw requests. Every connection carries one request at
// a time, so the number only has to match the answer read right after.
var correlation atomic.Int32

func (r *rawRequest) ApiKey() protocol.ApiKey { return protocol.ApiKey(r.Req.Key()) }

func (r *rawRequest) Broker(c protocol.Cluster) (protocol.Broker, error) {
	return brokerOf(c, r.broker)
}

func (r *rawRequest) target() int32 { return r.broker }

// Required records whether the broker announced the request's API key and
// always takes the exchange over: kafka-go could not encode the message.
func (r *rawRequest) Required(versions map[protocol.ApiKey]int16) bool {
	_, r.supported = versions[r.ApiKey()]
	return true
}

// RawExchange writes the request (header v2 for flexible versions: API key,
// version, correlation id, nullable client id, no tagged fields; kmsg
// frames it) and reads the answer: size, correlation id, tagged fields for
// flexible versions (response header v1), then the body, decoded by kmsg. An
// error here leaves the stream in an unknown state; kafka-go then closes the
// connection.
func (r *rawRequest) RawExchange(rw io.ReadWriter) (protocol.Message, error) {
	key := r.ApiKey()
	if !r.supported {
		return &rawResponse{Unsupported: true, key: key}, nil
	}
	id := correlation.Add(1)
	out := kmsg.NewRequestFormatter(kmsg.FormatterClientID(r.ClientID)).AppendRequest(nil, r.Req, id)
	if _, err := rw.Write(out); err != nil {
		return nil, fmt.Errorf("write %s request: %w", key, err)
	}
	var size [4]byte
	if _, err := io.ReadFull(rw, size[:]); err != nil {
		return nil, fmt.Errorf("read %s response size: %w", key, err)
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxRawResponse {
		return nil, fmt.Errorf("read %s response: size %d out of range", key, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rw, body); err != nil {
		return nil, fmt.Errorf("read %s response: %w", key, err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != id {
		return nil, fmt.Errorf("read %s response: correlation id %d, want %d", key, got, id)
	}
	body = body[4:]
	res := r.Req.ResponseKind()
	if res.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, fmt.Errorf("read %s response header: %w", key, err)
		}
	}
	if err := res.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s response: %w", key, err)
	}
	return &rawResponse{Res: res, key: key}, nil
}

func (r *rawResponse) ApiKey() protocol.ApiKey { return r.key }

// skipTags skips a tagged-fields section: an unsigned varint count, then per
// field an unsigned varint tag, an unsigned varint size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, errTruncatedTags
	}
	b = b[n:]
	for ; count > 0; count-- {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errTruncatedTags
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errTruncatedTags
		}
		b = b[n+int(size):]
	}
	return b, nil
}

var errTruncatedTags = errors.New("tagged fields cut short")

var (
	_ protocol.BrokerMessage = (*rawRequest)(nil)
	_ protocol.RawExchanger  = (*rawRequest)(nil)
)

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
