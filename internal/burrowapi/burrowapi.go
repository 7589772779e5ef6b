// Package burrowapi serves Burrow's HTTP API v3 from lagwatch's history, so
// that what was written against Burrow (Telegraf's inputs.burrow, Burrow
// dashboards, scripts, alert consumers) can point at lagwatch unchanged.
// Paths, bodies, messages and status codes are Burrow's
// (core/internal/httpserver in linkedin/Burrow); bodies.go says which of
// Burrow's structs each body follows.
//
// One addition: every read endpoint takes ?at=<RFC 3339 time> and answers as
// of that instant, which Burrow, holding only the present, cannot.
//
// The package owns the HTTP side only: the history is read through Source,
// implemented over Elasticsearch elsewhere, and the verdicts are
// pkg/evaluate's. It must not import an Elasticsearch or Kafka client.
package burrowapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/lagwatch/lagwatch/pkg/snapshot"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lagwatch/lagwatch/pkg/evaluate"
)

// Source answers the API's questions as of instant at; a zero at means the
// latest data. It is called concurrently, from one goroutine per request,
// with a context bounded by Options.Timeout. The text of an error other
// than the three below is sent to the client: it must not carry a secret.
type Source interface {
	Clusters(ctx context.Context, at time.Time) ([]string, error)
	// Consumers lists the cluster's groups; ErrClusterNotFound for an unknown cluster.
	Consumers(ctx context.Context, at time.Time, cluster string) ([]string, error)
	// Consumer is one group's window and verdict; ErrClusterNotFound / ErrGroupNotFound.
	// A group the history knows but that has no observation in the window is Result.Status == evaluate.NotFound.
	Consumer(ctx context.Context, at time.Time, cluster, group string) (Consumer, error)
	// Topics lists the cluster's topics (those the history has offsets for).
	Topics(ctx context.Context, at time.Time, cluster string) ([]string, error)
	// Topic is the log-end offset of each partition, index = partition; ErrTopicNotFound.
	Topic(ctx context.Context, at time.Time, cluster, topic string) ([]int64, error)
	// TopicConsumers lists the groups consuming topic; ErrTopicNotFound.
	TopicConsumers(ctx context.Context, at time.Time, cluster, topic string) ([]string, error)
}

// Freshener is a Source that knows how fresh a cluster's lag data is:
// the cluster's body then carries it (ModuleDetailResponse.Lagwatch). ok
// is false when it does not know.
type Freshener interface {
	ClusterFreshness(ctx context.Context, at time.Time, cluster string) (f evaluate.Freshness, ok bool)
}

// Readier is a Source that can answer, quickly, only once it has started:
// /burrow/admin/ready answers STARTING (503) until Ready is true. Any
// Source answers before; one that is not ready answers more slowly.
type Readier interface{ Ready() bool }

// Horizon is a Source that knows the first instant its history can answer
// for: an ?at before it is answered 400, with the reason.
type Horizon interface {
	// Earliest is that instant as of now, and what sets it ("the oldest
	// tick of the history"); the zero time when nothing does. It is called
	// only for requests with ?at, and must not read the history each time.
	Earliest(ctx context.Context, now time.Time) (time.Time, string)
}

// Authorizer decides which requests may read the API.
type Authorizer interface {
	Allows(r *http.Request) bool
	// Challenge is the WWW-Authenticate value of the 401 answer.
	Challenge() string
}

// Consumer is one group as of an instant.
type Consumer struct {
	Window evaluate.GroupWindow // the observations, oldest first, per partition
	Result evaluate.GroupResult // the verdict at that instant (pkg/evaluate)
}

// The not-found errors a Source returns, compared with errors.Is; each
// becomes Burrow's 404 answer for its endpoint.
var (
	ErrClusterNotFound = errors.New("cluster not found")
	ErrGroupNotFound   = errors.New("consumer group not found")
	ErrTopicNotFound   = errors.New("topic not found")
)

