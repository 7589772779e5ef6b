package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/listgroups"
)

// Listing groups, and the groups of a coordinator that does not answer.
//
// Every broker is asked for the groups it coordinates, one ListGroups
// each: a broker that fails costs its own groups only, and is recorded in
// Snapshot.BrokerErrors. Its groups are not lost silently, though: the
// Source remembers which groups each coordinator listed at the previous
// tick (memory), and a group whose coordinator then did not list its
// groups this tick (its ListGroups failed, or it left the metadata), and
// that no other broker listed, is carried: one FindCoordinator for all
// such groups says where each lives now. A group whose coordinator now is
// a broker that answered ListGroups is read there as usual: the group
// moved when its old coordinator failed, and the new one listed before it
// had loaded the group; or its coordinator is up but answered
// COORDINATOR_LOAD_IN_PROGRESS for its listing, and says per group which
// ones it has loaded. Every other carried group is in the snapshot with
// its id, its previous protocol type and its previous partitions, and Err
// ("coordinator N did not answer ListGroups: ..."): unknown this tick, not
// gone. It stays carried as long as its coordinator cannot be asked.
//
// The groups of a broker that fails at the first tick, or that had none at
// the previous one, are unknown to the Source: only the broker's error
// tells of them. A group that moved at the previous tick to a broker that
// then fails, and that its old coordinator no longer lists, is not carried
// either (its previous coordinator answered).

// memory is what one Take leaves for the next.
type memory struct {
	// groups are the groups each coordinator listed, or was found to
	// coordinate, by broker id.
	groups map[int32][]knownGroup
	// partitions are each group's partitions, topic by topic, in the
	// snapshot's order: 4 bytes a group-partition, all in one array.
	partitions map[string][]topicPartitions
}

type knownGroup struct{ id, protocolType string }

// topicPartitions are partitions of one topic.
type topicPartitions struct {
	topic      string
	partitions []int32
}

func (r *Source) remembered() memory {
	r.lastMu.Lock()
	defer r.lastMu.Unlock()
	return r.last
}

// remember keeps, for the next Take, where each group of groups lives and
// its partitions. Groups gone since they were listed (Dead, with nothing
// failed) are forgotten.
func (r *Source) remember(t *tick, groups []snapshot.Group) {
	n := 0
	for i := range groups {
		n += len(groups[i].Partitions)
	}
	all := make([]int32, 0, n)
	next := memory{groups: map[int32][]knownGroup{}, partitions: make(map[string][]topicPartitions, len(groups))}
	for i := range groups {
		g := &groups[i]
		if g.State == "Dead" && g.Err == nil {
			continue
		}
		c := t.coordinatorOf(g.ID)
		next.groups[c] = append(next.groups[c], knownGroup{g.ID, g.ProtocolType})
		var byTopic []topicPartitions
		for j, p := range g.Partitions {
			start := len(all)
			all = append(all, p.Partition)
			if j > 0 && p.Topic == g.Partitions[j-1].Topic {
				last := &byTopic[len(byTopic)-1]
				last.partitions = all[len(all)-len(last.partitions)-1 : len(all) : len(all)]
				continue
			}
			byTopic = append(byTopic, topicPartitions{topic: p.Topic, partitions: all[start:len(all):len(all)]})
		}
		if byTopic != nil {
			next.partitions[g.ID] = byTopic
		}
	}
	r.lastMu.Lock()
	r.last = next
	r.lastMu.Unlock()
}

