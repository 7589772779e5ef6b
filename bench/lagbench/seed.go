package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// seedStats says what seeding found and did.
type seedStats struct {
	TopicsCreated, TopicsExisting int
	PartitionsProduced            int // partitions that needed messages
	Messages                      int64
	Groups                        int
	Commits                       int
	Took                          time.Duration
}

// seed makes the layout true on the broker: topics, Messages messages in
// every partition, and every group's commits. It is idempotent: existing
// topics are kept (their partition count is checked), partitions are only
// topped up to Messages, and commits are simply repeated. Groups never join:
// commits use generation -1 and no member id, as an admin tool would.
func seed(ctx context.Context, c *kafka.Client, l layout, concurrency int, log *slog.Logger) (seedStats, error) {
	start := time.Now()
	var st seedStats
	created, existing, err := createTopics(ctx, c, l)
	if err != nil {
		return st, err
	}
	st.TopicsCreated, st.TopicsExisting = created, existing
	if err := waitForLeaders(ctx, c, l); err != nil {
		return st, err
	}
	log.Info("topics ready", "created", created, "existing", existing, "partitions", l.Partitions())

	logEnd := make([]int64, l.Partitions())
	if existing > 0 {
		if logEnd, err = logEnds(ctx, c, l); err != nil {
			return st, err
		}
	}
	var produced, messages atomic.Int64
	err = forEach(ctx, l.Partitions(), concurrency, func(ctx context.Context, i int) error {
		missing := l.Messages - logEnd[i]
		if missing <= 0 {
			return nil
		}
		topic, p := l.topicPartition(i)
		if err := produce(ctx, c, topic, p, logEnd[i], missing); err != nil {
			return err
		}
		produced.Add(1)
		messages.Add(missing)
		return nil
	})
	if err != nil {
		return st, err
	}
	st.PartitionsProduced, st.Messages = int(produced.Load()), messages.Load()
	log.Info("messages produced", "partitions", st.PartitionsProduced, "messages", st.Messages)

	var commits atomic.Int64
	err = forEach(ctx, l.Groups, concurrency, func(ctx context.Context, g int) error {
		cs := l.commits(g)
		if err := commitOffsets(ctx, c, l.groupName(g), cs); err != nil {
			return err
		}
		commits.Add(int64(len(cs)))
		return nil
	})
	if err != nil {
		return st, err
	}
	st.Groups, st.Commits = l.Groups, int(commits.Load())
	st.Took = time.Since(start)
	log.Info("offsets committed", "groups", st.Groups, "group_partitions", st.Commits, "duration", st.Took.Round(time.Millisecond))
	return st, nil
}

func createTopics(ctx context.Context, c *kafka.Client, l layout) (created, existing int, err error) {
	req := &kafka.CreateTopicsRequest{}
	for _, name := range l.topicNames() {
		req.Topics = append(req.Topics, kafka.TopicConfig{Topic: name, NumPartitions: l.PartitionsPerTopic, ReplicationFactor: 1})
	}
	res, err := c.CreateTopics(ctx, req)
	if err != nil {
		return 0, 0, fmt.Errorf("create topics: %w", err)
	}
	for _, name := range l.topicNames() {
		switch err := res.Errors[name]; {
		case err == nil:
			created++
		case errors.Is(err, kafka.TopicAlreadyExists):
			existing++
		default:
			return 0, 0, fmt.Errorf("create topic %s: %w", name, err)
		}
	}
	return created, existing, nil
}

// waitForLeaders waits until every partition of every topic has a leader:
// a produce right after creation can otherwise fail. An existing topic with
// another partition count is an error.
func waitForLeaders(ctx context.Context, c *kafka.Client, l layout) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: l.topicNames()})
		ready := err == nil && len(md.Topics) == l.Topics
		if err == nil {
			for _, t := range md.Topics {
				if t.Error != nil {
					ready = false
					continue
				}
				if len(t.Partitions) > 0 && len(t.Partitions) != l.PartitionsPerTopic {
					return fmt.Errorf("topic %s exists with %d partitions, the layout wants %d: use another -prefix",
						t.Name, len(t.Partitions), l.PartitionsPerTopic)
				}
				if len(t.Partitions) != l.PartitionsPerTopic {
					ready = false
				}
				for _, p := range t.Partitions {
					if p.Leader.ID < 0 || p.Error != nil {
						ready = false
					}
				}
			}
		}
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for partition leaders: %w (last metadata error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// logEnds reads every partition's log-end offset, in global index order.
func logEnds(ctx context.Context, c *kafka.Client, l layout) ([]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for t := 0; t < l.Topics; t++ {
		for p := 0; p < l.PartitionsPerTopic; p++ {
			req.Topics[l.topicName(t)] = append(req.Topics[l.topicName(t)], kafka.LastOffsetOf(p))
		}
	}
	res, err := c.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("list log-end offsets: %w", err)
	}
	out := make([]int64, l.Partitions())
	for t := 0; t < l.Topics; t++ {
		name := l.topicName(t)
		seen := 0
		for _, po := range res.Topics[name] {
			if po.Error != nil {
				return nil, fmt.Errorf("list log-end offset of %s/%d: %w", name, po.Partition, po.Error)
			}
			out[t*l.PartitionsPerTopic+po.Partition] = po.LastOffset
			seen++
		}
		if seen != l.PartitionsPerTopic {
			return nil, fmt.Errorf("list log-end offsets of %s: %d partitions answered, want %d", name, seen, l.PartitionsPerTopic)
		}
	}
	return out, nil
}

