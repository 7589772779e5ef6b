package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// JavaConsumerOptions configure StartJavaConsumer.
type JavaConsumerOptions struct {
	// Brokers are the addresses the consumer bootstraps from; empty means
	// the test broker (Kafka). KafkaCluster's run it against the cluster.
	Brokers []string
	// Topic and Group are required.
	Topic, Group string
	// Protocol is the consumer's group.protocol: "classic" (the Java
	// client's default) or "consumer" (KIP-848). Empty leaves the default.
	Protocol string
	// ClientID is the consumer's client.id; empty leaves the console
	// consumer's own ("console-consumer").
	ClientID string
	// FromBeginning starts partitions the group never committed at their
	// first offset instead of their end.
	FromBeginning bool
	// Properties are further consumer properties, e.g.
	// "auto.commit.interval.ms": "200".
	Properties map[string]string
}

// JavaProcess is one of Kafka's own Java tools run by a test, from the
// classpath scripts/testenv fetched: the console consumer
// (StartJavaConsumer) or the producer benchmark (StartProducerPerformance).
// It runs until stopped; what it prints on standard error is kept.
type JavaProcess struct {
	what string // names the tool in errors
	cmd  *exec.Cmd
	log  *Buffer
	done chan struct{}
	// err is the process's exit, read after done is closed.
	err error
	// stopping is set once Stop (or the test's end) asked it to stop.
	mu       sync.Mutex
	stopping bool
}

// JavaConsumer is Kafka's own console consumer
// (org.apache.kafka.tools.consumer.ConsoleConsumer, Kafka's Java client):
// the reference consumer of either group protocol. It reads until stopped
// and throws the messages away; the consumer commits its position
// automatically (every 5 s unless auto.commit.interval.ms says otherwise).
type JavaConsumer = JavaProcess

// StartJavaConsumer starts a console consumer in opts.Group reading
// opts.Topic. It is stopped (see Stop) when the test ends. It returns once
// the process runs, before the consumer has joined its group: the caller
// waits for what it needs to see.
func StartJavaConsumer(t testing.TB, opts JavaConsumerOptions) *JavaConsumer {
	t.Helper()
	if opts.Topic == "" || opts.Group == "" {
		t.Fatal("StartJavaConsumer: Topic and Group are required")
	}
	if opts.Protocol == "consumer" {
		RequireConsumerProtocol(t)
	}
	brokers := opts.Brokers
	if len(brokers) == 0 {
		brokers = Kafka(t)
	}
	args := []string{"org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", strings.Join(brokers, ","), "--topic", opts.Topic, "--group", opts.Group}
	if opts.FromBeginning {
		args = append(args, "--from-beginning")
	}
	props := map[string]string{}
	for k, v := range opts.Properties {
		props[k] = v
	}
	if opts.Protocol != "" {
		props["group.protocol"] = opts.Protocol
	}
	if opts.ClientID != "" {
		props["client.id"] = opts.ClientID
	}
	for _, kv := range sortedPairs(props) {
		args = append(args, "--consumer-property", kv)
	}
	return startJava(t, "the console consumer of group "+opts.Group, args)
}

// ProducerOptions configure StartProducerPerformance.
type ProducerOptions struct {
	// Brokers are the addresses the producer bootstraps from; empty means
	// the test broker.
	Brokers []string
	// Topic is required.
	Topic string
	// PerSecond is the number of records a second, over all partitions
	// (the tool's --throughput); required.
	PerSecond int
	// RecordSize is each record's size in bytes; 0 means 100.
	RecordSize int
	// Properties are further producer properties, e.g. "linger.ms": "5".
	// The Java client's defaults hold otherwise: acks=all, idempotence on.
	Properties map[string]string
}

