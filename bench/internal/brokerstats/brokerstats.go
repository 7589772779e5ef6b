// Package brokerstats reads a Kafka broker's own count of the requests it
// has answered, by request type: the Count of the broker's RequestMetrics
// meters (`kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*`),
// read over JMX with Kafka's own JmxTool. Benchmarks take a snapshot before
// and after a program runs: the difference is what the broker counted for
// every client in that time, the program's requests among them, counted
// rather than estimated, also for programs that cannot be instrumented
// (Kafka's own tools, running in a JVM).
//
// It runs a Java program and parses its output; it imports no Kafka client.
package brokerstats

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ObjectName is the JMX query for the meters: one MBean per request type
// and version the broker has answered at least once (Kafka registers a
// version's meter on its first request).
const ObjectName = "kafka.network:type=RequestMetrics,name=RequestsPerSec,request=*,version=*"

// jmxToolClass is JmxTool's main class in the kafka-tools jar (Kafka 3.5
// and later).
const jmxToolClass = "org.apache.kafka.tools.JmxTool"

// Counts maps a request type, as Kafka names it ("Metadata", "OffsetFetch",
// "ApiVersions"; the names of Kafka's ApiKeys) to a number of requests.
type Counts map[string]int64

// Sub-counts: the broker counts every Fetch under "Fetch" and again under
// one of these, by who sent it.
const (
	fetchConsumer = "FetchConsumer"
	fetchFollower = "FetchFollower"
)

// Total is the number of requests: the sum over the types, without the
// Fetch sub-counts (FetchConsumer, FetchFollower), which count requests
// already counted under Fetch.
func (c Counts) Total() int64 {
	var n int64
	for name, v := range c {
		if name != fetchConsumer && name != fetchFollower {
			n += v
		}
	}
	return n
}

// Names are the request types in c, sorted.
func (c Counts) Names() []string { return slices.Sorted(maps.Keys(c)) }

// Diff is after minus before, for each type whose count changed: the
// requests the broker answered between the two snapshots. A type new in
// after counts from zero. The broker's counts only grow while it runs; a
// negative difference means it restarted in between.
func Diff(after, before Counts) Counts {
	out := Counts{}
	for name, a := range after {
		if d := a - before[name]; d != 0 {
			out[name] = d
		}
	}
	for name, b := range before {
		if _, ok := after[name]; !ok && b != 0 {
			out[name] = -b
		}
	}
	return out
}

// clusterInternal are the request types a KRaft broker sends to its
// controller (in a one-node cluster, to itself, counted in the same
// meters) and controllers send to each other: no client sends them, so a
// client's share of the counts leaves them out.
var clusterInternal = map[string]bool{
	"BrokerHeartbeat":        true,
	"BrokerRegistration":     true,
	"ControllerRegistration": true,
	"AlterPartition":         true,
	"AllocateProducerIds":    true,
	"AssignReplicasToDirs":   true,
	"Envelope":               true,
	"Vote":                   true,
	"BeginQuorumEpoch":       true,
	"EndQuorumEpoch":         true,
	"FetchSnapshot":          true,
	fetchFollower:            true,
}

// ClusterInternal reports whether request is a type only brokers and
// controllers send among themselves (BrokerHeartbeat, Vote, ...), never a
// client.
func ClusterInternal(request string) bool { return clusterInternal[request] }

// Split divides c into the types clients send and the cluster-internal
// ones (see ClusterInternal).
func (c Counts) Split() (clients, internal Counts) {
	clients, internal = Counts{}, Counts{}
	for name, v := range c {
		if ClusterInternal(name) {
			internal[name] = v
		} else {
			clients[name] = v
		}
	}
	return clients, internal
}

// JmxTool runs Kafka's JmxTool (org.apache.kafka.tools.JmxTool).
type JmxTool struct {
	// Classpath holds the kafka-tools jar and its dependencies
	// (`scripts/testenv classpath` prints it). Required.
	Classpath string
	// Java is the java binary; empty: $JAVA_HOME/bin/java when there is
	// one, else java on PATH.
	Java string
}

// Snapshot returns the broker's counts since it started, by request type
// (summed over the versions), read from the JMX server at addr
// (host:port, the RMI registry's port). JmxTool retries an unreachable
// server for 10 s, so addr is first dialled once: an unreachable one fails
// at once.
func (j JmxTool) Snapshot(ctx context.Context, addr string) (Counts, error) {
	if j.Classpath == "" {
		return nil, errors.New("jmxtool: no Kafka classpath")
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker JMX at %s unreachable: %w", addr, err)
	}
	_ = conn.Close()
	cmd := exec.CommandContext(ctx, j.java(), "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", j.Classpath, jmxToolClass,
		"--jmx-url", "service:jmx:rmi:///jndi/rmi://"+addr+"/jmxrmi",
		"--object-name", ObjectName, "--attributes", "Count", "--one-time", "true")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// A broker that has answered no request yet has no meter to match.
	if err != nil && strings.Contains(stderr.String(), "No matched attributes") {
		return Counts{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jmxtool %s: %w: %s", addr, err, lastLine(stderr.String()))
	}
	c, err := Parse(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("jmxtool %s: %w", addr, err)
	}
	return c, nil
}

func (j JmxTool) java() string {
	if j.Java != "" {
		return j.Java
	}
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", "java"); statOK(p) {
			return p
		}
	}
	return "java"
}

func statOK(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// lastLine is the last non-blank line of s: JmxTool ends with its reason
// to fail, after stack traces.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// Parse reads JmxTool's default ("original") output of one poll: a CSV
// header line of quoted column names, "time" and then one
// `<object name>:<attribute>` per MBean attribute, and a line of values.
// Each RequestsPerSec Count is added to its object name's request type, so
// the versions of a type are summed. Other columns (another attribute,
// another MBean) are ignored; a Count that is not a whole number is an
// error.
func Parse(r io.Reader) (Counts, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var header []string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			if header == nil {
				return nil, errors.New("no header line (\"time\",...) in the output")
			}
			return nil, errors.New("a header line but no values in the output")
		}
		if err != nil {
			return nil, fmt.Errorf("parse the output: %w", err)
		}
		if header == nil {
			if len(rec) > 0 && rec[0] == "time" {
				header = rec
			}
			continue
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("%d values for %d columns", len(rec), len(header))
		}
		return countColumns(header, rec)
	}
}

func countColumns(header, values []string) (Counts, error) {
	c := Counts{}
	for i, col := range header[1:] {
		obj, attr, ok := cutLast(col, ":")
		if !ok || attr != "Count" {
			continue
		}
		props, ok := objectProps(obj)
		if !ok || props["type"] != "RequestMetrics" || props["name"] != "RequestsPerSec" || props["request"] == "" {
			continue
		}
		v := values[i+1]
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("column %q: %q is not a count", col, v)
		}
		c[props["request"]] += n
	}
	return c, nil
}

// objectProps are the key properties of a JMX object name
// "domain:k1=v1,k2=v2"; values Kafka quotes lose their quotes.
func objectProps(name string) (map[string]string, bool) {
	_, list, ok := strings.Cut(name, ":")
	if !ok {
		return nil, false
	}
	props := map[string]string{}
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, false
		}
		props[k] = strings.Trim(v, `"`)
	}
	return props, true
}

func cutLast(s, sep string) (before, after string, ok bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}
