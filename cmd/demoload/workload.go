package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// progressEvery is how often a running role logs what it did.
const progressEvery = 30 * time.Second

// runWorkload makes sure the topic exists, then runs every role of cfg until
// ctx ends. A role that fails ends the others; the stop role ending by itself
// is not a failure.
func runWorkload(ctx context.Context, cfg config, log *slog.Logger) error {
	n, err := ensureTopic(ctx, cfg, log)
	if err != nil {
		return err
	}
	cfg.Partitions = n // an existing topic may have another count
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(cfg.Roles))
	var wg sync.WaitGroup
	for i, role := range cfg.Roles {
		wg.Go(func() {
			if err := runRole(ctx, cfg, role, log.With("role", role)); err != nil {
				errs[i] = fmt.Errorf("role %s: %w", role, err)
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func runRole(ctx context.Context, cfg config, role string, log *slog.Logger) error {
	switch role {
	case "producer":
		return produce(ctx, cfg, log)
	case "healthy":
		return consumeForever(ctx, cfg, role, 0, log)
	case "slow":
		return consumeForever(ctx, cfg, role, time.Duration(float64(time.Second)/cfg.SlowRate), log)
	case "stall":
		return stall(ctx, cfg, log)
	case "stop":
		return stop(ctx, cfg, log)
	}
	return fmt.Errorf("unknown role %q", role)
}

// ensureTopic creates the topic with cfg.Partitions partitions and the
// broker's default replication factor unless it exists, waits until every
// partition has a leader (a group that joins before the partitions are known
// would be assigned none), and returns the topic's partition count.
func ensureTopic(ctx context.Context, cfg config, log *slog.Logger) (int, error) {
	c := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: cfg.Topic, NumPartitions: cfg.Partitions, ReplicationFactor: -1,
	}}})
	if err == nil {
		err = resp.Errors[cfg.Topic]
	}
	switch {
	case errors.Is(err, kafka.TopicAlreadyExists):
		log.Info("topic exists", "topic", cfg.Topic)
	case err != nil:
		return 0, fmt.Errorf("create topic %q: %w", cfg.Topic, err)
	default:
		log.Info("topic created", "topic", cfg.Topic, "partitions", cfg.Partitions)
	}

	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{cfg.Topic}})
		if err == nil && len(md.Topics) == 1 {
			err = md.Topics[0].Error
			if err == nil && allLed(md.Topics[0].Partitions) {
				return len(md.Topics[0].Partitions), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("wait for leaders of topic %q: %w (last error: %v)", cfg.Topic, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func allLed(ps []kafka.Partition) bool {
	for _, p := range ps {
		if p.Error != nil || p.Leader.ID < 0 {
			return false
		}
	}
	return len(ps) > 0
}

// produce writes cfg.Rate messages per second, spread round-robin over the
// partitions, until ctx ends. A failed write is logged and not repeated:
// the pace stays steady.
func produce(ctx context.Context, cfg config, log *slog.Logger) error {
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Topic: cfg.Topic,
		Balancer:     &kafka.RoundRobin{},
		BatchTimeout: 10 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
		ErrorLogger:  kafkaLogger(log),
	}
	defer w.Close()

	// Every tick writes the messages due since the start, so the rate holds
	// whatever it is, and a slow write is caught up on at the next tick.
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	var sent, failed int64
	for {
		select {
		case <-ctx.Done():
			log.Info("producer stopped", "topic", cfg.Topic, "messages", sent, "failed", failed)
			return nil
		case <-progress.C:
			log.Info("produced", "topic", cfg.Topic, "messages", sent, "failed", failed)
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds()*cfg.Rate) - sent - failed
			if due <= 0 {
				continue
			}
			msgs := make([]kafka.Message, due)
			for i := range msgs {
				n := sent + failed + int64(i)
				msgs[i] = kafka.Message{
					Key:   []byte("order-" + strconv.FormatInt(n, 10)),
					Value: fmt.Appendf(nil, `{"order":%d,"at":%q}`, n, now.UTC().Format(time.RFC3339Nano)),
				}
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				if ctx.Err() != nil {
					continue
				}
				failed += due
				log.Warn("produce failed", "topic", cfg.Topic, "messages", due, "err", err)
				continue
			}
			sent += due
		}
	}
}

// newReader joins role's consumer group. Commits are synchronous, one per
// message, so that the committed offset is where the consumer really is;
// a new group starts at the oldest message. With MinBytes 1 the broker
// answers a fetch as soon as a message arrives: MaxWait bounds only an idle
// fetch, and a short one turns any pause of the broker into read timeouts.
func newReader(cfg config, role string, log *slog.Logger) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers: cfg.Brokers, GroupID: cfg.group(role), Topic: cfg.Topic,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 2 * time.Second,
		StartOffset: kafka.FirstOffset, CommitInterval: 0,
		HeartbeatInterval: 3 * time.Second, SessionTimeout: 30 * time.Second,
		ErrorLogger: kafkaLogger(log),
	})
}

