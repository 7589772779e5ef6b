package evaluator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// statusDoc is the stored form of a group's verdict.
func statusDoc(r evaluate.GroupResult, at time.Time, windowSize int) esindex.StatusDoc {
	d := esindex.StatusDoc{
		At: at, Cluster: r.Cluster, Group: r.Group, Status: r.Status.String(), Code: int(r.Status),
		Complete: r.Complete, PartitionCount: r.PartitionCount, TotalLag: r.TotalLag, WindowSize: windowSize,
	}
	if r.MaxLag != nil && r.MaxLag.HasLag {
		d.MaxLag = &esindex.MaxLag{Topic: r.MaxLag.Topic, Partition: r.MaxLag.Partition, Lag: r.MaxLag.CurrentLag}
	}
	if r.TimeLag.Known {
		s := r.TimeLag.Duration.Seconds()
		d.TimeLagSeconds, d.TimeLagLowerBound = &s, r.TimeLag.LowerBound
	}
	if r.PartitionCount > 0 {
		c, p := r.ConsumeRate, r.ProduceRate
		d.ConsumeRate, d.ProduceRate = &c, &p
	}
	if f := r.Stale; f != nil {
		d.Stale, d.NewestTick, d.StaleReason = true, f.NewestTick, f.Reason
	}
	// The group catches up when its slowest partition does.
	var catchUp time.Duration
	known := false
	for _, p := range r.Partitions {
		switch {
		case p.CatchUp.Never:
			d.CatchUpNever = true
		case p.CatchUp.Known:
			known = true
			catchUp = max(catchUp, p.CatchUp.Duration)
		}
	}
	if known && !d.CatchUpNever {
		s := catchUp.Seconds()
		d.CatchUpSeconds = &s
	}
	for _, p := range r.NonOK() {
		ps := esindex.PartitionStatusDoc{
			Topic: p.Topic, Partition: p.Partition, Status: p.Status.String(), Code: int(p.Status),
			Complete: p.Complete, Owner: p.Owner, CurrentLag: p.CurrentLag, TimeLagLowerBound: p.TimeLag.LowerBound,
		}
		if p.TimeLag.Known {
			s := p.TimeLag.Duration.Seconds()
			ps.TimeLagSeconds = &s
		}
		if p.Start.HasCommitted {
			ps.Start = &esindex.OffsetPoint{Offset: p.Start.Committed, Time: p.Start.Time, Lag: p.Start.Lag}
		}
		if p.End.HasCommitted {
			ps.End = &esindex.OffsetPoint{Offset: p.End.Committed, Time: p.End.Time, Lag: p.End.Lag}
		}
		d.Partitions = append(d.Partitions, ps)
	}
	return d
}

// StatusQuery is what the status command asks for.
type StatusQuery struct {
	// At is the instant to evaluate; zero for now.
	At time.Time
	// Group and Cluster, when set, are the only group and cluster shown.
	Group, Cluster string
	// JSON asks for Burrow's response bodies rather than a table.
	JSON bool
	// Wide asks for every column of the table: offsets, completeness and
	// the owning consumer. The default table fits about 90 columns.
	Wide bool
}

