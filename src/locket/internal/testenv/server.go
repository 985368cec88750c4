package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	oexec "os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

// envBinary names a prebuilt server binary to use instead of building
// ./cmd/locket (for example one built from the vendored tree).
const envBinary = "LOCKET_TEST_BINARY"

// BuildLocket returns the path of the server binary built from this module's
// ./cmd/locket (BuildCommand: once per test binary, into a fixed file per
// module checkout under the OS temp dir, replaced atomically).
// LOCKET_TEST_BINARY overrides it with a prebuilt binary.
func BuildLocket(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(envBinary); p != "" {
		return p
	}
	return BuildCommand(t, "./cmd/locket")
}

// moduleRoot is the directory holding this module's go.mod: found from this
// source file's location, so that tests in other modules (src/interop) that
// import testenv build the same server.
func moduleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the testenv source file")
	}
	dir := filepath.Dir(file)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/locket-release/locket\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("go.mod of github.com/locket-release/locket not found above %s", file)
		}
		dir = parent
	}
}

// FreeAddress returns a 127.0.0.1 address with a port that was free a moment
// ago and that this test process has not handed out before.
func FreeAddress(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", freePort(t))
}

// handedOut remembers every port freePort returned in this test process:
// the kernel may give a port that was just closed to the next listen on :0,
// and two addresses of one server (listen and metrics) once came out equal
// that way, before the server had bound either.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedOut.Lock()
		dup := handedOut.ports[port]
		handedOut.ports[port] = true
		handedOut.Unlock()
		if !dup {
			return port
		}
	}
	t.Fatal("testenv: no free port that was not handed out before")
	return 0
}

// ServerOption changes how StartServer configures and starts a server.
type ServerOption func(*serverSettings)

type serverSettings struct {
	config       map[string]any
	args         []string
	env          []string
	startTimeout time.Duration
	noWait       bool
}

// WithConfig sets one key of the server's locket.json (a nil value removes
// the key). Durations are Go duration strings, as in a real locket.json.
func WithConfig(key string, value any) ServerOption {
	return func(s *serverSettings) {
		if value == nil {
			delete(s.config, key)
			return
		}
		s.config[key] = value
	}
}

// WithLogLevel sets log_level ("debug", "info", "error", "fatal").
func WithLogLevel(level string) ServerOption { return WithConfig("log_level", level) }

// WithArgs adds command-line arguments after -config=FILE.
func WithArgs(args ...string) ServerOption {
	return func(s *serverSettings) { s.args = append(s.args, args...) }
}

// WithEnv adds KEY=VALUE entries to the process environment.
func WithEnv(kv ...string) ServerOption {
	return func(s *serverSettings) { s.env = append(s.env, kv...) }
}

// WithStartTimeout bounds how long StartServer waits for the server to accept
// TLS connections (default 60 s).
func WithStartTimeout(d time.Duration) ServerOption {
	return func(s *serverSettings) { s.startTimeout = d }
}

// NoWait makes StartServer return as soon as the process is started, without
// waiting for it to listen (for a server that should fail, or whose database
// is down). Use WaitReady or Wait afterwards.
func NoWait() ServerOption { return func(s *serverSettings) { s.noWait = true } }

// Server is a real locket server process started by StartServer.
//
// Address, DebugAddress and MetricsAddress are fixed for the life of the
// Server, Restart included. Lines/Logs hold everything the process printed on
// stdout since it was first started (across restarts).
type Server struct {
	Address        string // gRPC mTLS address, 127.0.0.1:port
	DebugAddress   string // pprof and POST /log-level
	MetricsAddress string // Prometheus text at http://MetricsAddress/metrics
	ConfigFile     string // the locket.json written for it
	Config         map[string]any
	Certs          *Certs
	Binary         string

	t        testing.TB
	settings serverSettings

	mu       sync.Mutex
	lines    []string
	stderr   []string
	cmd      *oexec.Cmd
	done     chan struct{} // closed when the current process has exited
	exitErr  error
	newLines *sync.Cond
}