// DefaultTimeout bounds each Source call when Options.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Options configure the handler; the zero value is usable.
type Options struct {
	Host    string         // reported in every body's request.host (os.Hostname by default)
	Timeout time.Duration  // bound on each Source call (every Elasticsearch read has a timeout); default 10s
	Config  map[string]any // what GET /v3/config shows (the evaluator's settings mapped to Burrow's names); may be nil
	Log     *slog.Logger   // nil: slog.Default()
	// Auth, when not nil, is asked about every request but Burrow's health
	// checks (/burrow/admin and /burrow/admin/ready, which load balancers
	// ask without credentials and which tell nothing of the history): a
	// request it does not allow is answered 401.
	Auth Authorizer
	// MaxInFlight bounds the requests answered at once, the health checks
	// aside: one more is answered 503 at once, with Retry-After. 0: no
	// bound.
	MaxInFlight int
}

// The limits of what a request may ask.
const (
	// MaxNameLength is the most characters of a cluster, group or topic
	// name: the history indexes group ids up to snapshot.MaxGroupIDLength
	// characters and refuses longer ones at collection (cluster names are
	// configured, and Kafka's topic names have at most 249 characters), so
	// a longer name is never found, and is answered 400 without asking.
	MaxNameLength = snapshot.MaxGroupIDLength
	// FutureSkew is how far past the server's clock ?at may lie: clocks of
	// clients differ by a little, and such an instant reads the present
	// history. Beyond it, 400.
	FutureSkew = time.Minute
)

// epoch is the earliest ?at answered whatever the history: nothing Kafka
// wrote is older.
var epoch = time.Unix(0, 0).UTC()

// Burrow's messages, from core/internal/httpserver/kafka.go and config.go.
const (
	msgClusterNotFound       = "cluster not found"
	msgClusterModuleNotFound = "cluster module not found"
	msgTopicNotFound         = "cluster or topic not found"
	msgConsumerNotFound      = "cluster or consumer not found"
	// invalidRequest is Burrow's catch-all body for an unknown path, written
	// verbatim (its "result" field included) by Burrow's defaultHandler.
	// Burrow sends it through http.Error, as text/plain; it is sent here as
	// what it is, application/json.
	invalidRequest = `{"error":true,"message":"invalid request type","result":{}}`
)

// retentionMessage answers DELETE on a group or a topic. Burrow forgets a
// group or topic on DELETE (200); here the history is what other
// programs wrote to Elasticsearch, and an API meant for reading does not
// remove it.
const retentionMessage = "the history is not deleted through this API: lagwatch keeps what the collector wrote to Elasticsearch " +
	"until the data streams' retention (ELASTICSEARCH_RETENTION) removes it"

// New returns the API as an http.Handler. Requests are independent: nothing
// is shared between them but src and o, so a slow Source call holds up only
// its own request.
func New(src Source, o Options) http.Handler {
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &api{src: src, o: o}
	if o.MaxInFlight > 0 {
		a.slots = make(chan struct{}, o.MaxInFlight)
	}
	mux := http.NewServeMux()
	get := func(pattern string, h func(*call)) {
		mux.HandleFunc(pattern, a.guard(a.handle(h, false)))
	}
	// DELETE on these is Burrow's way to forget a group or a topic.
	getOrDelete := func(pattern string, h func(*call)) {
		mux.HandleFunc(pattern, a.guard(a.handle(h, true)))
	}
	mux.HandleFunc("/", a.guard(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(invalidRequest))
	}))
	mux.HandleFunc("/burrow/admin", a.text("GOOD"))
	// Burrow answers READY once it has started, STARTING (503) before; here
	// READY once the Source is ready (Readier), so that a load balancer
	// sends requests to a started instance only.
	mux.HandleFunc("/burrow/admin/ready", func(w http.ResponseWriter, r *http.Request) {
		if rd, ok := src.(Readier); ok && !rd.Ready() {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("STARTING"))
			return
		}
		a.text("READY")(w, r)
	})

	get("/v3/kafka", (*call).clusterList)
	get("/v3/kafka/{cluster}", (*call).clusterDetail)
	get("/v3/kafka/{cluster}/consumer", (*call).consumerList)
	getOrDelete("/v3/kafka/{cluster}/consumer/{group}", (*call).consumerDetail)
	get("/v3/kafka/{cluster}/consumer/{group}/status", (*call).consumerStatus)
	get("/v3/kafka/{cluster}/consumer/{group}/lag", (*call).consumerLag)
	get("/v3/kafka/{cluster}/topic", (*call).topicList)
	getOrDelete("/v3/kafka/{cluster}/topic/{topic}", (*call).topicDetail)
	get("/v3/kafka/{cluster}/topic/{topic}/consumers", (*call).topicConsumers)

	get("/v3/config", (*call).config)
	get("/v3/config/cluster", (*call).configClusters)
	get("/v3/config/cluster/{cluster}", (*call).clusterDetail)
	// Burrow's other coordinators have no counterpart here: their module
	// lists are empty, and every module name is unknown.
	for _, coord := range []string{"storage", "evaluator", "consumer", "notifier"} {
		get("/v3/config/"+coord, configEmpty(coord))
		get("/v3/config/"+coord+"/{name}", func(c *call) {
			c.fail(http.StatusNotFound, coord+" module not found")
		})
	}
	return mux
}