// consumeForever reads and commits until ctx ends, at most one message per
// every (no limit when 0).
func consumeForever(ctx context.Context, cfg config, role string, every time.Duration, log *slog.Logger) error {
	r := newReader(cfg, role, log)
	defer r.Close()
	log.Info("consuming", "group", cfg.group(role), "topic", cfg.Topic, "every", every)
	_, err := consume(ctx, r, every, 0, 0, log)
	return err
}

// stall reads a little, then stops reading while it stays in its group: the
// reader keeps heartbeating, its committed offsets stay where they are.
func stall(ctx context.Context, cfg config, log *slog.Logger) error {
	r := newReader(cfg, "stall", log)
	defer r.Close()
	group := cfg.group("stall")
	n, err := consume(ctx, r, 0, cfg.ReadFirst, cfg.Partitions, log)
	if err != nil || ctx.Err() != nil {
		return err
	}
	log.Info("stalled: a member of the group that reads nothing more", "group", group, "messages", n)
	<-ctx.Done()
	return nil
}

// stop reads a little, then leaves its group and ends: the committed
// offsets stay, with no member behind them.
func stop(ctx context.Context, cfg config, log *slog.Logger) error {
	r := newReader(cfg, "stop", log)
	group := cfg.group("stop")
	n, err := consume(ctx, r, 0, cfg.ReadFirst, cfg.Partitions, log)
	if cerr := r.Close(); err == nil && ctx.Err() == nil && cerr != nil {
		return fmt.Errorf("leave group %q: %w", group, cerr)
	}
	if err != nil || ctx.Err() != nil {
		return err
	}
	log.Info("stopped: left the group for good", "group", group, "messages", n)
	return nil
}

// consume fetches and commits messages one at a time, at most one per every
// (no limit when 0). With few > 0 it returns once it has committed at least
// few messages and one from each of partitions partitions, so that every
// partition shows the verdict; otherwise, and in any case, when ctx ends,
// which is not an error. It returns the number of messages committed.
func consume(ctx context.Context, r *kafka.Reader, every time.Duration, few, partitions int, log *slog.Logger) (int64, error) {
	var limit <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		limit = t.C
	}
	progress := time.NewTicker(progressEvery)
	defer progress.Stop()
	group := r.Config().GroupID
	seen := map[int]bool{}
	var n int64
	for few == 0 || n < int64(few) || len(seen) < partitions {
		if limit != nil {
			select {
			case <-ctx.Done():
				return n, nil
			case <-limit:
			}
		}
		m, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("fetch for group %q: %w", group, err)
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			if ctx.Err() != nil {
				return n, nil
			}
			// A commit lost to a rebalance is made good by the next one.
			log.Warn("commit failed", "group", group, "topic", m.Topic, "partition", m.Partition, "err", err)
			continue
		}
		n++
		seen[m.Partition] = true
		select {
		case <-progress.C:
			log.Info("consumed", "group", group, "topic", m.Topic, "messages", n)
		default:
		}
	}
	return n, nil
}

// kafkaLogger passes kafka-go's error messages to log as warnings.
func kafkaLogger(log *slog.Logger) kafka.LoggerFunc {
	return func(msg string, args ...any) {
		log.Warn("kafka client", "err", fmt.Sprintf(msg, args...))
	}
}
