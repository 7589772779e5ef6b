package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// nineGroups starts a kfake cluster of three brokers with the topic
// "orders" (three partitions of five records) and nine groups g0 to g8,
// each committed at 1, 2 and 3 on the three partitions, and returns it with
// a Source for it.
func nineGroups(ctx context.Context, t *testing.T) (*kfake.Cluster, *Source) {
	t.Helper()
	commits := map[string][]kafka.OffsetCommit{}
	for i := range 9 {
		commits[fmt.Sprintf("g%d", i)] = []kafka.OffsetCommit{{Partition: 0, Offset: 1}, {Partition: 1, Offset: 2}, {Partition: 2, Offset: 3}}
	}
	c, addr := fakeOrders(ctx, t, 3, []int{5, 5, 5}, commits)
	return c, fakeSource(t, addr, "")
}

// complete reports whether g was read whole: no error, its three partitions
// committed and with log offsets.
func complete(g snapshot.Group) bool {
	if g.Err != nil || len(g.Partitions) != 3 {
		return false
	}
	for _, p := range g.Partitions {
		if p.Err != nil || !p.HasCommitted || !p.HasOffsets || p.Committed != int64(p.Partition)+1 {
			return false
		}
	}
	return true
}

// groupsOf maps a snapshot's groups by id.
func groupsOf(s snapshot.Snapshot) map[string]snapshot.Group {
	out := map[string]snapshot.Group{}
	for _, g := range s.Groups {
		out[g.ID] = g
	}
	return out
}

// TestListGroupsRetried: a broker whose ListGroups answers
// COORDINATOR_LOAD_IN_PROGRESS (or COORDINATOR_NOT_AVAILABLE) twice is
// asked again within the tick and its groups are listed. One that keeps
// answering so is a broker error; the groups it listed at the previous
// tick are carried, found at it (FindCoordinator), and read there group by
// group, since it is up. At the first tick there is no previous one: its
// groups are missing, and only its error tells of them.
func TestListGroupsRetried(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       *kerr.Error
		count     int
		firstTick bool // the fault is there from the first tick
	}{
		{"loading, twice", kerr.CoordinatorLoadInProgress, 2, false},
		{"not available, twice", kerr.CoordinatorNotAvailable, 2, false},
		{"loading, all tick long", kerr.CoordinatorLoadInProgress, -1, false},
		{"loading, all tick long, at the first tick", kerr.CoordinatorLoadInProgress, -1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, r := nineGroups(ctx, t)
			if !tc.firstTick {
				if s := r.Take(ctx, time.Now()); s.Err != nil || len(s.Groups) != 9 {
					t.Fatalf("first tick: %v, %d groups", s.Err, len(s.Groups))
				}
			}
			loading := c.CoordinatorFor("g0")
			c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.ListGroups}, Nodes: []int32{loading}, TopLevel: true, Err: tc.err, Count: tc.count})

			s := r.Take(ctx, time.Now())
			if s.Err != nil {
				t.Fatalf("cluster error: %v", s.Err)
			}
			var ofLoading int
			for i := range 9 {
				if c.CoordinatorFor(fmt.Sprintf("g%d", i)) == loading {
					ofLoading++
				}
			}
			groups := groupsOf(s)
			wantGroups := 9
			if tc.firstTick {
				wantGroups -= ofLoading
			}
			if len(groups) != wantGroups {
				t.Errorf("%d groups, want %d (%d of them on the loading broker %d)", len(groups), wantGroups, ofLoading, loading)
			}
			for id, g := range groups {
				if !complete(g) {
					t.Errorf("group %s not read whole: %v %+v", id, g.Err, g.Partitions)
				}
			}
			by := s.Stats.RequestsByType
			if s.Stats.Retries != 2 || by["ListGroups"] != 5 {
				t.Errorf("retries %d, requests %v; want 2 retries, 5 ListGroups (3 brokers, the loading one thrice)", s.Stats.Retries, by)
			}
			if tc.count > 0 {
				if len(s.BrokerErrors) != 0 {
					t.Errorf("broker errors %+v after a retry that succeeded", s.BrokerErrors)
				}
				return
			}
			if len(s.BrokerErrors) != 1 || s.BrokerErrors[0].Broker != loading || !errors.Is(s.BrokerErrors[0].Err, kafka.GroupLoadInProgress) || s.Stats.BrokerErrors != 1 {
				t.Errorf("broker errors %+v (%d); want broker %d loading", s.BrokerErrors, s.Stats.BrokerErrors, loading)
			}
			if wantFind := map[bool]int64{false: 1, true: 0}[tc.firstTick]; by["FindCoordinator"] != wantFind {
				t.Errorf("%d FindCoordinator, want %d: the carried groups are looked up at once", by["FindCoordinator"], wantFind)
			}
		})
	}
}

