package kafkasource

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Failures within a tick.
//
// What fails in a tick is asked again within the same tick only where a
// second attempt may succeed, maxAttempts times in all at most, pausing
// retryPause between rounds, and all within the tick's context:
//
//   - a broker's ListGroups that got no answer, or that answers
//     COORDINATOR_LOAD_IN_PROGRESS or COORDINATOR_NOT_AVAILABLE: again, to
//     that broker (listGroups);
//   - a group that DescribeGroups, ConsumerGroupDescribe or OffsetFetch
//     answers NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or
//     COORDINATOR_LOAD_IN_PROGRESS, or whose request got no answer: its
//     coordinator is looked up again, one FindCoordinator for all such
//     groups, and the group is asked there (eachCoordinator);
//   - a partition that ListOffsets answers with a retriable code
//     (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, ...), or whose request
//     got no answer: the leaders of its topics are read again, one Metadata
//     request, and it is asked of its leader (listLogOffsets).
//
// A request that got no answer is a requestError: the connection was
// refused, reset or closed, the broker is not in the metadata, or it did
// not answer within the request timeout. A broker that lets a request time
// out is silent for the rest of the tick: every further request to it
// fails at once, so that a broker that accepts connections and never
// answers costs one request timeout, and only the items it holds. ListGroups
// is not sent again to a silent broker; a group or partition is, when the
// lookup finds it elsewhere.
//
// What still fails after that is recorded on its item (a broker's
// ListGroups in Snapshot.BrokerErrors, a group's Err, a partition's Err)
// and every retry is counted in Stats.Retries.

// maxAttempts bounds the attempts at one item within a tick.
const maxAttempts = 3

// DefaultRequestTimeout bounds a request's round trip when
// Cluster.RequestTimeout is not set.
const DefaultRequestTimeout = 10 * time.Second

// retryPause is the pause after the attempt-th failed attempt: short, since
// a tick is a few seconds long, and growing a little, for a coordinator
// still loading its groups.
func retryPause(attempt int) time.Duration {
	if attempt <= 1 {
		return 100 * time.Millisecond
	}
	return 250 * time.Millisecond
}

// pause waits d, or until ctx ends; it reports whether it waited d.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-time.After(d): // collected once it fires or is dropped (Go 1.23)
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}

// tick is the state of one Take: which brokers answered, which are silent,
// where each group's coordinator is, and the retries so far.
type tick struct {
	r       *Source
	retries atomic.Int64
	// sem bounds the one-group-per-request offset fetches in flight, for
	// brokers before Kafka 3.0.
	sem chan struct{}

	mu sync.Mutex
	// silent holds the brokers that let a request time out, with its
	// error.
	silent map[int32]error
	// unlisted holds the brokers whose ListGroups failed, with why; down
	// those of them whose ListGroups got no answer at all (the others
	// answered an error code: they are up, and are asked about groups one
	// by one). answered are the brokers whose ListGroups answered, those
	// that listed their groups first, in id order. All are set by list and
	// only read afterwards.
	unlisted map[int32]error
	down     map[int32]error
	answered []int32
	// inMetadata holds the brokers of the tick's metadata.
	inMetadata map[int32]bool
	// coordinator is each group's coordinator, as listed or as found
	// since.
	coordinator map[string]int32
}

func (r *Source) newTick() *tick {
	limit := r.concurrency
	if limit <= 0 {
		limit = 16
	}
	return &tick{r: r, sem: make(chan struct{}, limit), silent: map[int32]error{}, unlisted: map[int32]error{},
		down: map[int32]error{}, inMetadata: map[int32]bool{}, coordinator: map[string]int32{}}
}

func (r *Source) requestTimeoutOrDefault() time.Duration {
	if r.requestTimeout > 0 {
		return r.requestTimeout
	}
	return DefaultRequestTimeout
}

// requestError is a request to one broker that got no answer. It is the
// error of every item the request carried.
type requestError struct {
	broker int32
	// timedOut is set when the broker did not answer within the request
	// timeout, in this request or an earlier one of the tick.
	timedOut bool
	err      error
}

