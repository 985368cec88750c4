package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

// Kind names the server implementation under test.
type Kind string

const (
	Ours     Kind = "ours"
	Upstream Kind = "upstream"
)

// Kinds in the order rounds run them.
var Kinds = []Kind{Ours, Upstream}

// Server is a running server process (ours or upstream's) with its log.
type Server struct {
	Kind    Kind
	Address string
	cmd     *exec.Cmd
	done    chan struct{}
	logPath string // where the log's tail goes when the process ends ("" for nowhere)
	// debugAddress serves pprof when profiling ("": not profiled);
	// profilePrefix names its profiles.
	debugAddress, profilePrefix string
	// metricsAddress serves our server's metrics ("" for upstream's).
	metricsAddress string
	profiles       int
	logf           func(string, ...any)

	mu    sync.Mutex
	lines []string
}

// serverConfig is a foundation's locket.json pointed at the benchmark: both
// servers read the same keys (upstream ignores the ones it does not know).
func (e *Env) serverConfig(addr string, db testenv.Database) map[string]any {
	return map[string]any{
		"listen_address":                   addr,
		"ca_file":                          e.Certs.CAFile,
		"cert_file":                        e.Certs.ServerCertFile,
		"key_file":                         e.Certs.ServerKey,
		"database_driver":                  db.Driver,
		"database_connection_string":       db.DSN,
		"max_open_database_connections":    e.Opts.DBConns,
		"max_database_connection_lifetime": "1h",
		"log_level":                        "info",
		"time_format":                      "rfc3339",
		"report_interval":                  "1m",
		// Upstream exits without readable loggregator files; no agent needs to listen.
		"loggregator": map[string]any{
			"loggregator_use_v2_api": true,
			"loggregator_api_port":   3458,
			"loggregator_ca_path":    e.Certs.CAFile,
			"loggregator_cert_path":  e.Certs.ClientCertFile,
			"loggregator_key_path":   e.Certs.ClientKey,
		},
	}
}

// StartServer starts a server of kind on db and waits until it listens.
func (e *Env) StartServer(ctx context.Context, kind Kind, db testenv.Database) (*Server, error) {
	bin := e.Opts.OursBin
	if kind == Upstream {
		bin = e.Opts.UpstreamBin
	}
	addr, err := e.freeAddress()
	if err != nil {
		return nil, err
	}
	cfg := e.serverConfig(addr, db)
	var debugAddr string
	if e.Opts.ProfileDir != "" {
		// Both servers serve pprof on debug_address (upstream through
		// cf debugserver), so both can be profiled the same way.
		if debugAddr, err = e.freeAddress(); err != nil {
			return nil, err
		}
		cfg["debug_address"] = debugAddr
	}
	var metricsAddr string
	if kind == Ours {
		// For the server's own request latency (RequestLatency).
		if metricsAddr, err = e.freeAddress(); err != nil {
			return nil, err
		}
		cfg["metrics_address"] = metricsAddr
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode %s config: %w", kind, err)
	}
	e.mu.Lock()
	e.serial++
	serial := e.serial
	e.mu.Unlock()
	path := filepath.Join(e.Dir, fmt.Sprintf("%s-%d.json", kind, serial))
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write %s config: %w", kind, err)
	}
	s := &Server{Kind: kind, Address: addr, done: make(chan struct{}), debugAddress: debugAddr, metricsAddress: metricsAddr, logf: e.logf}
	if debugAddr != "" {
		s.profilePrefix = filepath.Join(e.Opts.ProfileDir, fmt.Sprintf("%03d-%s-%s", serial, kind, db.Name))
	}
	if e.Opts.LogDir != "" {
		s.logPath = filepath.Join(e.Opts.LogDir, fmt.Sprintf("%03d-%s-%s.log", serial, kind, db.Name))
	}
	s.cmd = exec.Command(bin, "-config="+path)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no server outlives the benchmark
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s server %s: %w", kind, bin, err)
	}
	go s.collect(out)
	if err := s.waitListening(ctx, 30*time.Second); err != nil {
		s.Kill()
		return nil, fmt.Errorf("%s server did not come up on %s: %w\n%s", kind, addr, err, s.tail(20))
	}
	return s, nil
}

