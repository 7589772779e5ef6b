package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KafkaClasspath is the classpath of the Kafka jars scripts/testenv fetched
// (kafka-clients, kafka-tools and their dependencies), as
// `scripts/testenv classpath` prints it.
func KafkaClasspath(t testing.TB) string {
	t.Helper()
	classpath.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var stderr strings.Builder
		cmd := exec.CommandContext(ctx, filepath.Join(RepoRoot(t), "scripts", "testenv"), "classpath")
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			classpath.err = fmt.Errorf("kafka classpath: %w\n%s", err, stderr.String())
			return
		}
		classpath.cp = strings.TrimSpace(string(out))
	})
	if classpath.err != nil {
		t.Fatal(classpath.err)
	}
	return classpath.cp
}

var classpath struct {
	once sync.Once
	cp   string
	err  error
}

// javaBin is $JAVA_HOME/bin/java when there is one, else java on PATH, as
// scripts/testenv chooses.
func javaBin() string {
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if j := filepath.Join(home, "bin", "java"); fileExists(j) {
			return j
		}
	}
	return "java"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// JavaConsumerOptions configure StartJavaConsumer.
type JavaConsumerOptions struct {
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

// JavaConsumer is Kafka's own console consumer
// (org.apache.kafka.tools.consumer.ConsoleConsumer, Kafka's Java client) run
// against the test broker: the reference consumer of either group protocol.
// It reads until stopped and throws the messages away; the consumer commits
// its position automatically (every 5 s unless auto.commit.interval.ms says
// otherwise).
type JavaConsumer struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
	// err is the process's exit, read after done is closed.
	err error
	// stopping is set once Stop (or the test's end) asked it to stop.
	mu       sync.Mutex
	stopping bool
}

// StartJavaConsumer starts a console consumer in opts.Group reading
// opts.Topic. It is stopped (see Stop) when the test ends. It returns once
// the process runs, before the consumer has joined its group: the caller
// waits for what it needs to see.
func StartJavaConsumer(t testing.TB, opts JavaConsumerOptions) *JavaConsumer {
	t.Helper()
	if opts.Topic == "" || opts.Group == "" {
		t.Fatal("StartJavaConsumer: Topic and Group are required")
	}
	brokers := Kafka(t)
	args := []string{"-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"}
	// The tool quiet, as scripts/kafka-consumer-groups runs it: warnings
	// only, on standard error.
	home := os.Getenv("TESTENV_HOME")
	if home == "" {
		home = filepath.Join(RepoRoot(t), ".testenv")
	}
	if conf := filepath.Join(home, "tools-log4j2.properties"); fileExists(conf) {
		args = append(args, "-Dlog4j2.configurationFile="+conf)
	}
	args = append(args, "-cp", KafkaClasspath(t), "org.apache.kafka.tools.consumer.ConsoleConsumer",
		"--bootstrap-server", strings.Join(brokers, ","), "--topic", opts.Topic, "--group", opts.Group)
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
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--consumer-property", k+"="+props[k])
	}

	c := &JavaConsumer{cmd: exec.Command(javaBin(), args...), log: &lockedBuffer{}, done: make(chan struct{})}
	c.cmd.Stderr = c.log
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start the console consumer of group %s: %v", opts.Group, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("stop the console consumer of group %s: %v", opts.Group, err)
		}
	})
	return c
}

// Stop asks the consumer to shut down (SIGTERM: its shutdown hook closes the
// consumer, which leaves the group, so that the group is Empty at once
// rather than after the session timeout) and waits for it to exit; after 30
// seconds it is killed. It fails the test when the consumer had already
// exited by itself. Stopping twice is harmless.
func (c *JavaConsumer) Stop(t testing.TB) {
	t.Helper()
	if err := c.Exited(); err != nil {
		t.Fatal(err)
	}
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
}

func (c *JavaConsumer) stop() error {
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
func (c *JavaConsumer) Exited() error {
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
	return fmt.Errorf("console consumer exited by itself (%v):\n%s", c.err, c.log.String())
}

// Log is what the consumer printed on standard error so far.
func (c *JavaConsumer) Log() string { return c.log.String() }

// lockedBuffer is a bytes.Buffer written by the process's copier and read
// by the test.
type lockedBuffer struct {
	sync.Mutex
	b bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.Lock()
	defer l.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.Lock()
	defer l.Unlock()
	return l.b.String()
}
