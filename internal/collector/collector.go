// Package collector is one collector tick: every Kafka cluster's source is
// read into a snapshot, each snapshot goes to the sink, and the tick is
// summed up once per cluster: a document recording how it went, the
// Prometheus series and one log line.
//
// It owns no Kafka or Elasticsearch connection and must not import a Kafka
// client: the program builds the sources (internal/kafkasource) and the sink
// (an esindex.Writer) and hands them over. It imports esindex only for the
// types the sink takes and returns.
package collector

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/lagwatch/lagwatch/internal/service"
	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// Source reads one Kafka cluster. Take never fails as a whole: a cluster
// that could not be read comes back with the snapshot's Err set, group and
// partition failures on their items. *kafkasource.Source is one.
type Source interface {
	Take(ctx context.Context, at time.Time) snapshot.Snapshot
}

// Sink stores snapshots and tick documents; *esindex.Writer is one. Until
// its templates are installed it spools what it is given, and it replays
// the spool before it sends anything new.
type Sink interface {
	// StartInstall starts installing the templates in the background, when
	// they are not in and no attempt is in flight.
	StartInstall()
	// AwaitInstall waits, within ctx, for the attempt in flight.
	AwaitInstall(ctx context.Context) error
	Write(ctx context.Context, s snapshot.Snapshot) (esindex.WriteResult, error)
	WriteTick(ctx context.Context, t esindex.TickDoc) (esindex.WriteResult, error)
	// SpoolDepth is what waits in the spool: segments and bytes.
	SpoolDepth() (segments int, bytes int64)
}

// Collector runs ticks. Sources, Sink, Timeout, Metrics and Log are
// required; LastRun is optional. A Collector runs one tick at a time (the
// schedule sees to that).
type Collector struct {
	// Sources are read concurrently, one snapshot each, and each snapshot
	// is written as soon as it is read: one cluster that is slow to answer
	// never holds up another's write.
	Sources []Source
	Sink    Sink
	// Timeout bounds a whole tick: reading, installing templates, writing.
	// It must be positive. Each cluster's read has a deadline of its own,
	// three quarters of it (readShare), so that what a slow cluster read is
	// still written, or spooled, within the tick.
	Timeout time.Duration
	Metrics *Metrics
	Log     *slog.Logger
	// LastRun, when set, records every tick's start and error (for
	// /healthz).
	LastRun *service.LastRun

	// refusing is the cause of the refusal under way: Elasticsearch did not
	// take documents for that reason at the latest write; "" when it took
	// them. A refusal is logged when it starts (or its cause changes) and
	// when it ends, not at every tick.
	refusalMu sync.Mutex
	refusing  string
}

// Result is what a tick did besides succeeding or failing.
type Result struct {
	// Spooled counts the snapshot documents of the clusters whose tick
	// succeeded but whose documents went to the spool instead of
	// Elasticsearch (it is down or refuses them, or the templates are not in
	// yet). Tick documents are not counted.
	Spooled int
	// Refusal is why Elasticsearch did not take them, when it said (the
	// reason that refused the most documents of the first such cluster);
	// "" otherwise.
	Refusal string
}

// Tick reads every cluster and writes every snapshot. It fails when a
// cluster could not be read or a snapshot could be neither written nor
// spooled, with one error per failed cluster joined; group and partition
// errors are counted and logged but are part of a successful tick.
func (c *Collector) Tick(ctx context.Context) (Result, error) { return c.TickAt(ctx, time.Now()) }

// readShare is the share of Timeout each cluster's read may take; the rest
// is left to write what it read.
const readShare = 0.75

// TickAt is Tick with the snapshots' time taken from at (truncated to the
// second) rather than from the clock: the instant a scheduled tick was
// planned for, so that collectors of one cluster on one schedule aligned to
// the clock write the same tick times, and so the same document ids.
func (c *Collector) TickAt(ctx context.Context, at time.Time) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	start := time.Now()

	// Kafka first, with the templates (while they are not in) installing
	// alongside: an Elasticsearch that hangs must not eat the time the reads
	// need (what was read can always be spooled). The first read to end
	// waits for the installation; every write comes after it.
	c.Sink.StartInstall()
	var installed sync.Once
	awaitInstall := func() {
		installed.Do(func() {
			if err := c.Sink.AwaitInstall(ctx); err != nil {
				c.Log.Warn("index templates not installed yet; snapshots spool until Elasticsearch answers", "err", err)
			}
		})
	}
	readTimeout := time.Duration(float64(c.Timeout) * readShare)
	sums := make([]Summary, len(c.Sources))
	var wg sync.WaitGroup
	for i, src := range c.Sources {
		wg.Go(func() {
			readCtx, cancelRead := context.WithTimeout(ctx, readTimeout)
			s := src.Take(readCtx, at)
			cancelRead()
			readTook := time.Since(start)
			awaitInstall()
			sums[i] = c.write(ctx, s, readTook, start)
		})
	}
	wg.Wait()

	var res Result
	var errs []error
	for _, sum := range sums {
		if sum.Err != nil {
			errs = append(errs, sum.Err)
		} else {
			res.Spooled += sum.Write.Spooled
			res.Refusal = cmp.Or(res.Refusal, sum.refusal())
		}
	}
	err := errors.Join(errs...)
	if c.LastRun != nil {
		c.LastRun.Record(start, err)
	}
	c.Metrics.spool(c.Sink.SpoolDepth())
	return res, err
}

// write stores one cluster's snapshot (unless the cluster was not read),
// then sums the cluster's tick up: metrics, log line, tick document.
func (c *Collector) write(ctx context.Context, s snapshot.Snapshot, readTook time.Duration, start time.Time) Summary {
	sum := summarize(s, readTook)
	if s.Err == nil {
		sum.Write, sum.WriteErr = c.Sink.Write(ctx, s)
	}
	sum.Duration = time.Since(start)
	sum.judge()

	c.Metrics.observe(sum)
	logSummary(c.Log, sum)

	segments, bytes := c.Sink.SpoolDepth()
	c.noteRefusal(sum, segments)
	if _, err := c.Sink.WriteTick(ctx, tickDoc(sum, time.Since(start), segments, bytes)); err != nil {
		c.Log.Warn("tick document not stored", "cluster", sum.Cluster, "err", err)
	}
	return sum
}

// noteRefusal logs, once, that Elasticsearch started refusing documents for
// a reason other than their content (a write block, a revoked privilege,
// overload, an outage), or that the cause changed, and, once, that it took
// them again and the spool is empty. segments is the spool's depth after
// the write.
func (c *Collector) noteRefusal(sum Summary, segments int) {
	if sum.ReadErr != nil {
		return // nothing was written: nothing learnt
	}
	c.refusalMu.Lock()
	defer c.refusalMu.Unlock()
	p, refused := sum.Write.Refusal()
	switch {
	case refused && p.Cause != c.refusing:
		c.refusing = p.Cause
		c.Log.Warn("Elasticsearch refuses writes: documents go to the spool and are replayed in order once it takes them",
			"cluster", sum.Cluster, "cause", p.Cause, "status", p.Status, "reason", p.Reason)
	case !refused && c.refusing != "" && segments == 0:
		c.Log.Info("Elasticsearch takes writes again: the spool is replayed", "cluster", sum.Cluster,
			"replayed", sum.Write.Replayed, "refused_for", c.refusing)
		c.refusing = ""
	}
}
