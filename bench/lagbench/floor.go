package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// floorResult is Elasticsearch's own share of a tick: how long it takes to
// index one tick's documents when they arrive as ready-made bulk requests,
// of the collector's size and concurrency, with no client work around them
// (no encoding, no response decoding, no garbage collection in the sender).
// No client can write the tick faster on the same machine, so the Kafka read
// plus this is a lower bound for the tick.
type floorResult struct {
	Docs     int
	Requests int
	Runs     []time.Duration
	// Took is, per run, Elasticsearch's own time for the bulk requests
	// (their "took", summed).
	Took []time.Duration
}

// floorStream is one data stream of the tick and the index its copy goes to.
type floorStream struct {
	stream, index string
	create        []byte
}

// measureFloor copies the latest tick's documents of namespace's offsets and
// groups data streams, with their ids, into bulk bodies of
// esindex.DefaultFlushBytes, then indexes them runs times into fresh indices
// made from the streams' own templates, esindex.DefaultWorkers requests in
// flight, timing each run from the first request to the last answer.
func measureFloor(ctx context.Context, es *esHTTP, namespace, prefix string, runs int, log *slog.Logger) (fr floorResult, err error) {
	base := strings.ToLower(prefix) + "-floor"
	var streams []floorStream
	for _, kind := range []string{"offsets", "groups"} {
		stream := "metrics-lagwatch." + kind + "-" + namespace
		create, err := es.templateOf(ctx, stream)
		if err != nil {
			return fr, err
		}
		streams = append(streams, floorStream{stream: stream, index: base + "-" + kind, create: create})
	}

	// The last tick's documents, as the collector sent them: create actions
	// with the deterministic ids.
	var bodies [][]byte
	var buf []byte
	for _, s := range streams {
		var last struct {
			Aggregations struct {
				Last struct {
					Value *float64 `json:"value"`
				} `json:"last"`
			} `json:"aggregations"`
		}
		q := map[string]any{"size": 0, "aggs": map[string]any{"last": map[string]any{"max": map[string]string{"field": "@timestamp"}}}}
		if err := es.json(ctx, http.MethodPost, "/"+url.PathEscape(s.stream)+"/_search", q, &last); err != nil {
			return fr, err
		}
		if last.Aggregations.Last.Value == nil {
			return fr, fmt.Errorf("%s holds no documents", s.stream)
		}
		ts := strconv.FormatInt(int64(*last.Aggregations.Last.Value), 10)
		query := map[string]any{"range": map[string]any{"@timestamp": map[string]string{"gte": ts, "lte": ts, "format": "epoch_millis"}}}
		meta := `{"create":{"_index":` + strconv.Quote(s.index) + `,"_id":`
		err := es.readBackWhere(ctx, s.stream, query, func(id string, src json.RawMessage) error {
			buf = append(buf, meta...)
			buf = strconv.AppendQuote(buf, id)
			buf = append(buf, "}}\n"...)
			buf = append(buf, src...)
			buf = append(buf, '\n')
			fr.Docs++
			if len(buf) >= esindex.DefaultFlushBytes {
				bodies, buf = append(bodies, buf), nil
			}
			return nil
		})
		if err != nil {
			return fr, err
		}
	}
	if len(buf) > 0 {
		bodies = append(bodies, buf)
	}
	fr.Requests = len(bodies)

	for run := 1; run <= runs; run++ {
		took, esTook, err := floorRun(ctx, es, streams, bodies)
		if err != nil {
			return fr, fmt.Errorf("run %d: %w", run, err)
		}
		log.Info("Elasticsearch alone", "run", run, "docs", fr.Docs, "requests", fr.Requests, "took", took.Round(time.Millisecond))
		fr.Runs, fr.Took = append(fr.Runs, took), append(fr.Took, esTook)
	}
	return fr, nil
}

// floorRun creates the indices, sends the bodies and deletes the indices.
func floorRun(ctx context.Context, es *esHTTP, streams []floorStream, bodies [][]byte) (took, esTook time.Duration, err error) {
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		for _, s := range streams {
			var ee *esError
			if derr := es.do(dctx, http.MethodDelete, "/"+url.PathEscape(s.index), "", nil, nil); derr != nil && !(errors.As(derr, &ee) && ee.is(http.StatusNotFound)) {
				err = errors.Join(err, derr)
			}
		}
	}()
	for _, s := range streams {
		if err := es.do(ctx, http.MethodPut, "/"+url.PathEscape(s.index), "application/json", s.create, nil); err != nil {
			return 0, 0, err
		}
	}

	next := make(chan []byte)
	errc := make(chan error, esindex.DefaultWorkers)
	var wg sync.WaitGroup
	var tookMs atomic.Int64
	start := time.Now()
	for range esindex.DefaultWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				ms, err := bulkAllCreated(ctx, es, "/_bulk", body)
				if err != nil {
					errc <- err
					return
				}
				tookMs.Add(ms)
			}
		}()
	}
	var sendErr error
send:
	for _, b := range bodies {
		select {
		case next <- b:
		case sendErr = <-errc:
			break send
		}
	}
	close(next)
	wg.Wait()
	took = time.Since(start)
	close(errc)
	for e := range errc {
		sendErr = errors.Join(sendErr, e)
	}
	return took, time.Duration(tookMs.Load()) * time.Millisecond, sendErr
}

// bulkAllCreated sends one bulk body to path (/_bulk or <index>/_bulk) and
// fails unless every item was created. It returns the request's "took", in
// milliseconds.
func bulkAllCreated(ctx context.Context, es *esHTTP, path string, body []byte) (int64, error) {
	var res struct {
		Took   int64 `json:"took"`
		Errors bool  `json:"errors"`
		Items  []map[string]struct {
			Status int             `json:"status"`
			Error  json.RawMessage `json:"error"`
		} `json:"items"`
	}
	if err := es.do(ctx, http.MethodPost, path+"?filter_path=took,errors,items.*.status,items.*.error", "application/x-ndjson", body, &res); err != nil {
		return 0, err
	}
	if !res.Errors {
		return res.Took, nil
	}
	for _, it := range res.Items {
		for _, v := range it {
			if v.Status != http.StatusCreated {
				return 0, fmt.Errorf("bulk: HTTP %d: %s", v.Status, v.Error)
			}
		}
	}
	return 0, errors.New("bulk: errors reported, yet every item was created")
}
