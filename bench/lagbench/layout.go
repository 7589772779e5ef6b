package main

import (
	"errors"
	"fmt"
	"regexp"
)

// layout is the shape of the benchmark's data: which topics exist, which
// partitions each group commits to and at which offset. It is pure: seeding,
// checking and cleaning up all derive their names and numbers from it.
//
// Partitions are numbered globally, topic by topic: global index i is
// partition i%PartitionsPerTopic of topic i/PartitionsPerTopic. Group g
// commits to the GroupPartitions/Groups consecutive global indices that
// follow group g-1's (wrapping around), so every partition is shared by
// about GroupPartitions/Partitions() groups and most groups span one or two
// topics.
type layout struct {
	Prefix             string
	Topics             int
	PartitionsPerTopic int
	Groups             int
	GroupPartitions    int
	// Messages is the number of messages in every partition; committed
	// offsets lie in [0, Messages], so lags do too.
	Messages int64
}

// topicNameRE is what Kafka accepts in a topic name (at most 249 bytes).
var topicNameRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

func (l layout) validate() error {
	var errs []error
	if !topicNameRE.MatchString(l.Prefix) || len(l.Prefix) > 200 {
		errs = append(errs, fmt.Errorf("-prefix %q: letters, digits, '.', '_' and '-' only, at most 200 bytes", l.Prefix))
	}
	if l.Topics < 1 || l.PartitionsPerTopic < 1 {
		errs = append(errs, errors.New("-topics and -partitions-per-topic must be at least 1"))
	}
	if l.Groups < 1 {
		errs = append(errs, errors.New("-groups must be at least 1"))
	}
	if l.GroupPartitions < l.Groups {
		errs = append(errs, fmt.Errorf("-group-partitions %d: at least one per group (%d)", l.GroupPartitions, l.Groups))
	}
	if l.Groups > 0 && l.Topics > 0 && l.PartitionsPerTopic > 0 {
		if per := (l.GroupPartitions + l.Groups - 1) / l.Groups; per > l.Partitions() {
			errs = append(errs, fmt.Errorf("a group would commit to %d partitions but there are only %d", per, l.Partitions()))
		}
	}
	if l.Messages < 1 {
		errs = append(errs, errors.New("-messages must be at least 1"))
	}
	return errors.Join(errs...)
}

// Partitions is the number of partitions over all topics.
func (l layout) Partitions() int { return l.Topics * l.PartitionsPerTopic }

func (l layout) topicName(t int) string { return fmt.Sprintf("%s-t%03d", l.Prefix, t) }

func (l layout) topicNames() []string { return names(l.Topics, l.topicName) }

func (l layout) groupName(g int) string { return fmt.Sprintf("%s-g%05d", l.Prefix, g) }

func (l layout) groupNames() []string { return names(l.Groups, l.groupName) }

// names lists name(0) to name(n-1).
func names(n int, name func(int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = name(i)
	}
	return out
}

// groupPattern is the KAFKA_GROUP_ALLOW pattern that selects exactly the
// benchmark's groups.
func (l layout) groupPattern() string {
	return "^" + regexp.QuoteMeta(l.Prefix+"-g") + `[0-9]+$`
}

// topicPartition locates global partition index i.
func (l layout) topicPartition(i int) (topic string, partition int) {
	return l.topicName(i / l.PartitionsPerTopic), i % l.PartitionsPerTopic
}

// commit is one offset a group commits.
type commit struct {
	Topic     string
	Partition int
	Offset    int64
}

// commits lists what group g commits, in global partition order from its
// first partition. The spread of lags (0 to Messages) is deterministic so
// that every run of the benchmark stores the same numbers.
func (l layout) commits(g int) []commit {
	first := g * l.GroupPartitions / l.Groups
	next := (g + 1) * l.GroupPartitions / l.Groups
	out := make([]commit, 0, next-first)
	for k := first; k < next; k++ {
		i := k % l.Partitions()
		topic, p := l.topicPartition(i)
		lag := int64(g*7+i*13) % (l.Messages + 1)
		out = append(out, commit{Topic: topic, Partition: p, Offset: l.Messages - lag})
	}
	return out
}
