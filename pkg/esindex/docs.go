package esindex

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strconv"
	"unicode/utf8"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// The documents are the contract the evaluator and the dashboards read. Field
// names follow Metricbeat's Kafka module (kafka.consumergroup.*,
// kafka.partition.*); lagwatch's own fields live under lagwatch.*. Optional
// fields are absent, never null or zero, when there is nothing to say; they
// match templates/*.json, whose mappings are strict.

// maxErrorLen bounds lagwatch.error so that it stays searchable (the keyword
// mapping ignores values over 1024 characters).
const maxErrorLen = 1000

// timestampLayout is RFC 3339 in UTC with milliseconds, e.g.
// 2026-01-02T03:04:05.000Z.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// doc is one document to write: its data stream, _id and JSON source.
type doc struct {
	index string
	id    string
	body  []byte
}

// encodeSnapshot turns a snapshot into its group and offsets documents: for
// each group, its group document and then one offsets document per partition.
// A snapshot that could not read the cluster at all (Err, no groups) gives
// none. Bodies share one backing array.
func encodeSnapshot(names Names, s snapshot.Snapshot) []doc {
	n := 0
	for _, g := range s.Groups {
		n += 1 + len(g.Partitions)
	}
	if n == 0 {
		return nil
	}
	docs := make([]doc, 0, n)
	ends := make([]int, 0, n)
	buf := make([]byte, 0, n*400)
	ts := s.Time.UTC().Format(timestampLayout)
	ms := s.Time.UnixMilli()
	for gi := range s.Groups {
		g := &s.Groups[gi]
		buf = appendGroupDoc(buf, s, ts, g)
		docs = append(docs, doc{index: names.Groups, id: groupID(s.Cluster, g.ID, ms)})
		ends = append(ends, len(buf))
		for pi := range g.Partitions {
			p := &g.Partitions[pi]
			buf = appendOffsetsDoc(buf, s, ts, g, p)
			docs = append(docs, doc{index: names.Offsets, id: offsetsID(s.Cluster, g.ID, p.Topic, p.Partition, ms)})
			ends = append(ends, len(buf))
		}
	}
	start := 0
	for i := range docs {
		docs[i].body = buf[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return docs
}

// appendOffsetsDoc appends the offsets document of partition p of group g.
//
//	kafka.consumergroup.type              absent when the type could not be told
//	kafka.consumergroup.state             absent when unknown
//	kafka.consumergroup.offset            absent when the group never committed
//	kafka.partition.offset.newest/oldest  absent when the log offsets are unknown
//	kafka.consumergroup.consumer_lag      absent when Lag() has none
//	kafka.consumergroup.client.*          absent when no member owns p
//	lagwatch.lag_clamped                  true only when a negative lag read as 0
//	lagwatch.below_log_start              true only when the commit is below log start
//	lagwatch.error                        the partition's Err
func appendOffsetsDoc(b []byte, s snapshot.Snapshot, ts string, g *snapshot.Group, p *snapshot.Partition) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","kafka":{`...)
	b = appendCluster(b, s)
	b = append(b, `,"consumergroup":{"id":`...)
	b = appendString(b, g.ID)
	b = appendOptString(b, "type", g.Type)
	b = appendOptString(b, "state", g.State)
	if p.HasCommitted {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, p.Committed, 10)
	}
	lag, hasLag, clamped := p.Lag()
	if hasLag {
		b = append(b, `,"consumer_lag":`...)
		b = strconv.AppendInt(b, lag, 10)
	}
	if o := p.Owner; o != nil {
		b = append(b, `,"client":{"member_id":`...)
		b = appendString(b, o.MemberID)
		b = appendOptString(b, "id", o.ClientID)
		b = appendOptString(b, "host", o.Host)
		b = append(b, '}')
	}
	b = append(b, `},"topic":{"name":`...)
	b = appendString(b, p.Topic)
	b = append(b, `},"partition":{"id":`...)
	b = strconv.AppendInt(b, int64(p.Partition), 10)
	if p.HasOffsets {
		b = append(b, `,"offset":{"newest":`...)
		b = strconv.AppendInt(b, p.LogEnd, 10)
		b = append(b, `,"oldest":`...)
		b = strconv.AppendInt(b, p.LogStart, 10)
		b = append(b, '}')
	}
	b = append(b, `}}`...)
	below := p.BelowLogStart()
	if clamped || below || p.Err != nil {
		b = append(b, `,"lagwatch":{`...)
		sep := false
		if clamped {
			b = append(b, `"lag_clamped":true`...)
			sep = true
		}
		if below {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"below_log_start":true`...)
			sep = true
		}
		if p.Err != nil {
			if sep {
				b = append(b, ',')
			}
			b = append(b, `"error":`...)
			b = appendString(b, truncateUTF8(p.Err.Error(), maxErrorLen))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendGroupDoc appends the group document of g. The max_lag fields are
// absent when no partition has a lag; total_lag is the sum over those that
// have one (0 when none has). Every group Kafka lists has one, whatever its
// type: a share group, which has no offsets documents, has its type and
// protocol type here and nothing else (lagwatch does not describe it).
func appendGroupDoc(b []byte, s snapshot.Snapshot, ts string, g *snapshot.Group) []byte {
	sum := g.Summarise()
	below := 0
	for i := range g.Partitions {
		if g.Partitions[i].BelowLogStart() {
			below++
		}
	}
	b = append(b, `{"@timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","kafka":{`...)
	b = appendCluster(b, s)
	b = append(b, `,"consumergroup":{"id":`...)
	b = appendString(b, g.ID)
	b = appendOptString(b, "type", g.Type)
	b = appendOptString(b, "state", g.State)
	b = appendOptString(b, "protocol_type", g.ProtocolType)
	b = append(b, `}},"lagwatch":{"group":{"members":`...)
	b = strconv.AppendInt(b, int64(len(g.Members)), 10)
	b = append(b, `,"partitions":`...)
	b = strconv.AppendInt(b, int64(len(g.Partitions)), 10)
	// No topics: no field (an empty array would not survive the stream's
	// synthetic _source anyway).
	if len(sum.Topics) > 0 {
		b = append(b, `,"topics":[`...)
		for i, t := range sum.Topics {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, t)
		}
		b = append(b, ']')
	}
	b = append(b, `,"total_lag":`...)
	b = strconv.AppendInt(b, sum.TotalLag, 10)
	if sum.HasMax {
		b = append(b, `,"max_lag":`...)
		b = strconv.AppendInt(b, sum.MaxLag, 10)
		b = append(b, `,"max_lag_topic":`...)
		b = appendString(b, sum.MaxTopic)
		b = append(b, `,"max_lag_partition":`...)
		b = strconv.AppendInt(b, int64(sum.MaxPartition), 10)
	}
	b = append(b, `,"below_log_start":`...)
	b = strconv.AppendInt(b, int64(below), 10)
	b = append(b, '}')
	if g.Err != nil {
		b = append(b, `,"error":`...)
		b = appendString(b, truncateUTF8(g.Err.Error(), maxErrorLen))
	}
	return append(b, `}}`...)
}

// appendCluster appends "cluster":{...}; the id is absent when Kafka's
// metadata could not be read.
func appendCluster(b []byte, s snapshot.Snapshot) []byte {
	b = append(b, `"cluster":{"name":`...)
	b = appendString(b, s.Cluster)
	b = appendOptString(b, "id", s.ClusterID)
	return append(b, '}')
}

// appendOptString appends ,"key":"v" unless v is empty.
func appendOptString(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript readers.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Document ids are deterministic, so that writing a tick again (a retry, a
// replay from the spool) stores nothing twice: a create with an existing id
// answers 409. An id starts with the tick time, in milliseconds, as nine
// base-36 digits (ids sort by time), followed by the identifying parts, each
// string prefixed by its length and a colon, so that no two keys read the
// same, and last the partition as four base-36 digits (six from 36^4 on; the
// partition is what is left after the strings, so the two widths cannot
// collide): 0kfw3x2k05:prod7:billing6:orders0003. Ids that sort by time and
// share long prefixes compress far better in Elasticsearch's terms
// dictionary and stored fields than random ones, and a fixed-width partition
// better than decimal digits (docs/BENCHMARKS.md). A key longer than
// maxPlainID bytes is replaced after the time by '#' and the first 16 bytes
// of its SHA-256 in base64url.

const maxPlainID = 200

func timeKey(b []byte, ms int64) []byte {
	return appendBase36(b, max(ms, 0), 9) // 36^9 ms is more than three thousand years
}

// appendBase36 appends n >= 0 in base 36, zero-padded to width digits.
func appendBase36(b []byte, n int64, width int) []byte {
	start := len(b)
	b = strconv.AppendInt(b, n, 36)
	if pad := width - (len(b) - start); pad > 0 {
		b = append(b, make([]byte, pad)...)
		copy(b[start+pad:], b[start:len(b)-pad])
		for i := start; i < start+pad; i++ {
			b[i] = '0'
		}
	}
	return b
}

// docID builds an id from the tick time and the parts; partition < 0 means
// none.
func docID(ms int64, partition int, parts ...string) string {
	b := make([]byte, 0, 96)
	b = timeKey(b, ms)
	key := len(b)
	for _, p := range parts {
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
	}
	if partition >= 0 {
		b = appendPartition(b, partition)
	}
	if len(b) <= maxPlainID {
		return string(b)
	}
	sum := sha256.Sum256(b[key:])
	return string(b[:key]) + "#" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// appendPartition appends p as four zero-padded base-36 digits, or six
// when it needs more than four (Kafka's partitions are int32: six always do).
func appendPartition(b []byte, p int) []byte {
	if p >= 36*36*36*36 {
		return appendBase36(b, int64(p), 6)
	}
	return appendBase36(b, int64(p), 4)
}

// offsetsID is the _id of the offsets document of (cluster, group, topic,
// partition) at tick time ms (Unix milliseconds).
func offsetsID(cluster, group, topic string, partition int, ms int64) string {
	return docID(ms, partition, cluster, group, topic)
}

// groupID is the _id of the group document of (cluster, group) at tick time
// ms (Unix milliseconds).
func groupID(cluster, group string, ms int64) string {
	return docID(ms, -1, cluster, group)
}

func appendPart(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func sumID(sum []byte) string {
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