// produce appends n small messages to one partition in one request,
// retrying what Kafka calls retriable (no leader yet right after creation).
func produce(ctx context.Context, c *kafka.Client, topic string, partition int, from, n int64) error {
	recs := make([]kafka.Record, n)
	for i := range recs {
		recs[i] = kafka.Record{Value: kafka.NewBytes([]byte("lagbench message " + strconv.FormatInt(from+int64(i), 10)))}
	}
	return retry(ctx, func() error {
		res, err := c.Produce(ctx, &kafka.ProduceRequest{
			Topic: topic, Partition: partition, RequiredAcks: kafka.RequireAll,
			Records: kafka.NewRecordReader(recs...),
		})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			return fmt.Errorf("produce %d messages to %s/%d: %w", n, topic, partition, err)
		}
		return nil
	})
}

// commitOffsets commits one group's offsets without joining the group.
func commitOffsets(ctx context.Context, c *kafka.Client, group string, cs []commit) error {
	topics := map[string][]kafka.OffsetCommit{}
	for _, cm := range cs {
		topics[cm.Topic] = append(topics[cm.Topic], kafka.OffsetCommit{Partition: cm.Partition, Offset: cm.Offset})
	}
	return retry(ctx, func() error {
		res, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: topics})
		if err != nil {
			return fmt.Errorf("commit offsets for group %q: %w", group, err)
		}
		for topic, ps := range res.Topics {
			for _, p := range ps {
				if p.Error != nil {
					return fmt.Errorf("commit offset for group %q topic %q partition %d: %w", group, topic, p.Partition, p.Error)
				}
			}
		}
		return nil
	})
}

// retry runs f until it succeeds, fails with an error Kafka does not call
// retriable, or 50 attempts (about 10 s) have passed.
func retry(ctx context.Context, f func() error) error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = f(); err == nil || !retriable(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	return err
}

func retriable(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

// forEach calls f for 0..n-1 with at most limit calls in flight, and returns
// the first error; after an error no new call starts.
func forEach(ctx context.Context, n, limit int, f func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	sem := make(chan struct{}, max(limit, 1))
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// cleanup deletes the benchmark's groups, then its topics. Groups that are
// already gone are no error.
func cleanup(ctx context.Context, c *kafka.Client, l layout, log *slog.Logger) error {
	var errs []error
	groups := l.groupNames()
	deleted := 0
	const chunk = 250
	for start := 0; start < len(groups); start += chunk {
		ids := groups[start:min(start+chunk, len(groups))]
		res, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: ids})
		if err != nil {
			errs = append(errs, fmt.Errorf("delete groups %s..%s: %w", ids[0], ids[len(ids)-1], err))
			continue
		}
		for _, id := range ids {
			switch err := res.Errors[id]; {
			case err == nil:
				deleted++
			case errors.Is(err, kafka.GroupIdNotFound):
			case errors.Is(err, kafka.NotCoordinatorForGroup):
				// A chunk goes to the first group's coordinator; on a
				// cluster of several brokers the others are asked one by one.
				one, err := c.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: []string{id}})
				if err == nil {
					err = one.Errors[id]
				}
				if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
					errs = append(errs, fmt.Errorf("delete group %q: %w", id, err))
				} else {
					deleted++
				}
			default:
				errs = append(errs, fmt.Errorf("delete group %q: %w", id, err))
			}
		}
	}
	res, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: l.topicNames()})
	topics := 0
	if err != nil {
		errs = append(errs, fmt.Errorf("delete topics: %w", err))
	} else {
		for _, name := range l.topicNames() {
			switch err := res.Errors[name]; {
			case err == nil:
				topics++
			case errors.Is(err, kafka.UnknownTopicOrPartition):
			default:
				errs = append(errs, fmt.Errorf("delete topic %s: %w", name, err))
			}
		}
	}
	log.Info("cleaned up", "groups_deleted", deleted, "topics_deleted", topics)
	return errors.Join(errs...)
}
