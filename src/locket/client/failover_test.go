package client_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

// recorder wraps a client and records every Lock call the runner makes.
type recorder struct {
	models.LocketClient
	mu    sync.Mutex
	calls []lockCall
}

type lockCall struct {
	start, end time.Time
	err        error
}

func (r *recorder) Lock(ctx context.Context, req *models.LockRequest, opts ...grpc.CallOption) (*models.LockResponse, error) {
	start := time.Now()
	resp, err := r.LocketClient.Lock(ctx, req, opts...)
	r.mu.Lock()
	r.calls = append(r.calls, lockCall{start: start, end: time.Now(), err: err})
	r.mu.Unlock()
	return resp, err
}

// since returns the calls that started at or after t.
func (r *recorder) since(t time.Time) []lockCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []lockCall
	for _, c := range r.calls {
		if !c.start.Before(t) {
			out = append(out, c)
		}
	}
	return out
}

// lastSuccessBefore returns the end of the last successful call that ended
// before t.
func (r *recorder) lastSuccessBefore(t time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, c := range r.calls {
		if c.err == nil && c.end.Before(t) {
			last = c.end
		}
	}
	return last
}

// waitCalls waits until n calls started at or after t have ended.
func (r *recorder) waitCalls(t *testing.T, after time.Time, n int, timeout time.Duration) []lockCall {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cs := r.since(after); len(cs) >= n {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d Lock calls within %s", n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePortOnBoth returns a port free on 127.0.0.1 and 127.0.0.2.
func freePortOnBoth(t *testing.T) string {
	t.Helper()
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(l1.Addr().(*net.TCPAddr).Port)
		l2, err := net.Listen("tcp", "127.0.0.2:"+port)
		l1.Close()
		if err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return ""
}

// TestFailoverBetweenServersBehindOneName puts two real servers (one
// database) behind one DNS name, as BOSH DNS does with
// locket.service.cf.internal, and holds a lock through the name while the
// server in use is killed (connections reset), then while the other one
// hangs (SIGSTOP: connections stay open, nothing answers, as when a VM
// vanishes). The lock must never be reported lost; the test logs how long
// each failover took.
func TestFailoverBetweenServersBehindOneName(t *testing.T) {
	if !testenv.WithHosts(t, map[string][]string{testenv.ServerName: {"127.0.0.1", "127.0.0.2"}}) {
		return
	}
	db := testenv.NewDatabase(t, "mysql")
	certs := testenv.NewCerts(t)
	port := freePortOnBoth(t)
	servers := map[string]*testenv.Server{}
	for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		servers[ip] = testenv.StartServer(t, db, certs, testenv.WithConfig("listen_address", ip+":"+port))
	}
	e := &env{db: db, certs: certs, srv: servers["127.0.0.1"]}

	// The interval of older Diego releases was 1 s; 2 s leaves the answer
	// after a failover (1 s) time on a database shared with other tests.
	const retry = 2 * time.Second
	c := e.dial(t, testenv.ServerName+":"+port) // the production path: a DNS name
	rec := &recorder{LocketClient: c}
	logger, logs := newLogger("bbs")
	r, err := client.NewLockRunner(logger, rec, client.RunnerConfig{Key: "bbs", Owner: "bbs-z1", RetryInterval: retry})
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, r)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range logs.all() {
				t.Log(l.Raw)
			}
		}
	})
	logs.waitFor(t, 10*time.Second, "bbs.locket-lock.acquired-lock", 1)

	// inUse returns the server that took the lock's acquisition (its log
	// line may come a moment after the client's).
	inUse := func() (string, *testenv.Server) {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			for ip, s := range servers {
				for _, l := range s.LogsWithMessage("locket.lock.lock.acquired-lock") {
					if l.Data["key"] == "bbs" {
						return ip, s
					}
				}
			}
		}
		t.Fatal("no server logged the acquisition")
		return "", nil
	}
	first, victim := inUse()
	other := "127.0.0.1"
	if first == other {
		other = "127.0.0.2"
	}

	// measure waits for 5 renewals after t0 and reports the gap between the
	// last renewal before t0 and the first one after it.
	measure := func(what string, t0 time.Time) {
		t.Helper()
		calls := rec.waitCalls(t, t0, 5, 30*time.Second)
		before := rec.lastSuccessBefore(t0)
		var firstOK time.Time
		var slowest time.Duration
		for i, cl := range calls {
			if cl.err != nil {
				t.Errorf("%s: a Lock call failed: %v", what, cl.err)
			}
			if firstOK.IsZero() && cl.err == nil {
				firstOK = cl.end
			}
			if d := cl.end.Sub(cl.start); i > 0 && d > slowest {
				slowest = d
			}
		}
		gap := firstOK.Sub(before)
		t.Logf("%s: renewal gap %s across the failure (normal: one retry interval, %s, plus a few ms); "+
			"first renewal after it took %s; slowest of the next 4: %s",
			what, gap.Round(time.Millisecond), retry, calls[0].end.Sub(calls[0].start).Round(time.Millisecond), slowest.Round(time.Millisecond))
	}

	// 1. The server in use dies: its connections are reset.
	t0 := time.Now()
	victim.Kill()
	measure("server "+first+" killed", t0)

	// Bring it back and give the client time to reconnect to it (its
	// reconnect backoff is at most 5 s).
	victim.Restart()
	time.Sleep(7 * time.Second)

	// 2. The server now in use hangs with its connections open.
	hung := servers[other]
	t.Cleanup(func() { hung.Signal(syscall.SIGCONT) })
	t1 := time.Now()
	hung.Signal(syscall.SIGSTOP)
	measure("server "+other+" hung (SIGSTOP)", t1)

	if n := len(logs.with("bbs.locket-lock.lost-lock")); n != 0 {
		t.Errorf("lost-lock logged %d times; failover must keep the lock", n)
	}
	run.stillRunning(t)
	hung.Signal(syscall.SIGCONT)
	// The resumed server still has the Lock attempts it received while
	// stopped (cancelled by the client, but queued in its socket) and may
	// carry them out when it wakes up. Let it, before releasing: a late
	// renewal after the Release would hold the lock for one more TTL.
	time.Sleep(time.Second)
	if err := run.stop(t); err != nil {
		t.Fatal(err)
	}
	e.raw = servers[first].Client(t) // a fresh connection to the restarted server
	if got := e.owner(t, "bbs"); got != "" {
		t.Errorf("owner %q after release", got)
	}
}