// list fills s.Groups, in name order, with the groups every broker of md
// lists and those carried from last, and s.BrokerErrors with the brokers
// whose ListGroups failed. It returns the carried groups that could not be
// found at a coordinator that answered, each with why. It fails only when
// no broker answered.
func (t *tick) list(ctx context.Context, md *kafka.MetadataResponse, last memory, s *snapshot.Snapshot) (map[string]error, error) {
	ids := make([]int32, 0, len(md.Brokers))
	for _, b := range md.Brokers {
		ids = append(ids, int32(b.ID))
		t.inMetadata[int32(b.ID)] = true
	}
	slices.Sort(ids)
	listings := t.listGroups(ctx, ids)

	seen := map[string]bool{}
	var errs []error
	var answeredCode []int32
	for i, b := range ids {
		l := listings[i]
		if l.err != nil {
			t.unlisted[b] = l.err
			if failed, _ := noAnswer(l.err); failed {
				t.down[b] = l.err
			} else {
				answeredCode = append(answeredCode, b)
			}
			s.BrokerErrors = append(s.BrokerErrors, snapshot.BrokerError{Broker: b, Err: fmt.Errorf("list groups on broker %d: %w", b, l.err)})
			errs = append(errs, fmt.Errorf("broker %d: %w", b, l.err))
			continue
		}
		t.answered = append(t.answered, b)
		for _, g := range l.groups {
			if seen[g.GroupID] || (t.r.filter != nil && !t.r.filter(g.GroupID)) {
				continue
			}
			seen[g.GroupID] = true
			s.Groups = append(s.Groups, snapshot.Group{ID: g.GroupID, ProtocolType: g.ProtocolType})
			t.coordinator[g.GroupID] = b
		}
	}
	t.answered = append(t.answered, answeredCode...)
	if len(t.answered) == 0 {
		return nil, fmt.Errorf("no broker answered ListGroups: %w", errors.Join(errs...))
	}

	carried := map[string]error{}
	for _, c := range slices.Sorted(maps.Keys(last.groups)) {
		why := t.unusable(c, true)
		if why == nil {
			continue
		}
		for _, g := range last.groups[c] {
			if seen[g.id] {
				continue
			}
			seen[g.id] = true
			s.Groups = append(s.Groups, snapshot.Group{ID: g.id, ProtocolType: g.protocolType})
			t.coordinator[g.id] = c
			carried[g.id] = why
		}
	}
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].ID < s.Groups[j].ID })
	return t.relocate(ctx, carried), nil
}

// brokerListing is one broker's ListGroups answer.
type brokerListing struct {
	groups []listgroups.ResponseGroup
	err    error
}

// listGroups asks each broker of ids, all at once, for the groups it
// coordinates, and returns the answers in the order of ids. A request that
// got no answer (but did not time out), and an answer of
// COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE, are asked
// again of the same broker.
func (t *tick) listGroups(ctx context.Context, ids []int32) []brokerListing {
	out := make([]brokerListing, len(ids))
	var wg sync.WaitGroup
	for i, b := range ids {
		wg.Go(func() {
			for attempt := 1; ; attempt++ {
				res, err := t.send(ctx, &brokerListGroups{toBroker: toBroker{b}})
				if err == nil {
					lg := res.(*listgroups.Response)
					if lg.ErrorCode == 0 {
						out[i].groups = lg.Groups
						return
					}
					err = kafka.Error(lg.ErrorCode)
				}
				if !retriable(err) || attempt == maxAttempts || !pause(ctx, retryPause(attempt)) {
					out[i].err = err
					return
				}
				t.retries.Add(1)
			}
		})
	}
	wg.Wait()
	return out
}

// relocate finds the coordinators of the carried groups, one
// FindCoordinator for all. A group whose coordinator answered ListGroups
// this tick (with its groups, or with an error code such as
// COORDINATOR_LOAD_IN_PROGRESS: it is up, and says per group whether it
// has loaded it) is left to be read there; the others are returned, each
// with why it is unknown.
func (t *tick) relocate(ctx context.Context, carried map[string]error) map[string]error {
	if len(carried) == 0 {
		return nil
	}
	found, errs := t.findCoordinators(ctx, slices.Sorted(maps.Keys(carried)))
	unknown := map[string]error{}
	for id, why := range carried {
		c, ok := found[id]
		switch {
		case errs[id] != nil:
			unknown[id] = errors.Join(why, errs[id])
		case !ok:
			unknown[id] = why
		default:
			if now := t.unusable(c, false); now != nil {
				// Still (or now) at a coordinator that cannot be asked.
				unknown[id] = now
			}
			t.setCoordinator(id, c)
		}
	}
	return unknown
}
