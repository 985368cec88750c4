package faults

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/interop/upstream"
)

// Implementation names a server implementation under test.
type Implementation string

// The implementations.
const (
	Ours     Implementation = "ours"
	Upstream Implementation = "upstream"
)

// Server is a server process a fault can kill and restart.
type Server interface {
	Address() string
	Kill()  // SIGKILL, wait for the exit
	Start() // start again on the same address and wait until it serves
}

var ourBuild struct {
	sync.Once
	path string
	err  error
}

// buildOurs builds our cmd/locket from the replaced module (../../locket
// from this package) once per test binary, into one file per checkout under
// the temp dir (replaced atomically, so nothing accumulates).
// testenv.BuildLocket cannot find that module from here, so StartServer is
// pointed at this build with LOCKET_TEST_BINARY.
func buildOurs(t testing.TB) string {
	t.Helper()
	ourBuild.Do(func() {
		if p := os.Getenv("LOCKET_TEST_BINARY"); p != "" {
			ourBuild.path = p
			return
		}
		src, err := filepath.Abs(filepath.Join("..", "..", "locket"))
		if err != nil {
			ourBuild.err = err
			return
		}
		dir := filepath.Join(os.TempDir(), "lkf-bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			ourBuild.err = err
			return
		}
		sum := sha256.Sum256([]byte(src))
		ourBuild.path = filepath.Join(dir, "locket-"+hex.EncodeToString(sum[:6]))
		tmp, err := os.CreateTemp(dir, ".build-*")
		if err != nil {
			ourBuild.err = err
			return
		}
		tmp.Close()
		defer os.Remove(tmp.Name())
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/locket")
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			ourBuild.err = fmt.Errorf("go build ./cmd/locket in %s: %v\n%s", src, err, out)
			return
		}
		ourBuild.err = os.Rename(tmp.Name(), ourBuild.path)
	})
	if ourBuild.err != nil {
		t.Fatal(ourBuild.err)
	}
	return ourBuild.path
}

// ourServer is our server, run by testenv.
type ourServer struct{ s *testenv.Server }

func startOurs(t *testing.T, db testenv.Database, certs *testenv.Certs) Server {
	t.Helper()
	t.Setenv("LOCKET_TEST_BINARY", buildOurs(t))
	return ourServer{testenv.StartServer(t, db, certs, testenv.WithLogLevel("info"))}
}

func (o ourServer) Address() string { return o.s.Address }
func (o ourServer) Kill() {
	if o.s.Running() {
		o.s.Kill()
	}
}
func (o ourServer) Start() { o.s.Restart() }

// upstreamServer is upstream Locket v1.5.0's server.
type upstreamServer struct {
	t      testing.TB
	bin    string
	config string
	addr   string
	certs  *testenv.Certs

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

func startUpstream(t *testing.T, db testenv.Database, certs *testenv.Certs) Server {
	t.Helper()
	u := &upstreamServer{t: t, bin: upstream.Build(t), addr: testenv.FreeAddress(t), certs: certs}
	config := map[string]any{
		"listen_address":             u.addr,
		"ca_file":                    certs.CAFile,
		"cert_file":                  certs.ServerCertFile,
		"key_file":                   certs.ServerKey,
		"database_driver":            db.Driver,
		"database_connection_string": db.DSN,
		"log_level":                  "info",
		"time_format":                "rfc3339",
		"report_interval":            "1m",
		// Upstream exits without readable loggregator files; no agent needs to listen.
		"loggregator": map[string]any{
			"loggregator_ca_path":   certs.CAFile,
			"loggregator_cert_path": certs.ClientCertFile,
			"loggregator_key_path":  certs.ClientKey,
		},
	}
	b, _ := json.Marshal(config)
	u.config = filepath.Join(t.TempDir(), "locket-upstream.json")
	if err := os.WriteFile(u.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.signal(syscall.SIGTERM, 10*time.Second)
		if t.Failed() {
			t.Logf("upstream %s log tail:\n%s", u.addr, u.log.tail(30))
		}
	})
	u.Start()
	return u
}

func (u *upstreamServer) Address() string { return u.addr }

func (u *upstreamServer) Start() {
	u.t.Helper()
	u.mu.Lock()
	u.log = &lockedBuffer{}
	cmd := exec.Command(u.bin, "-config="+u.config)
	cmd.Stdout, cmd.Stderr = u.log, u.log
	if err := cmd.Start(); err != nil {
		u.mu.Unlock()
		u.t.Fatalf("start upstream locket: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	u.cmd, u.done = cmd, done
	u.mu.Unlock()
	if err := waitTLS(u.addr, u.certs, 30*time.Second, done); err != nil {
		u.t.Fatalf("upstream locket on %s: %v\n%s", u.addr, err, u.log.tail(30))
	}
}

func (u *upstreamServer) Kill() { u.signal(syscall.SIGKILL, 10*time.Second) }

func (u *upstreamServer) signal(sig syscall.Signal, timeout time.Duration) {
	u.mu.Lock()
	cmd, done := u.cmd, u.done
	u.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitTLS waits until addr completes a mutual-TLS handshake.
func waitTLS(addr string, certs *testenv.Certs, timeout time.Duration, exited <-chan struct{}) error {
	cfg, err := clientTLS(certs)
	if err != nil {
		return err
	}
	cfg.NextProtos = []string{"h2"}
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the server exited")
		default:
		}
		d := net.Dialer{Timeout: time.Second}
		conn, err := tls.DialWithDialer(&d, "tcp", addr, cfg)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) tail(n int) string {
	if l == nil {
		return ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := splitLines(string(l.b))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, s := range lines {
		out += s + "\n"
	}
	return out
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