func (s *Server) collect(r io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		s.mu.Lock()
		s.lines = append(s.lines, sc.Text())
		s.mu.Unlock()
	}
	_ = s.cmd.Wait()
	if s.logPath != "" {
		// The tail is enough to see what went wrong; whole logs of the
		// fleet run to hundreds of megabytes.
		const keep = 5000
		_ = os.WriteFile(s.logPath, []byte(s.tail(keep)+"\n"), 0o644)
	}
}

// waitListening waits until the server accepts TCP connections: both servers
// listen only once their database is set up.
func (s *Server) waitListening(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("exited (%v)", s.cmd.ProcessState)
		default:
		}
		conn, err := net.DialTimeout("tcp", s.Address, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Exited reports whether the process has gone.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// CPU returns the user+system CPU time the process has used so far.
func (s *Server) CPU() (time.Duration, error) {
	d, err := procCPU(fmt.Sprint(s.Pid()))
	if err != nil {
		return 0, fmt.Errorf("%s server: %w", s.Kind, err)
	}
	return d, nil
}

// procCPU reads utime+stime of /proc/<pid>/stat ("self" for this process).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: unexpected format")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: unexpected utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / testenv.ClockTicks, nil
}

// RSS returns the process's resident set size in bytes (VmRSS).
func (s *Server) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return 0, fmt.Errorf("read %s server status: %w", s.Kind, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s server VmRSS %q: %w", s.Kind, v, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("%s server status has no VmRSS", s.Kind)
}

// LineCount is the number of log lines so far, a mark for ErrorLines.
func (s *Server) LineCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.lines)
}

// ErrorLines returns the error- and fatal-level lager lines logged since
// line mark, and lines that are not lager JSON at all (a panic's trace).
func (s *Server) ErrorLines(mark int) []string {
	s.mu.Lock()
	lines := append([]string(nil), s.lines[min(mark, len(s.lines)):]...)
	s.mu.Unlock()
	var out []string
	for _, line := range lines {
		var l struct {
			Level    string          `json:"level"`
			LogLevel json.RawMessage `json:"log_level"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			out = append(out, line)
			continue
		}
		switch l.Level {
		case "error", "fatal":
			out = append(out, line)
		case "":
			// unix-epoch format: numeric log_level, 2 = error, 3 = fatal.
			if lv := string(l.LogLevel); lv == "2" || lv == "3" {
				out = append(out, line)
			}
		}
	}
	return out
}

// CountMessages counts lager lines since mark whose message ends with msg
// (lager prefixes the session: "locket.lock-expired").
func (s *Server) CountMessages(mark int, msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, line := range s.lines[min(mark, len(s.lines)):] {
		var l struct {
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && (l.Message == msg || strings.HasSuffix(l.Message, "."+msg)) {
			n++
		}
	}
	return n
}

func (s *Server) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := s.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop sends SIGTERM and waits for the exit (SIGKILL after 10 s).
func (s *Server) Stop() {
	if s.Exited() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.Kill()
	}
}

// Kill sends SIGKILL and waits for the process to go.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// Profile takes a CPU profile and an allocation profile (what was
// allocated in the window only) of the server over the next d, in the
// background; wait blocks until both are written (a no-op when not
// profiling). A failed profile is reported on the progress stream, never
// fails a run.
func (s *Server) Profile(d time.Duration) (wait func()) {
	if s.debugAddress == "" {
		return func() {}
	}
	s.profiles++
	secs := max(1, int(d.Round(time.Second)/time.Second))
	var wg sync.WaitGroup
	for _, p := range []struct{ endpoint, suffix string }{{"profile", "cpu"}, {"allocs", "allocs"}} {
		wg.Go(func() {
			path := fmt.Sprintf("%s-%d.%s.pprof", s.profilePrefix, s.profiles, p.suffix)
			url := fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", s.debugAddress, p.endpoint, secs)
			if err := fetchProfile(url, path); err != nil {
				s.logf("   %s profile of %s server failed: %v", p.suffix, s.Kind, err)
				return
			}
			s.logf("   %s profile of %s server: %s", p.suffix, s.Kind, path)
		})
	}
	return wg.Wait
}

// fetchProfile saves the profile that url answers with at path.
func fetchProfile(url, path string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