// TestCoordinatorErrorsRetried: DescribeGroups or OffsetFetch answering a
// group NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or
// COORDINATOR_LOAD_IN_PROGRESS once costs one FindCoordinator and one more
// request within the tick, and the group is read whole.
func TestCoordinatorErrorsRetried(t *testing.T) {
	for _, key := range []kmsg.Key{kmsg.DescribeGroups, kmsg.OffsetFetch} {
		for _, code := range []*kerr.Error{kerr.NotCoordinator, kerr.CoordinatorNotAvailable, kerr.CoordinatorLoadInProgress} {
			t.Run(key.Name()+" "+code.Message, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				c, r := nineGroups(ctx, t)
				c.Fault(kfake.Fault{Keys: []kmsg.Key{key}, Group: "g4", Err: code})

				s := r.Take(ctx, time.Now())
				if s.Err != nil || len(s.Groups) != 9 {
					t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
				}
				for _, g := range s.Groups {
					if !complete(g) || g.State == "" {
						t.Errorf("group %s not read whole: state %q, %v %+v", g.ID, g.State, g.Err, g.Partitions)
					}
				}
				by := s.Stats.RequestsByType
				if s.Stats.Retries != 1 || by["FindCoordinator"] != 1 {
					t.Errorf("retries %d, requests %v; want one retry after one FindCoordinator", s.Stats.Retries, by)
				}
			})
		}
	}
}

// TestOffsetFetchFindsMovedCoordinator: the coordinators move (kfake rehashes
// them) between the listing and the offset fetch, so the old coordinators
// answer NOT_COORDINATOR for the groups that moved; those are looked up
// again and their offsets read within the tick.
func TestOffsetFetchFindsMovedCoordinator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, r := nineGroups(ctx, t)
	before := map[string]int32{}
	for i := range 9 {
		before[fmt.Sprintf("g%d", i)] = c.CoordinatorFor(fmt.Sprintf("g%d", i))
	}
	moved := false
	c.ControlKey(kmsg.OffsetFetch.Int16(), func(kmsg.Request) (kmsg.Response, error, bool) {
		if !moved {
			moved = true
			c.RehashCoordinators()
		}
		return nil, nil, false // answered by kfake, from the new coordinators
	})

	s := r.Take(ctx, time.Now())
	if s.Err != nil || len(s.Groups) != 9 {
		t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
	}
	movedGroups := 0
	for id, was := range before {
		if c.CoordinatorFor(id) != was {
			movedGroups++
		}
	}
	if movedGroups == 0 {
		t.Fatal("no group moved with the rehash: the test proves nothing")
	}
	for _, g := range s.Groups {
		if !complete(g) {
			t.Errorf("group %s not read whole: %v %+v", g.ID, g.Err, g.Partitions)
		}
	}
	if s.Stats.Retries < movedGroups || s.Stats.RequestsByType["FindCoordinator"] < 1 {
		t.Errorf("retries %d, requests %v; want a retry for each of the %d groups that moved", s.Stats.Retries, s.Stats.RequestsByType, movedGroups)
	}
}