type api struct {
	src Source
	o   Options
	// slots hold one token per request being answered; nil: no bound.
	slots chan struct{}
}

// guard lets h answer only a request that Options.Auth allows, and only
// while fewer than Options.MaxInFlight others are being answered: the
// check of credentials comes first, so that requests without them take no
// slot.
func (a *api) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{api: a, w: w, r: r}
		if a.o.Auth != nil && !a.o.Auth.Allows(r) {
			w.Header().Set("WWW-Authenticate", a.o.Auth.Challenge())
			c.fail(http.StatusUnauthorized, "authentication required: this API asks for credentials")
			return
		}
		if a.slots != nil {
			select {
			case a.slots <- struct{}{}:
				defer func() { <-a.slots }()
			default:
				w.Header().Set("Retry-After", "1")
				c.fail(http.StatusServiceUnavailable, fmt.Sprintf("too many requests in flight (at most %d): try again in a moment", cap(a.slots)))
				return
			}
		}
		h(w, r)
	}
}

// call is one request being answered.
type call struct {
	*api
	w  http.ResponseWriter
	r  *http.Request
	at time.Time
}

// handle checks the method and ?at, then runs h. DELETE on a deletable
// path is refused with retentionMessage; any method other than GET or HEAD
// is 405.
func (a *api) handle(h func(*call), deletable bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{api: a, w: w, r: r}
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
		case r.Method == http.MethodDelete && deletable:
			w.Header().Set("Allow", "GET, HEAD")
			c.fail(http.StatusMethodNotAllowed, retentionMessage)
			return
		default:
			w.Header().Set("Allow", "GET, HEAD")
			c.fail(http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: this API only reads")
			return
		}
		for _, name := range []string{"cluster", "group", "topic"} {
			if n := utf8.RuneCountInString(r.PathValue(name)); n > MaxNameLength {
				c.fail(http.StatusBadRequest, fmt.Sprintf("%s name of %d characters: names of more than %d are never in the history", name, n, MaxNameLength))
				return
			}
		}
		q := r.URL.Query()
		if q.Has("at") {
			v := q.Get("at")
			at, err := time.Parse(time.RFC3339, v)
			if err != nil {
				msg := fmt.Sprintf("invalid at %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", v)
				if strings.Contains(v, " ") {
					msg += " (a + in a query must be written %2B)"
				}
				c.fail(http.StatusBadRequest, msg)
				return
			}
			if msg := c.outside(at); msg != "" {
				c.fail(http.StatusBadRequest, msg)
				return
			}
			c.at = at
		}
		h(c)
	}
}

// outside says why the history cannot answer as of at, "" when it can: the
// zero time (which would otherwise read as the present), an instant before
// 1970 or before the Source's Horizon, or one more than FutureSkew ahead of
// the clock.
func (c *call) outside(at time.Time) string {
	now := time.Now()
	const layout = time.RFC3339
	switch {
	case at.IsZero():
		return "invalid at: the zero time " + at.Format(layout) + " is no instant of the history; leave at out for the present"
	case at.Before(epoch):
		return fmt.Sprintf("invalid at %s: before %s, earlier than any history", at.Format(layout), epoch.Format(layout))
	case at.After(now.Add(FutureSkew)):
		return fmt.Sprintf("invalid at %s: in the future (the server's clock says %s); leave at out for the present",
			at.Format(layout), now.UTC().Format(layout))
	}
	if h, ok := c.src.(Horizon); ok {
		if first, why := h.Earliest(c.r.Context(), now); at.Before(first) {
			return fmt.Sprintf("invalid at %s: before %s, %s: the history holds nothing earlier",
				at.Format(layout), first.UTC().Format(layout), why)
		}
	}
	return ""
}