func (e *requestError) Error() string { return e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// noAnswer reports whether err is a requestError, and whether that one
// timed out.
func noAnswer(err error) (failed, timedOut bool) {
	var re *requestError
	if errors.As(err, &re) {
		return true, re.timedOut
	}
	return false, false
}

// retriable reports whether an item that failed with err may succeed when
// asked again of the same broker: a request that got no answer but did not
// time out, or an error code Kafka calls retriable (kafka-go's Temporary).
func retriable(err error) bool {
	if failed, timedOut := noAnswer(err); failed {
		return !timedOut
	}
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

// movable reports whether an item that failed with err may succeed when
// asked again after looking up where it lives now (its coordinator, or its
// leader): any request that got no answer (a silent broker fails at once,
// should the lookup point at it again), or an error code Kafka calls
// retriable.
func movable(err error) bool {
	if failed, _ := noAnswer(err); failed {
		return true
	}
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Temporary()
}

// coordinatorMoved reports whether a group's error code says to look its
// coordinator up again.
func coordinatorMoved(code int16) bool {
	switch kafka.Error(code) {
	case kafka.NotCoordinatorForGroup, kafka.GroupCoordinatorNotAvailable, kafka.GroupLoadInProgress:
		return true
	}
	return false
}

// addressed is a request to one broker: a toBroker type or a rawRequest.
type addressed interface {
	kafka.Request
	target() int32
}

// send sends req to its broker, within the request timeout. A request that
// gets no answer returns a *requestError; one that times out also makes
// its broker silent for the rest of the tick. When ctx ends first, the
// error is ctx's (the tick's time is up, not the broker's fault).
func (t *tick) send(ctx context.Context, req addressed) (kafka.Response, error) {
	b := req.target()
	t.mu.Lock()
	silent := t.silent[b]
	t.mu.Unlock()
	if silent != nil {
		return nil, silent
	}
	timeout := t.r.requestTimeoutOrDefault()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := t.r.transport.RoundTrip(rctx, t.r.addr, req)
	switch {
	case err == nil:
		return res, nil
	case ctx.Err() != nil:
		return nil, err
	case rctx.Err() != nil:
		t.mu.Lock()
		if t.silent[b] == nil {
			t.silent[b] = &requestError{broker: b, timedOut: true,
				err: fmt.Errorf("broker %d did not answer within %v earlier in this tick", b, timeout)}
		}
		t.mu.Unlock()
		return nil, &requestError{broker: b, timedOut: true, err: fmt.Errorf("no answer within %v", timeout)}
	}
	return nil, &requestError{broker: b, err: err}
}

// unusable says why broker b is not to be asked about groups this tick:
// its ListGroups got no answer, it is not in the metadata, or it is
// silent; and, when listing is set, also when its ListGroups answered an
// error code (it did not list its groups: see list). nil when none of
// these holds.
func (t *tick) unusable(b int32, listing bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.down[b] != nil:
		return fmt.Errorf("coordinator %d did not answer ListGroups: %w", b, t.down[b])
	case !t.inMetadata[b]:
		return fmt.Errorf("coordinator %d is not in the cluster metadata", b)
	case t.silent[b] != nil:
		return t.silent[b]
	case listing && t.unlisted[b] != nil:
		return fmt.Errorf("coordinator %d could not list its groups: %w", b, t.unlisted[b])
	}
	return nil
}

// askable returns the brokers to send a lookup to, FindCoordinator or
// Metadata: those whose ListGroups answered and that are not silent, at
// most n, those that listed their groups first.
func (t *tick) askable(n int) []int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []int32
	for _, b := range t.answered {
		if t.silent[b] == nil && len(out) < n {
			out = append(out, b)
		}
	}
	return out
}

func (t *tick) coordinatorOf(group string) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.coordinator[group]
}

func (t *tick) setCoordinator(group string, c int32) {
	t.mu.Lock()
	t.coordinator[group] = c
	t.mu.Unlock()
}

// coordinatorOp sends coordinator c one request (or, for brokers before
// Kafka 3.0, one per group) for the groups ids and applies what it
// answered. It returns the groups it could not read, each with its error:
// every group of a request that got no answer, and every group answered
// with an error code that op does not record itself.
type coordinatorOp func(ctx context.Context, c int32, ids []string) map[string]error