// TestNotLeaderReadsLeadersAgain: a partition's leader moves after the
// transport cached the metadata; the old leader answers ListOffsets with
// NOT_LEADER_OR_FOLLOWER, the leaders are read again (one Metadata request,
// past the cache) and the new leader is asked within the tick.
func TestNotLeaderReadsLeadersAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, r := nineGroups(ctx, t)
	r.transport.(*kafka.Transport).MetadataTTL = time.Hour // the cache stays as the first tick read it
	if s := r.Take(ctx, time.Now()); s.Err != nil || len(s.Groups) != 9 || !complete(s.Groups[0]) {
		t.Fatalf("first tick: %v %+v", s.Err, s.Groups)
	}
	leaders := map[int32]bool{}
	for p := range int32(3) {
		leaders[c.LeaderFor("orders", p)] = true
	}
	old := c.LeaderFor("orders", 1)
	if err := c.MoveTopicPartition("orders", 1, (old+1)%3); err != nil {
		t.Fatal(err)
	}

	s := r.Take(ctx, time.Now())
	if s.Err != nil || len(s.Groups) != 9 {
		t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
	}
	for _, g := range s.Groups {
		if !complete(g) {
			t.Errorf("group %s not read whole: %v %+v", g.ID, g.Err, g.Partitions)
		}
	}
	// Three ListOffsets per leader of the cached metadata, then three to
	// the new leader.
	if by := s.Stats.RequestsByType; s.Stats.Retries != 1 || by["Metadata"] != 1 || by["ListOffsets"] != int64(3*len(leaders)+3) {
		t.Errorf("retries %d, requests %v; want one retry, one Metadata, %d ListOffsets", s.Stats.Retries, by, 3*len(leaders)+3)
	}
}

// TestSilentBroker: a broker that accepts requests and never answers costs
// one request timeout and its own items: its groups (carried from the
// previous tick, with Err) and its partitions' log offsets. The other
// groups are read whole, and the tick ends long before its context would.
func TestSilentBroker(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, r := nineGroups(ctx, t)
	r.requestTimeout = time.Second
	if s := r.Take(ctx, time.Now()); s.Err != nil || len(s.Groups) != 9 {
		t.Fatalf("first tick: %v %+v", s.Err, s.Groups)
	}
	silent := c.CoordinatorFor("g0")
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		if c.CurrentNode() != silent {
			return nil, nil, false
		}
		c.KeepControl()
		return nil, nil, true // read, never answered
	})

	start := time.Now()
	s := r.Take(ctx, time.Now())
	took := time.Since(start)
	if s.Err != nil || len(s.Groups) != 9 {
		t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
	}
	// One timeout for ListGroups; every later request to the broker fails
	// at once. A bound far below the test's context: without the request
	// timeout the tick would wait for it.
	if took > 15*time.Second {
		t.Errorf("the tick took %s with a request timeout of 1s", took)
	}
	if len(s.BrokerErrors) != 1 || s.BrokerErrors[0].Broker != silent || !strings.Contains(s.BrokerErrors[0].Err.Error(), "no answer within 1s") {
		t.Errorf("broker errors %+v; want broker %d without an answer", s.BrokerErrors, silent)
	}
	ledBySilent := map[int32]bool{}
	for p := range int32(3) {
		ledBySilent[p] = c.LeaderFor("orders", p) == silent
	}
	for _, g := range s.Groups {
		if c.CoordinatorFor(g.ID) == silent {
			if g.Err == nil || !strings.Contains(g.Err.Error(), fmt.Sprintf("coordinator %d did not answer ListGroups", silent)) || len(g.Partitions) != 3 {
				t.Errorf("group %s of the silent broker: %v, %d partitions; want carried with its error and its 3 partitions", g.ID, g.Err, len(g.Partitions))
			}
			for _, p := range g.Partitions {
				if p.HasCommitted || p.Err == nil || !strings.Contains(p.Err.Error(), "committed offset unknown") {
					t.Errorf("group %s partition %d: %+v; want its commit unknown", g.ID, p.Partition, p)
				}
			}
			continue
		}
		if g.Err != nil || len(g.Partitions) != 3 {
			t.Errorf("group %s: %v, %d partitions", g.ID, g.Err, len(g.Partitions))
			continue
		}
		for _, p := range g.Partitions {
			if ledBySilent[p.Partition] == p.HasOffsets || !p.HasCommitted {
				t.Errorf("group %s partition %d: %+v; log offsets read %v, want %v", g.ID, p.Partition, p, p.HasOffsets, !ledBySilent[p.Partition])
			}
		}
	}
}

