package faults

import (
	"io"
	"net"
	"sync"
	"time"
)

// forwarder accepts TCP connections and pipes each to the first backend
// that accepts one. With several backends it behaves like a foundation's
// database proxy: every connection goes to the current backend, and when
// that one stops accepting the next one becomes current.
type forwarder struct {
	ln       net.Listener
	backends func() []string

	mu      sync.Mutex
	current int
	conns   map[net.Conn]struct{}
	closed  bool
}

func newForwarder(ln net.Listener, backends func() []string) *forwarder {
	f := &forwarder{ln: ln, backends: backends, conns: map[net.Conn]struct{}{}}
	go f.serve()
	return f
}

// Addr is where the forwarder listens.
func (f *forwarder) Addr() string { return f.ln.Addr().String() }

func (f *forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.pipe(c)
	}
}

func (f *forwarder) dialBackend() (net.Conn, error) {
	bs := f.backends()
	f.mu.Lock()
	start := f.current
	f.mu.Unlock()
	var lastErr error
	for i := range bs {
		n := (start + i) % len(bs)
		c, err := net.DialTimeout("tcp", bs[n], time.Second)
		if err == nil {
			f.mu.Lock()
			f.current = n
			f.mu.Unlock()
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (f *forwarder) track(c net.Conn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closed {
			return false
		}
		f.conns[c] = struct{}{}
	} else {
		delete(f.conns, c)
	}
	return true
}

func (f *forwarder) pipe(client net.Conn) {
	backend, err := f.dialBackend()
	if err != nil {
		client.Close()
		return
	}
	if !f.track(client, true) || !f.track(backend, true) {
		client.Close()
		backend.Close()
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	copyHalf := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		// One side ended: end both, as a proxy whose backend died does.
		dst.Close()
		src.Close()
	}
	go copyHalf(backend, client)
	go copyHalf(client, backend)
	wg.Wait()
	f.track(client, false)
	f.track(backend, false)
}

// Close stops listening and drops every connection.
func (f *forwarder) Close() {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	f.closed = true
	conns := f.conns
	f.conns = map[net.Conn]struct{}{}
	f.mu.Unlock()
	f.ln.Close()
	for c := range conns {
		c.Close()
	}
}