// eachCoordinator runs op for the groups ids, one call per coordinator, all
// coordinators at once. A group op failed for with a request that got no
// answer or a coordinatorMoved code is looked up again (findCoordinators)
// and asked of its coordinator, maxAttempts times in all at most. It
// returns the groups still failing, each with its last error; what names
// the operation in the errors of groups whose coordinator cannot be asked
// ("describe group").
func (t *tick) eachCoordinator(ctx context.Context, what string, ids []string, op coordinatorOp) map[string]error {
	failed := map[string]error{}
	for attempt := 1; len(ids) > 0; attempt++ {
		byCoordinator := map[int32][]string{}
		for _, id := range ids {
			c := t.coordinatorOf(id)
			if err := t.unusable(c, false); err != nil {
				failed[id] = fmt.Errorf("%s %q: %w", what, id, err)
				continue
			}
			byCoordinator[c] = append(byCoordinator[c], id)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		again := map[string]error{}
		for c, cids := range byCoordinator {
			wg.Go(func() {
				errs := op(ctx, c, cids)
				mu.Lock()
				defer mu.Unlock()
				for id, err := range errs {
					if askAgain(err) {
						again[id] = err
					} else {
						failed[id] = err
					}
				}
			})
		}
		wg.Wait()
		ids = nil
		if len(again) == 0 {
			break
		}
		if attempt == maxAttempts || !pause(ctx, retryPause(attempt)) {
			maps.Copy(failed, again)
			break
		}
		t.retries.Add(int64(len(again)))
		found, errs := t.findCoordinators(ctx, slices.Sorted(maps.Keys(again)))
		for id, err := range errs {
			failed[id] = errors.Join(again[id], err)
		}
		for id, c := range found {
			t.setCoordinator(id, c)
			ids = append(ids, id)
		}
	}
	return failed
}

// askAgain reports whether a group that failed with err is to be looked up
// and asked again: its request got no answer, or its coordinator said it
// is not (or not yet) the coordinator.
func askAgain(err error) bool {
	if failed, _ := noAnswer(err); failed {
		return true
	}
	var ke kafka.Error
	return errors.As(err, &ke) && coordinatorMoved(int16(ke))
}

// findCoordinatorBatchVersion is the first FindCoordinator version with
// many keys (Kafka 3.0, KIP-699).
const findCoordinatorBatchVersion = 4

// findCoordinators looks up the coordinators of the groups ids: one
// FindCoordinator v4 for all of them, or from a broker before Kafka 3.0 one
// v1 request per group. It asks a broker whose ListGroups answered, and
// the next one when the request gets no answer. It returns the coordinator
// of every group found and the error of every other.
func (t *tick) findCoordinators(ctx context.Context, ids []string) (map[string]int32, map[string]error) {
	found, errs := map[string]int32{}, map[string]error{}
	var last error = errors.New("no broker to ask")
	for _, b := range t.askable(2) {
		v, err := t.apiVersions(ctx, b)
		if err == nil {
			if v.supports(kmsg.FindCoordinator, findCoordinatorBatchVersion) {
				err = t.findBatch(ctx, b, ids, found, errs)
			} else {
				t.findEach(ctx, b, ids, found, errs)
			}
		}
		if err == nil {
			return found, errs
		}
		last = err
	}
	for _, id := range ids {
		errs[id] = fmt.Errorf("find coordinator of group %q: %w", id, last)
	}
	return found, errs
}

// findBatch asks broker b for the coordinators of ids in one request.
func (t *tick) findBatch(ctx context.Context, b int32, ids []string, found map[string]int32, errs map[string]error) error {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.Version = findCoordinatorBatchVersion
	req.CoordinatorKeys = ids
	res, err := t.send(ctx, &rawRequest{Req: req, ClientID: t.r.clientID(), broker: b})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce FindCoordinator")
	}
	if err != nil {
		return fmt.Errorf("find coordinators on broker %d: %w", b, err)
	}
	answered := map[string]bool{}
	for _, c := range res.(*rawResponse).Res.(*kmsg.FindCoordinatorResponse).Coordinators {
		answered[c.Key] = true
		if c.ErrorCode != 0 {
			errs[c.Key] = fmt.Errorf("find coordinator of group %q: %w", c.Key, kafka.Error(c.ErrorCode))
			continue
		}
		found[c.Key] = c.NodeID
	}
	for _, id := range ids {
		if !answered[id] {
			errs[id] = fmt.Errorf("find coordinator of group %q: broker %d did not answer for it", id, b)
		}
	}
	return nil
}

