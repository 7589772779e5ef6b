package evaluator

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/internal/burrowapi"
	"github.com/lagwatch/lagwatch/pkg/esindex/esindextest"
	"github.com/lagwatch/lagwatch/pkg/evaluate"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
)

// TestSourceOnElasticsearch writes four collector ticks with the esindex
// Writer (g-ok keeps up, g-stop is stopped behind, g-gone is in the first
// tick only) and asks the Source about them, now and at the first tick.
func TestSourceOnElasticsearch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := esindextest.New(ctx, t, "evalapi")
	c, w := h.Client, h.Writer
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	tick := func(i int) time.Time { return t0.Add(time.Duration(i) * 10 * time.Second) }
	const ticks = 4
	for i := range ticks {
		head := int64(100 + 10*i)
		parts := func(committed int64, owner *snapshot.Member) []snapshot.Partition {
			var ps []snapshot.Partition
			for p := range int32(2) {
				ps = append(ps, snapshot.Partition{Topic: "orders", Partition: p, Committed: committed + int64(p), HasCommitted: true,
					LogEnd: head + int64(p), LogStart: 0, HasOffsets: true, Owner: owner})
			}
			return ps
		}
		ok := snapshot.Group{ID: "g-ok", State: "Stable", ProtocolType: "consumer", Members: []snapshot.Member{{MemberID: "m-1", ClientID: "c", Host: "/10.0.0.1"}}}
		ok.Partitions = parts(head, &ok.Members[0])
		s := snapshot.Snapshot{Cluster: "api", Time: tick(i), Groups: []snapshot.Group{ok,
			{ID: "g-stop", State: "Empty", ProtocolType: "consumer", Partitions: parts(5, nil)}}}
		if i == 0 {
			s.Groups = append(s.Groups, snapshot.Group{ID: "g-gone", State: "Empty", ProtocolType: "consumer", Partitions: parts(90, nil)})
		}
		if _, err := w.Write(ctx, s); err != nil {
			t.Fatalf("write tick %d: %v", i, err)
		}
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := Settings{Rules: evaluate.Rules{WindowSize: 3}, MaxAge: time.Hour, NotFoundLookback: 24 * time.Hour, PageSize: 1000, APITimeout: 30 * time.Second}
	src := NewSource(cfg, c)

	if got, err := src.Clusters(ctx, time.Time{}); err != nil || !slices.Equal(got, []string{"api"}) {
		t.Errorf("Clusters: %v, %v; want [api]", got, err)
	}
	// The list is the groups with a window: g-gone is in it while the last
	// 3 ticks include its own, not after (its /lag is NOTFOUND then).
	lists := []struct {
		name   string
		at     time.Time
		want   []string
		reason string
	}{
		{"now", time.Time{}, []string{"g-ok", "g-stop"}, "g-gone is not in the last 3 ticks"},
		{"at g-gone's tick", tick(0), []string{"g-gone", "g-ok", "g-stop"}, "g-gone was there"},
		{"window's last tick with g-gone", tick(2), []string{"g-gone", "g-ok", "g-stop"}, "ticks 0 to 2 are the window"},
		{"window past g-gone", tick(3), []string{"g-ok", "g-stop"}, "ticks 1 to 3 are the window"},
	}
	for _, tc := range lists {
		if got, err := src.Consumers(ctx, tc.at, "api"); err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Consumers %s: %v, %v; want %v: %s", tc.name, got, err, tc.want, tc.reason)
		}
	}
	if _, err := src.Consumers(ctx, time.Time{}, "nope"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("Consumers of an unknown cluster: %v", err)
	}

	consumers := []struct {
		name, group string
		at          time.Time
		want        evaluate.Status
		obs         int // observations per partition in the window
		reason      string
	}{
		{"keeping up", "g-ok", time.Time{}, evaluate.OK, 3, "commits the head"},
		{"stopped", "g-stop", time.Time{}, evaluate.Err, 3, "no member, lag growing"},
		{"deleted", "g-gone", time.Time{}, evaluate.NotFound, 0, "not in the cluster's last 3 ticks"},
		{"deleted, asked at its tick", "g-gone", tick(0), evaluate.OK, 1, "then it was there, one observation"},
	}
	for _, tc := range consumers {
		t.Run(tc.name, func(t *testing.T) {
			got, err := src.Consumer(ctx, tc.at, "api", tc.group)
			if err != nil {
				t.Fatal(err)
			}
			if got.Result.Status != tc.want || got.Result.Group != tc.group {
				t.Errorf("%s: %s, want %s: %s", tc.group, got.Result.Status, tc.want, tc.reason)
			}
			for _, p := range got.Window.Partitions {
				if len(p.Obs) != tc.obs {
					t.Errorf("%s %s/%d: %d observations, want %d", tc.group, p.Topic, p.Partition, len(p.Obs), tc.obs)
				}
			}
			if tc.obs > 0 && len(got.Window.Partitions) != 2 {
				t.Errorf("%s: window of %d partitions, want 2", tc.group, len(got.Window.Partitions))
			}
		})
	}
	if _, err := src.Consumer(ctx, time.Time{}, "api", "never"); !errors.Is(err, burrowapi.ErrGroupNotFound) {
		t.Errorf("unknown group: %v", err)
	}
	if _, err := src.Consumer(ctx, time.Time{}, "nope", "g-ok"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("unknown cluster: %v", err)
	}

	if got, err := src.Topics(ctx, time.Time{}, "api"); err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Errorf("Topics: %v, %v", got, err)
	}
	if got, err := src.Topic(ctx, time.Time{}, "api", "orders"); err != nil || !slices.Equal(got, []int64{130, 131}) {
		t.Errorf("Topic now: %v, %v; want the last tick's [130 131]", got, err)
	}
	if got, err := src.Topic(ctx, tick(1), "api", "orders"); err != nil || !slices.Equal(got, []int64{110, 111}) {
		t.Errorf("Topic at tick 1: %v, %v; want [110 111]", got, err)
	}
	if got, err := src.TopicConsumers(ctx, time.Time{}, "api", "orders"); err != nil || !slices.Equal(got, []string{"g-ok", "g-stop"}) {
		t.Errorf("TopicConsumers now: %v, %v", got, err)
	}
	if got, err := src.TopicConsumers(ctx, tick(0), "api", "orders"); err != nil || !slices.Equal(got, []string{"g-gone", "g-ok", "g-stop"}) {
		t.Errorf("TopicConsumers at tick 0: %v, %v", got, err)
	}
	if _, err := src.Topic(ctx, time.Time{}, "api", "nope"); !errors.Is(err, burrowapi.ErrTopicNotFound) {
		t.Errorf("unknown topic: %v", err)
	}
	if _, err := src.Topics(ctx, time.Time{}, "nope"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("topics of an unknown cluster: %v", err)
	}
	if _, err := src.Topic(ctx, tick(0).Add(-time.Second), "api", "orders"); !errors.Is(err, burrowapi.ErrClusterNotFound) {
		t.Errorf("before the first tick: %v, want the cluster unknown then", err)
	}
}
