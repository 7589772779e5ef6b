package kafkasource

import (
	"net"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// Cluster is what New needs to read one Kafka cluster.
type Cluster struct {
	// Name is the configured label, written on every snapshot.
	Name string
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// TLS, when set, encrypts every connection; nil is plaintext.
	TLS *TLSFiles
	// SASL, when set, authenticates every connection; nil is none.
	SASL *SASL
	// VarPrefix is the prefix of the configuration variables TLS and SASL
	// were read from, "KAFKA_" or "KAFKA_<NAME>_": New's errors name the
	// variable at fault, VarPrefix + "TLS_CA_FILE" say.
	VarPrefix string
	// Filter keeps a group when it returns true; nil keeps all.
	Filter func(group string) bool
	// Concurrency bounds the offset fetches in flight on brokers older than
	// Kafka 3.0, which answer one group per request; <= 0 means 16.
	Concurrency int
	// DialTimeout bounds opening one connection, TLS handshake and SASL
	// exchange included; 0 is kafka-go's default (5s).
	DialTimeout time.Duration
	// RequestTimeout bounds one request's round trip, from sending it to
	// its answer; <= 0 means DefaultRequestTimeout. A broker that lets a
	// request time out is not asked again in that Take (see tick.send).
	RequestTimeout time.Duration
	// ClientID is sent with every request; "" sends DefaultClientID.
	ClientID string
}

// Source takes snapshots of one Kafka cluster. Its connections stay open
// from one Take to the next; Close closes them.
type Source struct {
	cluster string
	// addr is the bootstrap address list, e.g. kafka.TCP("b1:9092", "b2:9092").
	addr net.Addr
	// transport carries TLS, SASL and timeouts.
	transport kafka.RoundTripper
	// filter keeps a group when it returns true; nil keeps all.
	filter func(group string) bool
	// concurrency bounds the offset fetches in flight; <= 0 means 16.
	concurrency int
	// counter, when set, is read before and after the tick to report the
	// requests it sent in Stats.Requests.
	counter *requestCounter
	// requestTimeout bounds each request; <= 0 means DefaultRequestTimeout.
	requestTimeout time.Duration

	// versions remembers per broker id the API versions it announced (see
	// apiVersions).
	versionsMu sync.Mutex
	versions   map[int32]apiVersions

	// last is what the previous Take read, for the next one (see memory).
	lastMu sync.Mutex
	last   memory

	// txnMemo is the committed offset and LSO at the previous tick of
	// each group-partition that had something left to read, and what
	// reading between them found (see txn.go); nil before the first tick.
	// Only Take touches it, and Takes of one Source never overlap.
	txnMemo map[groupTP]txnMemo
}

// New makes the Source of c. It sends nothing yet: the first Take dials.
// It fails only on the TLS and SASL settings, with an *envconf.FieldError
// that names the variable at fault (see Cluster.VarPrefix) and never
// contains the password.
func New(c Cluster) (*Source, error) {
	tr, err := transport(c)
	if err != nil {
		return nil, err
	}
	counter := &requestCounter{}
	countRequests(tr, counter)
	return &Source{
		cluster: c.Name, addr: kafka.TCP(c.Brokers...), transport: tr,
		filter: c.Filter, concurrency: c.Concurrency, counter: counter,
		requestTimeout: c.RequestTimeout,
	}, nil
}

// Close closes the idle connections; a Take after it dials again.
func (r *Source) Close() {
	if t, ok := r.transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}
