package esindex

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
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

// A spooled document is one spool record, a line of JSON:
// {"index":...,"id":...,"body":{...}}. The bodies never hold a newline.
type spoolRecord struct {
	Index string          `json:"index"`
	ID    string          `json:"id"`
	Body  json.RawMessage `json:"body"`
}

// encodeSpoolRecords renders docs as spool records, sharing one backing
// array.
func encodeSpoolRecords(docs []doc) ([][]byte, error) {
	size := 0
	for _, d := range docs {
		size += len(d.index) + len(d.id) + len(d.body) + 32
	}
	buf := make([]byte, 0, size)
	recs := make([][]byte, len(docs))
	for i, d := range docs {
		if bytes.IndexByte(d.body, '\n') >= 0 {
			// Our encoders never write a newline; a body with one would
			// split its line.
			return nil, fmt.Errorf("document %s: body contains a newline", d.id)
		}
		start := len(buf)
		buf = append(buf, `{"index":`...)
		buf = appendString(buf, d.index)
		buf = append(buf, `,"id":`...)
		buf = appendString(buf, d.id)
		buf = append(buf, `,"body":`...)
		buf = append(buf, d.body...)
		buf = append(buf, '}')
		recs[i] = buf[start:len(buf):len(buf)]
	}
	return recs, nil
}

// decodeSpoolRecords reads spool records back into documents. Records that
// cannot be decoded are counted in bad, with the first error in badErr.
func decodeSpoolRecords(recs [][]byte) (docs []doc, bad int, badErr error) {
	docs = make([]doc, 0, len(recs))
	for _, rec := range recs {
		var r spoolRecord
		switch err := json.Unmarshal(rec, &r); {
		case err != nil:
			bad++
			badErr = cmpOr(badErr, err)
		case r.Index == "" || r.ID == "" || len(r.Body) == 0:
			bad++
			badErr = cmpOr(badErr, errors.New("a line lacks index, id or body"))
		default:
			docs = append(docs, doc{index: r.Index, id: r.ID, body: []byte(r.Body)})
		}
	}
	return docs, bad, badErr
}

// docSource yields documents one at a time, in order. A document's body is
// valid until the next call.
type docSource interface {
	next() (doc, bool)
}

// sliceSource yields docs.
type sliceSource struct {
	docs []doc
	i    int
}

func (s *sliceSource) next() (doc, bool) {
	if s.i >= len(s.docs) {
		return doc{}, false
	}
	s.i++
	return s.docs[s.i-1], true
}

// snapshotSource yields a snapshot's group and offsets documents: for each
// group, its group document and then one offsets document per partition.
// A snapshot that could not read the cluster at all (Err, no groups) has
// none. Each body is encoded when it is asked for, into one reused buffer,
// so that a write holds its requests' bytes and never all documents.
type snapshotSource struct {
	names  Names
	s      *snapshot.Snapshot
	ts     string
	ms     int64
	gi, pi int // the next document: group gi's group document when pi is -1, else its partition pi's
	buf    []byte
}

func newSnapshotSource(names Names, s *snapshot.Snapshot) *snapshotSource {
	return &snapshotSource{names: names, s: s, ts: s.Time.UTC().Format(timestampLayout), ms: s.Time.UnixMilli(), pi: -1}
}

func (src *snapshotSource) next() (doc, bool) {
	s := src.s
	for src.gi < len(s.Groups) && src.pi >= len(s.Groups[src.gi].Partitions) {
		src.gi, src.pi = src.gi+1, -1
	}
	if src.gi >= len(s.Groups) {
		return doc{}, false
	}
	g := &s.Groups[src.gi]
	var d doc
	if src.pi < 0 {
		src.buf = appendGroupDoc(src.buf[:0], *s, src.ts, g)
		d = doc{index: src.names.Groups, id: groupID(s.Cluster, g.ID, src.ms), body: src.buf}
	} else {
		p := &g.Partitions[src.pi]
		src.buf = appendOffsetsDoc(src.buf[:0], *s, src.ts, g, p)
		d = doc{index: src.names.Offsets, id: offsetsID(s.Cluster, g.ID, p.Topic, p.Partition, src.ms)}
		d.body = src.buf
	}
	src.pi++
	return d, true
}

// snapshotDocs is the number of documents of s.
func snapshotDocs(s *snapshot.Snapshot) int {
	n := 0
	for _, g := range s.Groups {
		n += 1 + len(g.Partitions)
	}
	return n
}

