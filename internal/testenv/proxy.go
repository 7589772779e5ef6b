package testenv

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy forwards TCP connections from a loopback address to a real server.
// A test takes it Down to make the server unreachable (new connections are
// refused, open ones are cut) and brings it back Up on the same address.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener // nil while down
	hang  bool         // accept connections but answer nothing
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartProxy starts a proxy to target (host:port), up, and stops it when the
// test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	t.Cleanup(func() {
		p.down()
		p.wg.Wait()
	})
	return p
}

// ElasticsearchProxy starts a proxy to the test Elasticsearch node.
func ElasticsearchProxy(t testing.TB) *Proxy {
	t.Helper()
	u, err := url.Parse(Elasticsearch(t))
	if err != nil {
		t.Fatalf("parse Elasticsearch URL: %v", err)
	}
	return StartProxy(t, u.Host)
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.addr }

// URL is http://Addr.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Down closes the listener and every open connection: from now on,
// connecting to Addr is refused.
func (p *Proxy) Down() { p.down() }

// Hang makes the server hang: connections are accepted and read, but
// nothing is forwarded and nothing comes back, as with a node stuck in
// garbage collection or a network that drops packets. Up ends it.
func (p *Proxy) Hang() {
	p.mu.Lock()
	p.hang = true
	p.mu.Unlock()
}

// Up listens on Addr again. The port was ours a moment ago; should another
// process have taken it, the test fails.
func (p *Proxy) Up(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	up := p.ln != nil
	if p.hang {
		// Cut the connections left hanging: their clients see an error
		// and connect again.
		p.hang = false
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
	p.mu.Unlock()
	if up {
		return
	}
	var ln net.Listener
	var err error
	// The kernel may hold the port briefly after the close.
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("proxy listen again on %s: %v", p.addr, err)
	}
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by down
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.forward(c)
			}()
		}
	}()
}

func (p *Proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// track registers c, or reports false when the proxy went down meanwhile.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) forward(client net.Conn) {
	if !p.track(client) {
		_ = client.Close()
		return
	}
	defer p.untrack(client)
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang {
		_, _ = io.Copy(io.Discard, client) // until the client gives up or Down
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		_ = server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		if _, err := io.Copy(dst, src); err != nil {
			// Cut (or taken down): end both directions.
			_ = client.Close()
			_ = server.Close()
			return
		}
		// A clean end of one direction is passed on as a half-close.
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	<-done
}
