package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
		d.MaxLag = &esindex.MaxLag{Topic: r.MaxLag.Topic, Partition: int(r.MaxLag.Partition), Lag: r.MaxLag.CurrentLag}
	}
	if r.TimeLag.Known {
		s := r.TimeLag.Duration.Seconds()
		d.TimeLagSeconds = &s
	}
	if r.PartitionCount > 0 {
		c, p := r.ConsumeRate, r.ProduceRate
		d.ConsumeRate, d.ProduceRate = &c, &p
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
			Topic: p.Topic, Partition: int(p.Partition), Status: p.Status.String(), Code: int(p.Status),
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

// printStatus evaluates at --at (or now) and prints, without writing
// anything: a table in the spirit of `kafka-consumer-groups --describe` with
// the verdicts and time lag added, or with --json one Burrow lag response per
// group and line.
func (e *evaluator) printStatus(ctx context.Context, o options, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	at := o.at
	if at.IsZero() {
		at = time.Now().UTC()
	}
	found := 0
	var tw *tabwriter.Writer
	if !o.json {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CLUSTER\tGROUP\tSTATUS\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tTIME-LAG\tPARTITION-STATUS\tCOMPLETE\tCONSUMER-ID\tHOST\tCLIENT-ID")
	}
	enc := json.NewEncoder(w)
	_, err := e.evaluateAt(ctx, at, o.cluster, o.group, func(r evaluate.GroupResult) error {
		found++
		if o.json {
			b := r.Burrow()
			b.Request.URL = fmt.Sprintf("/v3/kafka/%s/consumer/%s/lag", r.Cluster, r.Group)
			return enc.Encode(b)
		}
		if len(r.Partitions) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n", r.Cluster, r.Group, r.Status)
			return nil
		}
		for _, p := range r.Partitions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n",
				r.Cluster, r.Group, r.Status, p.Topic, p.Partition,
				optInt(p.End.Committed, p.End.HasCommitted), optInt(p.End.LogEnd, p.End.HasLogEnd), optInt(p.CurrentLag, p.HasLag),
				formatTimeLag(p.TimeLag), p.Status, p.Complete, dash(p.Owner), dash(p.Host), dash(p.ClientID))
		}
		return nil
	})
	if tw != nil {
		if ferr := tw.Flush(); err == nil {
			err = ferr
		}
	}
	if err != nil {
		return err
	}
	if found == 0 && o.group != "" {
		return fmt.Errorf("group %q: no history in namespace %q (is the collector writing there?)", o.group, e.names.Namespace)
	}
	return nil
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