// text answers with Burrow's plain-text health bodies.
func (a *api) text(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}
}

// request is the body's request field. Burrow echoes r.URL.Path; the path
// is echoed escaped here, as pkg/evaluate writes it, so that a group named
// "a b/c" reads back as a usable URL. For names without such characters
// the two are the same.
func (c *call) request() Request { return Request{URL: c.r.URL.EscapedPath(), Host: c.o.Host} }

// reply writes body as JSON with status code, as Burrow's writeResponse.
func (c *call) reply(code int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		// The bodies are plain data; this is a bug, answered as Burrow does.
		c.o.Log.Error("burrow api: encode the answer", "path", c.r.URL.Path, "err", err)
		code, b = http.StatusInternalServerError, []byte(`{"error":true,"message":"could not encode JSON","result":{}}`)
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.WriteHeader(code)
	_, _ = c.w.Write(b)
}

func (c *call) fail(code int, msg string) {
	c.reply(code, Head{Error: true, Message: msg, Request: c.request()})
}

// read runs one Source call bounded by the timeout.
func read[T any](c *call, f func(ctx context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(c.r.Context(), c.o.Timeout)
	defer cancel()
	return f(ctx)
}

// failed answers a Source error: notFound's message with 404 for the
// not-found errors it maps, otherwise 500, logged here and only here. It
// reports whether err was an error.
func (c *call) failed(err error, notFound map[error]string) bool {
	if err == nil {
		return false
	}
	for target, msg := range notFound {
		if errors.Is(err, target) {
			c.fail(http.StatusNotFound, msg)
			return true
		}
	}
	args := []any{"path", c.r.URL.Path, "err", err}
	if !c.at.IsZero() {
		args = append(args, "at", c.at)
	}
	c.o.Log.Error("burrow api: read the history", args...)
	c.fail(http.StatusInternalServerError, "could not read the history: "+err.Error())
	return true
}

// names answers an endpoint that lists names: fetch them, answer a
// not-found error with its message, or wrap the names (never null) in the
// body.
func (c *call) names(fetch func(context.Context) ([]string, error), notFound map[error]string, body func(names []string) any) {
	names, err := read(c, fetch)
	if c.failed(err, notFound) {
		return
	}
	if names == nil {
		names = []string{}
	}
	c.reply(http.StatusOK, body(names))
}

func (c *call) clusters(ctx context.Context) ([]string, error) { return c.src.Clusters(ctx, c.at) }

func (c *call) clusterList() {
	c.names(c.clusters, nil, func(clusters []string) any {
		return ClusterListResponse{Head: c.head("cluster list returned"), Clusters: clusters}
	})
}

func (c *call) clusterDetail() {
	cluster := c.r.PathValue("cluster")
	clusters, err := read(c, c.clusters)
	if c.failed(err, nil) {
		return
	}
	if !slices.Contains(clusters, cluster) {
		c.fail(http.StatusNotFound, msgClusterModuleNotFound)
		return
	}
	body := ModuleDetailResponse{
		Head: c.head("cluster module detail returned"),
		Module: ClusterModule{
			ClassName:     "kafka",
			Servers:       []string{},
			ClientProfile: ClientProfile{Name: "default"},
		},
	}
	if fr, ok := c.src.(Freshener); ok {
		at := c.at
		if at.IsZero() {
			at = time.Now()
		}
		ctx, cancel := context.WithTimeout(c.r.Context(), c.o.Timeout)
		f, known := fr.ClusterFreshness(ctx, c.at, cluster)
		cancel()
		if known {
			body.Lagwatch = clusterLagwatch(f, at)
		}
	}
	c.reply(http.StatusOK, body)
}

func (c *call) consumerList() {
	cluster := c.r.PathValue("cluster")
	c.names(func(ctx context.Context) ([]string, error) { return c.src.Consumers(ctx, c.at, cluster) },
		map[error]string{ErrClusterNotFound: msgClusterNotFound},
		func(groups []string) any {
			return ConsumerListResponse{Head: c.head("consumer list returned"), Consumers: groups}
		})
}

func (c *call) consumer() (Consumer, error) {
	cluster, group := c.r.PathValue("cluster"), c.r.PathValue("group")
	return read(c, func(ctx context.Context) (Consumer, error) { return c.src.Consumer(ctx, c.at, cluster, group) })
}

func (c *call) consumerDetail() {
	g, err := c.consumer()
	if c.failed(err, map[error]string{ErrClusterNotFound: msgConsumerNotFound, ErrGroupNotFound: msgConsumerNotFound}) {
		return
	}
	c.reply(http.StatusOK, ConsumerDetailResponse{Head: c.head("consumer detail returned"), Topics: consumerTopics(g.Window)})
}

func (c *call) consumerStatus() { c.groupStatus(evaluate.GroupResult.BurrowStatus) }
func (c *call) consumerLag()    { c.groupStatus(evaluate.GroupResult.BurrowLag) }

// groupStatus answers /status and /lag. As in Burrow, whose evaluator
// answers an unknown cluster or group with a NOTFOUND status, those are
// the NOTFOUND body (error false) with 404, not an error body.
func (c *call) groupStatus(view func(evaluate.GroupResult) evaluate.BurrowLagResponse) {
	g, err := c.consumer()
	if errors.Is(err, ErrClusterNotFound) || errors.Is(err, ErrGroupNotFound) {
		g, err = Consumer{Result: evaluate.GroupResult{Status: evaluate.NotFound, Complete: 1}}, nil
	}
	if c.failed(err, nil) {
		return
	}
	g.Result.Cluster, g.Result.Group = c.r.PathValue("cluster"), c.r.PathValue("group")
	body := view(g.Result)
	body.Request = c.request()
	c.reply(g.Result.HTTPStatus(), body)
}

func (c *call) topicList() {
	cluster := c.r.PathValue("cluster")
	c.names(func(ctx context.Context) ([]string, error) { return c.src.Topics(ctx, c.at, cluster) },
		map[error]string{ErrClusterNotFound: msgClusterNotFound},
		func(topics []string) any {
			return TopicListResponse{Head: c.head("topic list returned"), Topics: topics}
		})
}

func (c *call) topicDetail() {
	cluster, topic := c.r.PathValue("cluster"), c.r.PathValue("topic")
	offsets, err := read(c, func(ctx context.Context) ([]int64, error) { return c.src.Topic(ctx, c.at, cluster, topic) })
	if c.failed(err, map[error]string{ErrClusterNotFound: msgTopicNotFound, ErrTopicNotFound: msgTopicNotFound}) {
		return
	}
	if offsets == nil {
		offsets = []int64{}
	}
	c.reply(http.StatusOK, TopicDetailResponse{Head: c.head("topic offsets returned"), Offsets: offsets})
}

// topicConsumers answers .../topic/(topic)/consumers. Burrow answers an
// unknown topic there with an empty list; the Source tells it apart, and
// it gets the topic detail's 404.
func (c *call) topicConsumers() {
	cluster, topic := c.r.PathValue("cluster"), c.r.PathValue("topic")
	c.names(func(ctx context.Context) ([]string, error) { return c.src.TopicConsumers(ctx, c.at, cluster, topic) },
		map[error]string{ErrClusterNotFound: msgClusterNotFound, ErrTopicNotFound: msgTopicNotFound},
		func(groups []string) any {
			return ConsumerListResponse{Head: c.head("consumers of topic returned"), Consumers: groups}
		})
}

// config answers GET /v3/config: Burrow's main config body (error,
// message, request) with Options.Config's entries beside them. The three
// common fields win over an entry of the same name.
func (c *call) config() {
	body := make(map[string]any, len(c.o.Config)+3)
	for k, v := range c.o.Config {
		body[k] = v
	}
	body["error"], body["message"], body["request"] = false, "main config returned", c.request()
	c.reply(http.StatusOK, body)
}

// configClusters answers GET /v3/config/cluster: Burrow lists its cluster
// modules, one per cluster; here, the clusters of the history.
func (c *call) configClusters() {
	c.names(c.clusters, nil, func(clusters []string) any {
		return ModuleListResponse{Head: c.head("module list returned"), Coordinator: "cluster", Modules: clusters}
	})
}

func configEmpty(coordinator string) func(*call) {
	return func(c *call) {
		c.reply(http.StatusOK, ModuleListResponse{Head: c.head("module list returned"), Coordinator: coordinator, Modules: []string{}})
	}
}

// head opens the body of a successful answer.
func (c *call) head(msg string) Head { return Head{Message: msg, Request: c.request()} }