// StartServer starts the real server binary (BuildLocket) against db, with
// certs (nil: NewCerts(t)), and waits until it accepts mutual-TLS connections.
// It is stopped (SIGTERM, then SIGKILL after 10 s) when the test ends.
//
// The config it writes has the keys a foundation's locket.json has, pointed
// at the test: listen_address, debug_address and metrics_address on free
// 127.0.0.1 ports, ca_file/cert_file/key_file from certs, database_driver and
// database_connection_string from db, log_level info, time_format rfc3339,
// report_interval 1s, and a loggregator block (accepted and unused). Change
// any key with WithConfig.
func StartServer(t testing.TB, db Database, certs *Certs, opts ...ServerOption) *Server {
	t.Helper()
	if certs == nil {
		certs = NewCerts(t)
	}
	s := &Server{
		Certs:          certs,
		Address:        FreeAddress(t),
		DebugAddress:   FreeAddress(t),
		MetricsAddress: FreeAddress(t),
		Binary:         BuildLocket(t),
		t:              t,
	}
	s.newLines = sync.NewCond(&s.mu)
	s.settings = serverSettings{
		startTimeout: 60 * time.Second,
		config: map[string]any{
			"listen_address":                   s.Address,
			"debug_address":                    s.DebugAddress,
			"metrics_address":                  s.MetricsAddress,
			"ca_file":                          certs.CAFile,
			"cert_file":                        certs.ServerCertFile,
			"key_file":                         certs.ServerKey,
			"database_driver":                  db.Driver,
			"database_connection_string":       db.DSN,
			"max_open_database_connections":    20,
			"max_database_connection_lifetime": "1h",
			"report_interval":                  "1s",
			"log_level":                        "info",
			"time_format":                      "rfc3339",
			"loggregator": map[string]any{
				"loggregator_use_v2_api": true,
				"loggregator_api_port":   3458,
				"loggregator_ca_path":    certs.CAFile,
				"loggregator_cert_path":  certs.ClientCertFile,
				"loggregator_key_path":   certs.ClientKey,
			},
		},
	}
	for _, o := range opts {
		o(&s.settings)
	}
	s.Config = s.settings.config
	if a, ok := s.Config["listen_address"].(string); ok {
		s.Address = a
	}
	if a, ok := s.Config["debug_address"].(string); ok {
		s.DebugAddress = a
	} else {
		s.DebugAddress = ""
	}
	if a, ok := s.Config["metrics_address"].(string); ok {
		s.MetricsAddress = a
	} else {
		s.MetricsAddress = ""
	}

	b, err := json.MarshalIndent(s.Config, "", "  ")
	if err != nil {
		t.Fatalf("testenv: encode server config: %v", err)
	}
	s.ConfigFile = filepath.Join(t.TempDir(), "locket.json")
	if err := os.WriteFile(s.ConfigFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	t.Cleanup(func() {
		if s.running() {
			s.Stop()
		}
		if t.Failed() {
			s.dumpTail(40)
		}
	})
	s.start()
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := append([]string{"-config=" + s.ConfigFile}, s.settings.args...)
	cmd := oexec.Command(s.Binary, args...)
	cmd.Env = append(os.Environ(), s.settings.env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testenv: start %s: %v", s.Binary, err)
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.done, s.exitErr = cmd, done, nil
	s.mu.Unlock()

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); s.collect(stdout, false) }()
	go func() { defer readers.Done(); s.collect(stderr, true) }()
	go func() {
		readers.Wait() // read everything before Wait closes the pipes
		err := cmd.Wait()
		s.mu.Lock()
		s.exitErr = err
		s.mu.Unlock()
		close(done)
		s.mu.Lock()
		s.newLines.Broadcast()
		s.mu.Unlock()
	}()

	if !s.settings.noWait {
		s.WaitReady(s.settings.startTimeout)
	}
}

func (s *Server) collect(r io.Reader, isStderr bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		s.mu.Lock()
		if isStderr {
			s.stderr = append(s.stderr, sc.Text())
		} else {
			s.lines = append(s.lines, sc.Text())
		}
		s.newLines.Broadcast()
		s.mu.Unlock()
	}
}