// appendOffsetsDoc appends the offsets document of partition p of group g.
//
//	kafka.consumergroup.type              absent when the type could not be told
//	kafka.consumergroup.state             absent when unknown
//	kafka.consumergroup.offset            absent when the group never committed
//	kafka.partition.offset.newest/oldest  absent when the log offsets are unknown
//	kafka.partition.offset.stable         the last stable offset; only while a
//	                                      transaction is open (Pending > 0): it
//	                                      equals newest otherwise
//	kafka.consumergroup.consumer_lag      absent when Lag() has none
//	kafka.consumergroup.client.*          absent when no member owns p
//	lagwatch.readable_lag                 absent when ReadableLag() has none
//	lagwatch.lag_clamped                  true only when a negative lag read as 0
//	lagwatch.below_log_start              true only when the commit is below log start
//	lagwatch.error                        the partition's Err
func appendOffsetsDoc(b []byte, s snapshot.Snapshot, ts string, g *snapshot.Group, p *snapshot.Partition) []byte {
	b = appendGroupHead(b, s, ts, g)
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
		if p.Pending > 0 {
			b = append(b, `,"stable":`...)
			b = strconv.AppendInt(b, p.LastStable(), 10)
		}
		b = append(b, '}')
	}
	b = append(b, `}}`...)
	readable, hasReadable := p.ReadableLag()
	below := p.BelowLogStart()
	if hasReadable || clamped || below || p.Err != nil {
		b = append(b, `,"lagwatch":{`...)
		open := len(b) // no comma before the object's first field
		if hasReadable {
			b = append(b, `"readable_lag":`...)
			b = strconv.AppendInt(b, readable, 10)
		}
		if clamped {
			b = appendMember(b, open, `"lag_clamped":true`)
		}
		if below {
			b = appendMember(b, open, `"below_log_start":true`)
		}
		if p.Err != nil {
			b = appendMember(b, open, `"error":`)
			b = appendString(b, truncateUTF8(p.Err.Error(), maxErrorLen))
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendGroupDoc appends the group document of g. The max_lag fields are
// absent when no partition has a lag; total_lag is the sum over those that
// have one (0 when none has), and total_readable_lag the sum of their
// readable lags (snapshot.Partition.ReadableLag). Every group Kafka lists has one, whatever its
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
	b = appendGroupHead(b, s, ts, g)
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
	b = append(b, `,"total_readable_lag":`...)
	b = strconv.AppendInt(b, sum.TotalReadable, 10)
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

// appendGroupHead appends what an offsets and a group document of g start
// with: the time, the cluster, and the group's id, type and state, leaving
// "kafka" and "consumergroup" open. Type and state are absent when unknown.
func appendGroupHead(b []byte, s snapshot.Snapshot, ts string, g *snapshot.Group) []byte {
	b = append(b, `{"@timestamp":"`...)
	b = append(b, ts...)
	b = append(b, `","kafka":{`...)
	b = appendCluster(b, s)
	b = append(b, `,"consumergroup":{"id":`...)
	b = appendString(b, g.ID)
	b = appendOptString(b, "type", g.Type)
	b = appendOptString(b, "state", g.State)
	return b
}

// appendCluster appends "cluster":{...}; the id is absent when Kafka's
// metadata could not be read.
func appendCluster(b []byte, s snapshot.Snapshot) []byte {
	b = append(b, `"cluster":{"name":`...)
	b = appendString(b, s.Cluster)
	b = appendOptString(b, "id", s.ClusterID)
	return append(b, '}')
}

// tickDoc is the document of t in names.Ticks.
func tickDoc(names Names, t TickDoc) (doc, error) {
	body, err := encodeTick(t)
	if err != nil {
		return doc{}, fmt.Errorf("encode tick document: %w", err)
	}
	return doc{index: names.Ticks, id: tickID(t.Cluster, t.Time.UnixMilli()), body: body}, nil
}

func encodeTick(t TickDoc) ([]byte, error) {
	type collector struct {
		Result             string  `json:"result"`
		TickDuration       float64 `json:"tick_duration_seconds"`
		ReadDuration       float64 `json:"read_duration_seconds"`
		Groups             int     `json:"groups"`
		Partitions         int     `json:"partitions"`
		KafkaRequests      int64   `json:"kafka_requests"`
		GroupErrors        int     `json:"group_errors"`
		PartitionErrors    int     `json:"partition_errors"`
		BrokerErrors       int     `json:"broker_errors"`
		Retries            int     `json:"kafka_retries"`
		NegativeLags       int     `json:"negative_lags"`
		DocumentsWritten   int     `json:"documents_written"`
		DocumentsDuplicate int     `json:"documents_duplicate"`
		DocumentsFailed    int     `json:"documents_failed"`
		DocumentsSpooled   int     `json:"documents_spooled"`
		DocumentsReplayed  int     `json:"documents_replayed"`
		DocumentsDropped   int     `json:"documents_dropped"`
		// Left out when 0, as is the refusal: a data stream whose mapping
		// predates them (see addFields) rejects only the ticks that carry
		// them.
		DocumentsRefused int    `json:"documents_refused,omitempty"`
		WriteRefusal     string `json:"write_refusal,omitempty"`
		SpoolSegments    int    `json:"spool_segments"`
		SpoolBytes       int64  `json:"spool_bytes"`
	}
	var d struct {
		Timestamp string `json:"@timestamp"`
		Kafka     struct {
			Cluster struct {
				Name string `json:"name"`
			} `json:"cluster"`
		} `json:"kafka"`
		Lagwatch struct {
			Collector collector `json:"collector"`
			Error     string    `json:"error,omitempty"`
		} `json:"lagwatch"`
	}
	d.Timestamp = t.Time.UTC().Format(timestampLayout)
	d.Kafka.Cluster.Name = t.Cluster
	d.Lagwatch.Collector = collector{
		Result: t.Result, TickDuration: t.TickDuration.Seconds(), ReadDuration: t.ReadDuration.Seconds(),
		Groups: t.Groups, Partitions: t.Partitions, KafkaRequests: t.KafkaRequests,
		GroupErrors: t.GroupErrors, PartitionErrors: t.PartitionErrors, NegativeLags: t.NegativeLags,
		BrokerErrors: t.BrokerErrors, Retries: t.Retries,
		DocumentsWritten: t.Written, DocumentsDuplicate: t.Duplicates, DocumentsFailed: t.Failed,
		DocumentsSpooled: t.Spooled, DocumentsReplayed: t.Replayed, DocumentsDropped: t.Dropped,
		DocumentsRefused: t.Refused, WriteRefusal: truncateUTF8(t.Refusal, maxErrorLen),
		SpoolSegments: t.SpoolSegments, SpoolBytes: t.SpoolBytes,
	}
	d.Lagwatch.Error = truncateUTF8(t.Error, maxErrorLen)
	return json.Marshal(d)
}

// tickID is the _id of the tick document of cluster at tick time ms.
func tickID(cluster string, ms int64) string {
	return docID(ms, -1, cluster)
}

// groupDocHead is what the status and incident documents start with: the
// time and the cluster and group they are about.
type groupDocHead struct {
	Timestamp string `json:"@timestamp"`
	Kafka     struct {
		Cluster struct {
			Name string `json:"name"`
		} `json:"cluster"`
		Consumergroup struct {
			ID string `json:"id"`
		} `json:"consumergroup"`
	} `json:"kafka"`
}

// statusJSON is the stored shape of a StatusDoc (templates/status.json).
type statusJSON struct {
	groupDocHead
	Lagwatch struct {
		Status statusFields `json:"status"`
	} `json:"lagwatch"`
}

type statusFields struct {
	Status          string            `json:"status"`
	Code            int               `json:"code"`
	Complete        float64           `json:"complete"`
	PartitionCount  int               `json:"partition_count"`
	TotalLag        int64             `json:"total_lag"`
	MaxLag          *int64            `json:"max_lag,omitempty"`
	MaxLagTopic     string            `json:"max_lag_topic,omitempty"`
	MaxLagPartition *int32            `json:"max_lag_partition,omitempty"`
	TimeLagSeconds  *float64          `json:"time_lag_seconds,omitempty"`
	TimeLagLower    bool              `json:"time_lag_lower_bound,omitempty"`
	ConsumeRate     *float64          `json:"consume_rate,omitempty"`
	ProduceRate     *float64          `json:"produce_rate,omitempty"`
	CatchUpSeconds  *float64          `json:"catch_up_seconds,omitempty"`
	CatchUpNever    bool              `json:"catch_up_never,omitempty"`
	WindowSize      int               `json:"window_size,omitempty"`
	Partitions      []partitionFields `json:"partitions,omitempty"`
	Stale           bool              `json:"stale,omitempty"`
	NewestTick      string            `json:"newest_tick,omitempty"`
	StaleReason     string            `json:"stale_reason,omitempty"`
}

type partitionFields struct {
	Topic             string   `json:"topic"`
	Partition         int32    `json:"partition"`
	Status            string   `json:"status"`
	Code              int      `json:"code"`
	Complete          float64  `json:"complete"`
	Owner             string   `json:"owner,omitempty"`
	CurrentLag        int64    `json:"current_lag"`
	TimeLagSeconds    *float64 `json:"time_lag_seconds,omitempty"`
	TimeLagLowerBound bool     `json:"time_lag_lower_bound,omitempty"`
	StartOffset       *int64   `json:"start_offset,omitempty"`
	StartTime         string   `json:"start_time,omitempty"`
	StartLag          *int64   `json:"start_lag,omitempty"`
	EndOffset         *int64   `json:"end_offset,omitempty"`
	EndTime           string   `json:"end_time,omitempty"`
	EndLag            *int64   `json:"end_lag,omitempty"`
}

// encodeStatus renders d as stored.
func encodeStatus(d StatusDoc) ([]byte, error) {
	var s statusJSON
	s.Timestamp = d.At.UTC().Format(timestampLayout)
	s.Kafka.Cluster.Name = d.Cluster
	s.Kafka.Consumergroup.ID = d.Group
	f := &s.Lagwatch.Status
	f.Status, f.Code, f.Complete, f.PartitionCount, f.TotalLag = d.Status, d.Code, d.Complete, d.PartitionCount, d.TotalLag
	if d.MaxLag != nil {
		f.MaxLag, f.MaxLagTopic, f.MaxLagPartition = &d.MaxLag.Lag, d.MaxLag.Topic, &d.MaxLag.Partition
	}
	f.TimeLagSeconds, f.TimeLagLower, f.ConsumeRate, f.ProduceRate = d.TimeLagSeconds, d.TimeLagLowerBound, d.ConsumeRate, d.ProduceRate
	f.CatchUpSeconds, f.CatchUpNever, f.WindowSize = d.CatchUpSeconds, d.CatchUpNever, d.WindowSize
	if d.Stale {
		f.Stale, f.StaleReason = true, d.StaleReason
		if !d.NewestTick.IsZero() {
			f.NewestTick = d.NewestTick.UTC().Format(timestampLayout)
		}
	}
	for _, p := range d.Partitions {
		pf := partitionFields{Topic: p.Topic, Partition: p.Partition, Status: p.Status, Code: p.Code, Complete: p.Complete,
			Owner: p.Owner, CurrentLag: p.CurrentLag, TimeLagSeconds: p.TimeLagSeconds, TimeLagLowerBound: p.TimeLagLowerBound}
		if p.Start != nil {
			pf.StartOffset, pf.StartTime, pf.StartLag = &p.Start.Offset, p.Start.Time.UTC().Format(timestampLayout), &p.Start.Lag
		}
		if p.End != nil {
			pf.EndOffset, pf.EndTime, pf.EndLag = &p.End.Offset, p.End.Time.UTC().Format(timestampLayout), &p.End.Lag
		}
		f.Partitions = append(f.Partitions, pf)
	}
	return json.Marshal(s)
}

// statusID is the _id of the status document of (cluster, group) evaluated at
// ms (Unix milliseconds): re-running an evaluation of the same instant makes
// the same id, so it is stored once.
func statusID(cluster, group string, ms int64) string {
	return docID(ms, -1, cluster, group)
}

// appendMember appends member, a JSON object's "key":value (or its start),
// after a comma unless the object, opened at open, is still empty.
func appendMember(b []byte, open int, member string) []byte {
	if len(b) > open {
		b = append(b, ',')
	}
	return append(b, member...)
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
func docID(ms int64, partition int32, parts ...string) string {
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
func appendPartition(b []byte, p int32) []byte {
	if p >= 36*36*36*36 {
		return appendBase36(b, int64(p), 6)
	}
	return appendBase36(b, int64(p), 4)
}

// offsetsID is the _id of the offsets document of (cluster, group, topic,
// partition) at tick time ms (Unix milliseconds).
func offsetsID(cluster, group, topic string, partition int32, ms int64) string {
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
