package testenv

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	oexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	commandBuilds sync.Map // package path -> *commandBuild
)

type commandBuild struct {
	once sync.Once
	path string
	err  error
}

// BuildCommand returns the path of the program built from this module's
// package pkg (e.g. "./cmd/lock-holder"), built once per test binary into a
// fixed file per module checkout under the OS temp dir, as BuildLocket does.
func BuildCommand(t testing.TB, pkg string) string {
	t.Helper()
	v, _ := commandBuilds.LoadOrStore(pkg, &commandBuild{})
	b := v.(*commandBuild)
	b.once.Do(func() { b.path, b.err = buildCommand(pkg) })
	if b.err != nil {
		t.Fatalf("testenv: build %s: %v", pkg, b.err)
	}
	return b.path
}

func buildCommand(pkg string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "locket-testenv-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	final := filepath.Join(dir, filepath.Base(pkg)+"-"+hex.EncodeToString(sum[:6]))
	tmp, err := os.CreateTemp(dir, ".build-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := oexec.Command("go", "build", "-o", tmp.Name(), pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", err
	}
	return final, nil
}

// Process is a program started by StartProcess: its stdout lines (lager
// JSON for our programs) and stderr lines are collected.
type Process struct {
	Name string

	t        testing.TB
	cmd      *oexec.Cmd
	mu       sync.Mutex
	lines    []string
	stderr   []string
	newLines *sync.Cond
	done     chan struct{}
	exitErr  error
}

// StartProcess starts cmd (its Stdout and Stderr must be unset) and collects
// its output. When the test ends a process still running gets SIGTERM, then
// SIGKILL after 10 s; if the test failed, the tail of its output is logged.
func StartProcess(t testing.TB, cmd *oexec.Cmd) *Process {
	t.Helper()
	p := &Process{Name: filepath.Base(cmd.Path), t: t, cmd: cmd, done: make(chan struct{})}
	p.newLines = sync.NewCond(&p.mu)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", cmd.Path, err)
	}
	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); p.collect(stdout, false) }()
	go func() { defer readers.Done(); p.collect(stderr, true) }()
	go func() {
		readers.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.exitErr = err
		close(p.done)
		p.newLines.Broadcast()
		p.mu.Unlock()
	}()
	t.Cleanup(func() {
		if p.Running() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("%s (pid %d) output (last 40 lines):\n%s", p.Name, cmd.Process.Pid, tail(p.Lines(), 40))
			if e := p.Stderr(); len(e) > 0 {
				t.Logf("%s stderr:\n%s", p.Name, tail(e, 40))
			}
		}
	})
	return p
}

func (p *Process) collect(r io.Reader, isStderr bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		p.mu.Lock()
		if isStderr {
			p.stderr = append(p.stderr, sc.Text())
		} else {
			p.lines = append(p.lines, sc.Text())
		}
		p.newLines.Broadcast()
		p.mu.Unlock()
	}
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Errorf("testenv: signal %s: %v", p.Name, err)
	}
}

// Running reports whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Wait waits up to timeout for the process to exit and returns its exit
// code (-1 when a signal killed it); it fails the test on timeout.
func (p *Process) Wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("testenv: %s still running after %s", p.Name, timeout)
	}
	var ee *oexec.ExitError
	p.mu.Lock()
	err := p.exitErr
	p.mu.Unlock()
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatalf("testenv: %s: %v", p.Name, err)
	return -1
}

// Lines returns a copy of every stdout line so far.
func (p *Process) Lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

// Stderr returns a copy of every stderr line so far.
func (p *Process) Stderr() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stderr...)
}

// Logs returns the stdout lines that parse as lager JSON.
func (p *Process) Logs() []LogLine {
	var out []LogLine
	for _, line := range p.Lines() {
		if l, err := ParseLogLine(line); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// LogsWithMessage returns the log lines whose message is msg.
func (p *Process) LogsWithMessage(msg string) []LogLine {
	var out []LogLine
	for _, l := range p.Logs() {
		if l.Message == msg {
			out = append(out, l)
		}
	}
	return out
}

// WaitForLog waits up to timeout for a stdout log line matching match (from
// the start of the output) and returns it; it fails the test on timeout or
// when the process exits without printing one.
func (p *Process) WaitForLog(timeout time.Duration, match func(LogLine) bool) LogLine {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.newLines.Broadcast()
		p.mu.Unlock()
	})
	defer stop()
	seen := 0
	for {
		p.mu.Lock()
		for seen == len(p.lines) && ctx.Err() == nil && p.Running() {
			p.newLines.Wait()
		}
		lines := append([]string(nil), p.lines[seen:]...)
		seen = len(p.lines)
		exited := !p.Running()
		p.mu.Unlock()
		for _, line := range lines {
			if l, err := ParseLogLine(line); err == nil && match(l) {
				return l
			}
		}
		if ctx.Err() != nil || exited {
			why := fmt.Sprintf("within %s", timeout)
			if exited {
				why = "before it exited"
			}
			p.t.Fatalf("testenv: %s printed no matching log line %s; last lines:\n%s\nstderr:\n%s",
				p.Name, why, tail(p.Lines(), 20), tail(p.Stderr(), 20))
			return LogLine{}
		}
	}
}

// WaitForMessage waits for a log line with message msg.
func (p *Process) WaitForMessage(timeout time.Duration, msg string) LogLine {
	p.t.Helper()
	return p.WaitForLog(timeout, func(l LogLine) bool { return l.Message == msg })
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WriteJSON writes v as JSON into a new file in a test temp dir (a program's
// config file) and returns its path.
func WriteJSON(t testing.TB, name string, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ClientConfig returns the upstream client keys (locket_address, ...) for
// address with the test client certificate.
func (c *Certs) ClientConfig(address string) map[string]any {
	return map[string]any{
		"locket_address":                  address,
		"locket_ca_cert_file":             c.CAFile,
		"locket_client_cert_file":         c.ClientCertFile,
		"locket_client_key_file":          c.ClientKey,
		"locket_client_keepalive_time":    10,
		"locket_client_keepalive_timeout": 22,
	}
}