// StartProducerPerformance starts Kafka's own producer benchmark
// (org.apache.kafka.tools.ProducerPerformance, Kafka's Java producer)
// writing opts.PerSecond records a second to opts.Topic, spread over its
// partitions, for an hour or until stopped (at the test's end at the
// latest). It returns once the process runs.
func StartProducerPerformance(t testing.TB, opts ProducerOptions) *JavaProcess {
	t.Helper()
	if opts.Topic == "" || opts.PerSecond <= 0 {
		t.Fatal("StartProducerPerformance: Topic and a positive PerSecond are required")
	}
	brokers := opts.Brokers
	if len(brokers) == 0 {
		brokers = Kafka(t)
	}
	size := opts.RecordSize
	if size == 0 {
		size = 100
	}
	props := map[string]string{"bootstrap.servers": strings.Join(brokers, ",")}
	for k, v := range opts.Properties {
		props[k] = v
	}
	args := append([]string{"org.apache.kafka.tools.ProducerPerformance", "--topic", opts.Topic,
		"--num-records", strconv.Itoa(opts.PerSecond * 3600), "--throughput", strconv.Itoa(opts.PerSecond),
		"--record-size", strconv.Itoa(size), "--producer-props"}, sortedPairs(props)...)
	return startJava(t, "the producer of topic "+opts.Topic, args)
}

// sortedPairs is m as "key=value" strings, in key order.
func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// startJava runs a main class of the Kafka classpath with args (the class
// first), small and quiet: warnings only, on standard error, as
// scripts/kafka-consumer-groups runs the tools. It is stopped when the test
// ends.
func startJava(t testing.TB, what string, args []string) *JavaProcess {
	t.Helper()
	jvm := []string{"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
	home := os.Getenv("TESTENV_HOME")
	if home == "" {
		home = filepath.Join(RepoRoot(t), ".testenv")
	}
	if conf := filepath.Join(home, "tools-log4j2.properties"); fileExists(conf) {
		jvm = append(jvm, "-Dlog4j2.configurationFile="+conf)
	}
	jvm = append(jvm, "-cp", KafkaClasspath(t))
	p := &JavaProcess{what: what, cmd: exec.Command(javaBin(), append(jvm, args...)...), log: &Buffer{}, done: make(chan struct{})}
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", what, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stop %s: %v", what, err)
		}
	})
	return p
}

// Stop asks the process to shut down (SIGTERM: the console consumer's
// shutdown hook closes the consumer, which leaves the group, so that the
// group is Empty at once rather than after the session timeout) and waits
// for it to exit; after 30 seconds it is killed. It fails the test when the
// process had already exited by itself. Stopping twice is harmless.
func (c *JavaProcess) Stop(t testing.TB) {
	t.Helper()
	if err := c.Exited(); err != nil {
		t.Fatal(err)
	}
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
}

func (c *JavaProcess) stop() error {
	c.mu.Lock()
	already := c.stopping
	c.stopping = true
	c.mu.Unlock()
	if already {
		<-c.done
		return nil
	}
	select {
	case <-c.done:
		return nil // exited by itself: Exited says so
	default:
	}
	var err error
	if e := c.cmd.Process.Signal(syscall.SIGTERM); e != nil && !errors.Is(e, os.ErrProcessDone) {
		err = fmt.Errorf("signal pid %d: %w", c.cmd.Process.Pid, e)
	}
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		err = errors.Join(err, fmt.Errorf("pid %d ignored SIGTERM for 30 s and was killed:\n%s", c.cmd.Process.Pid, c.log.String()))
	}
	return err
}

// Exited returns an error when the process has ended by itself (a bad
// option, the broker unreachable), with what it printed; nil while it runs
// and once Stop has ended it.
func (c *JavaProcess) Exited() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	if stopping {
		return nil
	}
	return fmt.Errorf("%s exited by itself (%v):\n%s", c.what, c.err, c.log.String())
}

// Log is what the process printed on standard error so far.
func (c *JavaProcess) Log() string { return c.log.String() }

// Buffer is a bytes.Buffer written by one goroutine (a process's output
// copier, a logger) and read by the test in another.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the complete lines written so far.
func (l *Buffer) Lines() []string {
	text := l.String()
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		return strings.Split(text[:i], "\n")
	}
	return nil
}
