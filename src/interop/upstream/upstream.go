// Package upstream builds and runs upstream Locket v1.5.0's server, the
// reference peer of the interoperability tests and the benchmarks.
package upstream

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Build compiles upstream's cmd/locket once per test binary.
func Build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "locket-upstream-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "locket-upstream")
		cmd := exec.Command("go", "build", "-o", binPath, "code.cloudfoundry.org/locket/cmd/locket")
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build upstream locket: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Server is a running upstream server.
type Server struct {
	Address string
	cmd     *exec.Cmd
	mu      sync.Mutex
	lines   []string
	done    chan struct{}
}

// Start runs an upstream server on db with the test PKI and waits until it
// accepts TLS connections.
func Start(t testing.TB, db testenv.Database, c *testenv.Certs) *Server {
	t.Helper()
	bin := Build(t)
	addr := freeAddress(t)
	dir := t.TempDir()
	config := map[string]any{
		"listen_address":             addr,
		"ca_file":                    c.CAFile,
		"cert_file":                  c.ServerCertFile,
		"key_file":                   c.ServerKey,
		"database_driver":            db.Driver,
		"database_connection_string": db.DSN,
		"log_level":                  "debug",
		"time_format":                "rfc3339",
		"report_interval":            "1m",
		// Upstream exits without readable loggregator files; no agent needs to listen.
		"loggregator": map[string]any{
			"loggregator_ca_path":   c.CAFile,
			"loggregator_cert_path": c.ClientCertFile,
			"loggregator_key_path":  c.ClientKey,
		},
	}
	path := filepath.Join(dir, "locket-upstream.json")
	b, _ := json.Marshal(config)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Address: addr, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-config="+path)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go s.collect(stdout)
	t.Cleanup(s.Stop)
	if err := waitListening(addr, 20*time.Second); err != nil {
		s.Stop()
		t.Fatalf("upstream locket did not come up on %s: %v\n%s", addr, err, s.Output())
	}
	return s
}

func (s *Server) collect(r io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1024*1024), 1024*1024)
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		s.mu.Unlock()
	}
}

// Lines returns the log lines so far.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Output returns the log so far as one string.
func (s *Server) Output() string {
	var out string
	for _, l := range s.Lines() {
		out += l + "\n"
	}
	return out
}

// Stop sends SIGTERM and waits for the process (SIGKILL after 10 s).
func (s *Server) Stop() {
	if s.cmd.Process == nil || s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	_ = s.cmd.Wait()
}

func freeAddress(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitListening waits until addr accepts TCP connections: upstream listens
// only once its database is set up.
func waitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}