// WaitReady waits until the server completes a mutual-TLS handshake (ALPN h2)
// with the test client certificate, failing the test if the process exits or
// the timeout passes first.
func (s *Server) WaitReady(timeout time.Duration) {
	s.t.Helper()
	cfg := s.ClientTLS(s.t)
	cfg.NextProtos = []string{"h2"}
	deadline := time.Now().Add(timeout)
	for {
		if !s.running() {
			s.t.Fatalf("testenv: locket exited before listening (%v)\nstdout:\n%s\nstderr:\n%s",
				s.ExitErr(), s.tail(s.Lines(), 30), s.tail(s.Stderr(), 30))
		}
		d := net.Dialer{Timeout: time.Second}
		conn, err := tls.DialWithDialer(&d, "tcp", s.Address, cfg)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("testenv: locket not accepting TLS on %s after %s: %v\nstdout:\n%s\nstderr:\n%s",
				s.Address, timeout, err, s.tail(s.Lines(), 30), s.tail(s.Stderr(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ClientTLS returns a client TLS config with the test client certificate
// that verifies the server as ServerName.
func (s *Server) ClientTLS(t testing.TB) *tls.Config {
	t.Helper()
	cfg, err := tlsconfig.Client(s.Certs.ClientCertFile, s.Certs.ClientKey, s.Certs.CAFile, ServerName, false)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Dial opens a gRPC connection to the server with the test client
// certificate; it is closed when the test ends.
func (s *Server) Dial(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(s.ClientTLS(t)))}, opts...)
	conn, err := grpc.NewClient(s.Address, opts...)
	if err != nil {
		t.Fatalf("testenv: dial %s: %v", s.Address, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Client returns a generated Locket client on a new connection (Dial).
func (s *Server) Client(t testing.TB) models.LocketClient {
	t.Helper()
	return models.NewLocketClient(s.Dial(t))
}

// Signal sends sig to the running process.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Errorf("testenv: signal locket: %v", err)
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// error (nil for exit status 0). It fails the test on timeout.
func (s *Server) Wait(timeout time.Duration) error {
	s.t.Helper()
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
		return s.ExitErr()
	case <-time.After(timeout):
		s.t.Fatalf("testenv: locket still running after %s", timeout)
		return nil
	}
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 10 s). It returns
// the exit error: nil when the server exited 0.
func (s *Server) Stop() error {
	s.t.Helper()
	if !s.running() {
		return s.ExitErr()
	}
	s.Signal(syscall.SIGTERM)
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		s.t.Errorf("testenv: locket ignored SIGTERM for 10 s; killing it")
		s.Kill()
	}
	return s.ExitErr()
}

// Kill sends SIGKILL and waits for the process to go.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
}

// Restart stops the server (SIGTERM) if it runs and starts it again with the
// same config and addresses, waiting until it listens (unless NoWait was
// given to StartServer).
func (s *Server) Restart() {
	s.t.Helper()
	if s.running() {
		if err := s.Stop(); err != nil {
			s.t.Errorf("testenv: locket exited with %v on SIGTERM", err)
		}
	}
	s.start()
}

// Running reports whether the process is still running.
func (s *Server) Running() bool { return s.running() }

func (s *Server) running() bool {
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// ExitErr is the exit error of the last process (nil while it runs or when
// it exited 0).
func (s *Server) ExitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.exitErr
}

// Pid is the process id of the running process.
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd.Process.Pid
}

// Lines returns a copy of every stdout line so far.
func (s *Server) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Stderr returns a copy of every stderr line so far.
func (s *Server) Stderr() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stderr...)
}

// LogLine is one lager line. Level is "debug", "info", "error" or "fatal"
// in both time formats (unix-epoch lines carry a numeric log_level).
type LogLine struct {
	Timestamp string         `json:"timestamp"`
	Level     string         `json:"level"`
	LogLevel  *int           `json:"log_level"`
	Source    string         `json:"source"`
	Message   string         `json:"message"`
	Data      map[string]any `json:"data"`
	Raw       string         `json:"-"`
}

// ParseLogLine parses one lager JSON line.
func ParseLogLine(line string) (LogLine, error) {
	var l LogLine
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if err := dec.Decode(&l); err != nil {
		return LogLine{}, err
	}
	if l.Level == "" && l.LogLevel != nil {
		l.Level = [...]string{"debug", "info", "error", "fatal"}[min(max(*l.LogLevel, 0), 3)]
	}
	l.Raw = line
	return l, nil
}

// Logs returns the stdout lines that parse as lager JSON.
func (s *Server) Logs() []LogLine {
	var out []LogLine
	for _, line := range s.Lines() {
		if l, err := ParseLogLine(line); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// LogsWithMessage returns the log lines whose message is msg.
func (s *Server) LogsWithMessage(msg string) []LogLine {
	var out []LogLine
	for _, l := range s.Logs() {
		if l.Message == msg {
			out = append(out, l)
		}
	}
	return out
}

// WaitForLog waits up to timeout for a stdout log line matching match (from
// the start of the output) and returns it; it fails the test on timeout.
func (s *Server) WaitForLog(timeout time.Duration, match func(LogLine) bool) LogLine {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.newLines.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	seen := 0
	for {
		s.mu.Lock()
		for seen == len(s.lines) && ctx.Err() == nil {
			s.newLines.Wait()
		}
		lines := append([]string(nil), s.lines[seen:]...)
		seen = len(s.lines)
		s.mu.Unlock()
		for _, line := range lines {
			if l, err := ParseLogLine(line); err == nil && match(l) {
				return l
			}
		}
		if ctx.Err() != nil {
			s.t.Fatalf("testenv: no matching log line within %s; last lines:\n%s", timeout, s.tail(s.Lines(), 20))
			return LogLine{}
		}
	}
}

// WaitForMessage waits for a log line with message msg.
func (s *Server) WaitForMessage(timeout time.Duration, msg string) LogLine {
	s.t.Helper()
	return s.WaitForLog(timeout, func(l LogLine) bool { return l.Message == msg })
}

func (s *Server) tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *Server) dumpTail(n int) {
	s.t.Logf("locket %s stdout (last %d lines):\n%s", s.Address, n, s.tail(s.Lines(), n))
	if e := s.Stderr(); len(e) > 0 {
		s.t.Logf("locket %s stderr:\n%s", s.Address, s.tail(e, n))
	}
}