// TestSlowAnswerIsNotALostLock: the only server stalls (SIGSTOP, as in a
// long pause) across a renewal, past the failover delay, and answers before
// the interval ends: the renewal succeeds and the lock is kept, as with
// upstream's client, whose deadline is one interval.
func TestSlowAnswerIsNotALostLock(t *testing.T) {
	e := newEnv(t)
	const retry = 4 * time.Second // failover delay: 2 s
	c := e.dial(t, e.srv.Address)
	rec := &recorder{LocketClient: c}
	logger, logs := newLogger("bbs")
	r, err := client.NewLockRunner(logger, rec, client.RunnerConfig{Key: "slow", Owner: "o", RetryInterval: retry})
	if err != nil {
		t.Fatal(err)
	}
	run := start(t, r)
	logs.waitFor(t, 10*time.Second, "bbs.locket-lock.acquired-lock", 1)
	acquiredAt := rec.lastSuccessBefore(time.Now().Add(time.Second))

	// Stall the only server from before the next renewal until 2.5 s into
	// it: past the failover delay, well within the interval.
	e.srv.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { e.srv.Signal(syscall.SIGCONT) })
	time.Sleep(time.Until(acquiredAt.Add(retry + 2500*time.Millisecond)))
	e.srv.Signal(syscall.SIGCONT)

	calls := rec.waitCalls(t, acquiredAt, 1, 10*time.Second)
	if err := calls[0].err; err != nil {
		t.Fatalf("the renewal failed: %v", err)
	}
	t.Logf("the renewal took %s (server stalled for the first ~2.5 s of it)", calls[0].end.Sub(calls[0].start).Round(time.Millisecond))
	if n := len(logs.with("bbs.locket-lock.lost-lock")); n != 0 {
		t.Errorf("lost-lock logged on a slow answer")
	}
	run.stillRunning(t)
}
