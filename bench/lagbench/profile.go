package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/lagwatch/lagwatch/internal/kafkasource"
	"github.com/lagwatch/lagwatch/pkg/esindex"
)

// profiledTick is one tick taken inside lagbench, the way the collector
// takes it (kafkasource.Source, then esindex.Writer), under a CPU profile, with
// a heap profile at the end. It writes to its own namespace so that the
// storage figures cover the subprocess ticks only.
type profiledTick struct {
	Read, Write   time.Duration
	KafkaRequests int64
	Docs          int
	HeapInUse     uint64 // after the write, before the snapshot is dropped
	TotalAlloc    uint64 // bytes allocated during the tick
}

func runProfiledTick(ctx context.Context, brokers []string, esURL, namespace, groupPattern, cpuPath, memPath string) (profiledTick, error) {
	var pt profiledTick
	allow, err := regexp.Compile(groupPattern)
	if err != nil {
		return pt, err
	}
	reader, err := kafkasource.New(kafkasource.Cluster{Name: "lagbench", Brokers: brokers, ClientID: "lagbench",
		DialTimeout: 10 * time.Second, Filter: allow.MatchString, Concurrency: 16})
	if err != nil {
		return pt, err
	}
	defer reader.Close()

	es, err := esindex.New(esindex.ConnConfig{URLs: []string{esURL}}, namespace)
	if err != nil {
		return pt, err
	}
	spool, err := os.MkdirTemp("", "lagbench-profile-spool-")
	if err != nil {
		return pt, err
	}
	defer os.RemoveAll(spool)
	w, err := es.NewWriter(esindex.WriterOptions{SpoolDir: spool})
	if err != nil {
		return pt, err
	}
	if _, err := w.Install(ctx); err != nil {
		return pt, err
	}

	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return pt, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return pt, err
		}
		defer pprof.StopCPUProfile()
	}
	runtime.GC()
	if memPath != "" {
		// The base for `go tool pprof -diff_base`: what seeding allocated.
		if err := writeProfile(memPath+".before", "allocs"); err != nil {
			return pt, err
		}
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	start := time.Now()
	s := reader.Take(ctx, start)
	pt.Read = time.Since(start)
	if s.Err != nil {
		return pt, fmt.Errorf("profiled tick: %w", s.Err)
	}
	pt.KafkaRequests = s.Stats.Requests
	wstart := time.Now()
	res, err := w.Write(ctx, s)
	pt.Write = time.Since(wstart)
	pt.Docs = res.Indexed
	if err != nil {
		return pt, fmt.Errorf("profiled tick: %w", err)
	}

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	pt.HeapInUse, pt.TotalAlloc = after.HeapInuse, after.TotalAlloc-before.TotalAlloc
	if memPath != "" {
		// allocs: every allocation so far, with what the last GC found live.
		if err := writeProfile(memPath, "allocs"); err != nil {
			return pt, err
		}
	}
	runtime.KeepAlive(s)
	return pt, nil
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