// TestBrokerListGroupsFails: three brokers, one of which fails every
// ListGroups (kfake closes the connection). Its groups of the previous
// tick are carried, with their partitions, as unknown (the FindCoordinator
// lookup still names the failing broker); the others are read whole. Then
// the coordinators move, and a group the failing broker coordinated now
// lives on a broker that answers ListGroups before it has loaded that
// group: the lookup finds it there, and it is read as usual.
func TestBrokerListGroupsFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, r := nineGroups(ctx, t)
	first := r.Take(ctx, time.Now())
	if first.Err != nil || len(first.Groups) != 9 {
		t.Fatalf("first tick: %v %+v", first.Err, first.Groups)
	}
	failing := c.CoordinatorFor("g0")
	var mu sync.Mutex
	var listedBy int32 = -1 // a broker whose listing is listed, when set
	var listed []string
	c.ControlKey(kmsg.ListGroups.Int16(), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		node := c.CurrentNode()
		if node == failing {
			return nil, errors.New("injected"), true
		}
		mu.Lock()
		defer mu.Unlock()
		if node != listedBy {
			return nil, nil, false
		}
		res := req.ResponseKind().(*kmsg.ListGroupsResponse)
		res.Version = req.GetVersion()
		for _, id := range listed {
			lg := kmsg.NewListGroupsResponseGroup()
			lg.Group = id
			res.Groups = append(res.Groups, lg)
		}
		return res, nil, true
	})

	s := r.Take(ctx, time.Now())
	if s.Err != nil || len(s.Groups) != 9 {
		t.Fatalf("snapshot: %v, %d groups", s.Err, len(s.Groups))
	}
	var carried []string
	for _, g := range s.Groups {
		if c.CoordinatorFor(g.ID) != failing {
			if !complete(g) {
				t.Errorf("group %s not read whole: %v %+v", g.ID, g.Err, g.Partitions)
			}
			continue
		}
		carried = append(carried, g.ID)
		want := fmt.Sprintf("coordinator %d did not answer ListGroups", failing)
		if g.Err == nil || !strings.Contains(g.Err.Error(), want) || g.State != "" || len(g.Partitions) != 3 {
			t.Errorf("carried group %s: err %v, state %q, %d partitions; want %q, no state, 3 partitions", g.ID, g.Err, g.State, len(g.Partitions), want)
		}
		for _, p := range g.Partitions {
			if p.HasCommitted || p.Err == nil || !strings.Contains(p.Err.Error(), "committed offset unknown: "+want) {
				t.Errorf("carried group %s partition %d: %+v", g.ID, p.Partition, p)
			}
		}
	}
	if len(s.BrokerErrors) != 1 || s.BrokerErrors[0].Broker != failing || s.Stats.GroupErrors != len(carried) ||
		s.Stats.Retries != 2 || s.Stats.RequestsByType["FindCoordinator"] != 1 {
		t.Errorf("broker errors %+v, %d group errors, %d retries, requests %v; want broker %d, %d group errors (%v), 2 retries, one FindCoordinator",
			s.BrokerErrors, s.Stats.GroupErrors, s.Stats.Retries, s.Stats.RequestsByType, failing, len(carried), carried)
	}

	// The coordinators move until one of the failing broker's groups (g)
	// lives on another broker (to), which lists the groups it now
	// coordinates except g.
	var g string
	var to int32
	for range 20 {
		c.RehashCoordinators()
		for _, id := range carried {
			if now := c.CoordinatorFor(id); now != failing {
				g, to = id, now
			}
		}
		if g != "" {
			break
		}
	}
	if g == "" {
		t.Fatal("no group moved off the failing broker in 20 rehashes")
	}
	mu.Lock()
	listedBy = to
	for i := range 9 {
		if id := fmt.Sprintf("g%d", i); id != g && c.CoordinatorFor(id) == to {
			listed = append(listed, id)
		}
	}
	mu.Unlock()
	s = r.Take(ctx, time.Now())
	moved := groupsOf(s)[g]
	if s.Err != nil || !complete(moved) || moved.State == "" {
		t.Errorf("group %s, moved to broker %d which did not list it: %v, state %q, %+v; want it read whole", g, to, moved.Err, moved.State, moved.Partitions)
	}
}