// findEach asks broker b for the coordinator of each group of ids, one
// request each, at most Cluster.Concurrency at a time.
func (t *tick) findEach(ctx context.Context, b int32, ids []string, found map[string]int32, errs map[string]error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		t.sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-t.sem }()
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version = 1
			req.CoordinatorKey = id
			res, err := t.send(ctx, &rawRequest{Req: req, ClientID: t.r.clientID(), broker: b})
			if err == nil && res.(*rawResponse).Unsupported {
				err = errors.New("the broker does not announce FindCoordinator")
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs[id] = fmt.Errorf("find coordinator of group %q on broker %d: %w", id, b, err)
			case res.(*rawResponse).Res.(*kmsg.FindCoordinatorResponse).ErrorCode != 0:
				code := res.(*rawResponse).Res.(*kmsg.FindCoordinatorResponse).ErrorCode
				errs[id] = fmt.Errorf("find coordinator of group %q: %w", id, kafka.Error(code))
			default:
				found[id] = res.(*rawResponse).Res.(*kmsg.FindCoordinatorResponse).NodeID
			}
		})
	}
	wg.Wait()
}

// maxMetadataVersion is the newest Metadata version leadersOf sends; it
// sends the newest both it and the broker speak (Kafka 4 no longer takes
// v0 to v3, which kafka-go would pick on an old broker).
const maxMetadataVersion = 12

// leadersOf reads the leaders of the partitions of topics anew, past the
// transport's cache, in one Metadata request to a broker whose ListGroups
// answered (the next one when the request gets no answer). A partition
// without a leader maps to -1.
func (t *tick) leadersOf(ctx context.Context, topics []string) (map[topicPartition]int32, error) {
	var last error = errors.New("no broker to ask")
	for _, b := range t.askable(2) {
		out, err := t.leadersFrom(ctx, b, topics)
		if err == nil {
			return out, nil
		}
		last = fmt.Errorf("read metadata on broker %d: %w", b, err)
	}
	return nil, last
}

func (t *tick) leadersFrom(ctx context.Context, b int32, topics []string) (map[topicPartition]int32, error) {
	v, err := t.apiVersions(ctx, b)
	if err != nil {
		return nil, err
	}
	r, ok := v[kmsg.Metadata.Int16()]
	if !ok || r[0] > maxMetadataVersion {
		return nil, errors.New("no Metadata version in common")
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = min(r[1], maxMetadataVersion)
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	res, err := t.send(ctx, &rawRequest{Req: req, ClientID: t.r.clientID(), broker: b})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce Metadata")
	}
	if err != nil {
		return nil, err
	}
	out := map[topicPartition]int32{}
	for _, mt := range res.(*rawResponse).Res.(*kmsg.MetadataResponse).Topics {
		if mt.ErrorCode != 0 || mt.Topic == nil {
			continue
		}
		for _, p := range mt.Partitions {
			out[topicPartition{*mt.Topic, p.Partition}] = p.Leader
		}
	}
	return out, nil
}

// apiVersions are the versions of each API key one broker announced: key
// to minimum and maximum.
type apiVersions map[int16][2]int16

func (v apiVersions) supports(key kmsg.Key, version int16) bool {
	r, ok := v[key.Int16()]
	return ok && r[0] <= version && version <= r[1]
}

// apiVersions returns broker b's API versions, asking it with ApiVersions
// (v0, which every broker answers alike) the first time and remembering
// the answer for the Source's life. kafka-go negotiates versions too, but
// tells us only up to the version it speaks itself. forgetVersions drops
// what was remembered, so that the next call asks again.
func (t *tick) apiVersions(ctx context.Context, b int32) (apiVersions, error) {
	r := t.r
	r.versionsMu.Lock()
	v, known := r.versions[b]
	r.versionsMu.Unlock()
	if known {
		return v, nil
	}
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	res, err := t.send(ctx, &rawRequest{Req: req, ClientID: r.clientID(), broker: b})
	if err == nil && res.(*rawResponse).Unsupported {
		err = errors.New("the broker does not announce ApiVersions")
	}
	if err != nil {
		return nil, fmt.Errorf("ask the versions of broker %d: %w", b, err)
	}
	av := res.(*rawResponse).Res.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		return nil, fmt.Errorf("ask the versions of broker %d: %w", b, kafka.Error(av.ErrorCode))
	}
	v = apiVersions{}
	for _, k := range av.ApiKeys {
		v[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
	}
	r.versionsMu.Lock()
	if r.versions == nil {
		r.versions = map[int32]apiVersions{}
	}
	r.versions[b] = v
	r.versionsMu.Unlock()
	return v, nil
}

func (r *Source) forgetVersions(b int32) {
	r.versionsMu.Lock()
	delete(r.versions, b)
	r.versionsMu.Unlock()
}
