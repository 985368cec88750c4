package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/locket-release/locket/models"
)

// envAgent names the spec file of an agent process: the test binary started
// with it set runs the agent instead of the tests.
const envAgent = "LKF_AGENT"

// RunAgentIfRequested runs the agent and exits when the process was started
// as one; TestMain calls it first.
func RunAgentIfRequested() {
	path := os.Getenv(envAgent)
	if path == "" {
		return
	}
	if err := runAgent(path); err != nil {
		fmt.Fprintf(os.Stderr, "agent: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runAgent(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec AgentSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	rec := NewRecorder(os.Stdout, spec.Name)
	var wg sync.WaitGroup
	for i, ws := range spec.Workers {
		conn, err := dial(spec)
		if err != nil {
			return fmt.Errorf("dial for %s: %w", ws.Name, err)
		}
		defer conn.Close()
		w := &worker{
			spec:   ws,
			client: models.NewLocketClient(conn),
			rec:    rec,
			rnd:    mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), uint64(i))),
		}
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	wg.Wait()
	return rec.Err()
}

// agent is a running agent process as the driver sees it.
type agent struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{} // closed when its event stream has been read
	stderr bytes.Buffer
	err    error
}

// startAgent starts spec as an agent process (inside network namespace ns
// when not empty) whose events go into h.
func startAgent(t testing.TB, h *History, spec AgentSpec, ns string) *agent {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "agent-"+spec.Name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a := &agent{name: spec.Name, done: make(chan struct{})}
	if ns != "" {
		// ip netns exec execs the program in place: the pid is the agent's.
		a.cmd = exec.Command("ip", "netns", "exec", ns, exe)
	} else {
		a.cmd = exec.Command(exe)
	}
	a.cmd.Env = append(os.Environ(), envAgent+"="+path)
	a.cmd.Stderr = &a.stderr
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent %s: %v", spec.Name, err)
	}
	go func() {
		defer close(a.done)
		a.err = h.Ingest(out)
	}()
	t.Cleanup(func() { a.stop(t) })
	return a
}

func (a *agent) signal(sig syscall.Signal) error {
	if a.cmd.Process == nil {
		return fmt.Errorf("agent %s not started", a.name)
	}
	return a.cmd.Process.Signal(sig)
}

// stop ends the agent (resuming it first if it was paused) and waits until
// everything it recorded has been read.
func (a *agent) stop(t testing.TB) {
	if a.cmd.ProcessState != nil {
		return
	}
	_ = a.signal(syscall.SIGCONT)
	_ = a.signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		t.Errorf("agent %s ignored SIGTERM; killing it", a.name)
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	err := a.cmd.Wait()
	if err != nil || a.err != nil {
		t.Errorf("agent %s: exit %v, events %v\n%s", a.name, err, a.err, a.stderr.String())
	}
}