// PrintStatus evaluates at o.At (or now) and prints, without writing
// anything: a line per stale cluster (printStale), then a table of the
// verdicts, lag and time lag per partition, a stale cluster's groups'
// status marked "(stale)" (with
// Wide, in the spirit of `kafka-consumer-groups --describe`: offsets and
// consumers too, and KAFKA-LAG, log end minus committed offset as that tool
// reports it, where LAG is the readable lag the verdicts judge), or with
// --json one body of Burrow's
// /v3/kafka/(cluster)/consumer/(group)/lag per group and line (every
// partition). A group asked for with --group that is NOTFOUND (deleted from
// Kafka, or never seen) gets Burrow's NOTFOUND body or a NOTFOUND row, a
// line on stderr saying why, and exit status 1, as Burrow answers 404.
func (e *Evaluator) PrintStatus(ctx context.Context, o StatusQuery, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	at := o.At
	if at.IsZero() {
		at = time.Now().UTC()
	}
	host, _ := os.Hostname()
	fresh, reqs := e.freshness(ctx, at, o.Cluster)
	var tw *tabwriter.Writer
	if !o.JSON {
		printStale(w, fresh, at)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		if o.Wide {
			fmt.Fprintln(tw, "CLUSTER\tGROUP\tSTATUS\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tKAFKA-LAG\tTIME-LAG\tPARTITION-STATUS\tCOMPLETE\tCONSUMER-ID\tHOST\tCLIENT-ID")
		} else {
			fmt.Fprintln(tw, "CLUSTER\tGROUP\tSTATUS\tTOPIC\tPARTITION\tLAG\tTIME-LAG\tPARTITION-STATUS")
		}
	}
	enc := json.NewEncoder(w)
	show := func(r evaluate.GroupResult) error {
		if o.JSON {
			b := r.BurrowLag()
			b.Request.Host = host
			return enc.Encode(b)
		}
		status := staleMark(r)
		if len(r.Partitions) == 0 {
			if o.Wide {
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", r.Cluster, r.Group, status)
			} else {
				fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\n", r.Cluster, r.Group, status)
			}
			return nil
		}
		for _, p := range r.Partitions {
			if !o.Wide {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
					r.Cluster, r.Group, status, p.Topic, p.Partition,
					optInt(p.CurrentLag, p.HasLag), formatTimeLag(p.TimeLag), p.Status)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n",
				r.Cluster, r.Group, status, p.Topic, p.Partition,
				optInt(p.End.Committed, p.End.HasCommitted), optInt(p.End.LogEnd, p.End.HasLogEnd), optInt(p.CurrentLag, p.HasLag),
				optInt(p.End.KafkaLag()), formatTimeLag(p.TimeLag), p.Status, p.Complete, dash(p.Owner), dash(p.Host), dash(p.ClientID))
		}
		return nil
	}
	var results []evaluate.GroupResult // with --group: the asked group's, per cluster
	_, err := e.evaluateFresh(ctx, at, o.Cluster, o.Group, true, esindex.Shard{}, fresh, reqs, func(r evaluate.GroupResult) error {
		if o.Group != "" {
			results = append(results, compact(r))
		}
		return show(r)
	})
	if err == nil && o.Group != "" && len(results) == 0 {
		// Never seen within the lookback: Burrow's NOTFOUND for the cluster
		// asked for, or for every cluster the history knows.
		clusters := []string{o.Cluster}
		if o.Cluster == "" {
			clusters, err = e.history.KnownClusters(ctx, at.Add(-e.cfg.NotFoundLookback), at)
			if err == nil && len(clusters) == 0 {
				clusters = []string{""}
			}
		}
		for _, c := range clusters {
			if err == nil {
				err = show(evaluate.GroupResult{Cluster: c, Group: o.Group, Status: evaluate.NotFound, Complete: 1})
			}
		}
		if err == nil {
			err = fmt.Errorf("group %q: NOTFOUND: no history of it in namespace %q within EVALUATOR_NOTFOUND_LOOKBACK (%s) before %s",
				o.Group, e.cfg.Namespace, e.cfg.NotFoundLookback, at.Format(time.RFC3339))
		}
	}
	if tw != nil {
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil || o.Group == "" {
		return err
	}
	for _, r := range results {
		if r.Status != evaluate.NotFound {
			return nil
		}
	}
	c := results[0].Cluster
	return fmt.Errorf("group %q: NOTFOUND in cluster %q: no readable offsets in the cluster's last %d collector ticks before %s (deleted from Kafka, no longer read, or its offsets could not be read at any of them)",
		o.Group, c, e.cfg.Rules.WindowSize, at.Format(time.RFC3339))
}

func optInt(v int64, ok bool) string {
	if !ok {
		return "-"
	}
	return strconv.FormatInt(v, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTimeLag(t evaluate.TimeLag) string {
	if !t.Known {
		return "-"
	}
	d := t.Duration.Round(time.Second).String()
	if t.LowerBound {
		return ">=" + d
	}
	return d
}
