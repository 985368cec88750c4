package client_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }

const (
	interval  = time.Second // the runners' retry interval in these tests (upstream's: 5 s; older Diego: 1 s)
	collision = "rpc error: code = AlreadyExists desc = lock-collision"
)

// jsonOf re-encodes a parsed log value, for comparing with expected JSON.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// lockIs reports whether the line's "lock" is exactly want, field order
// included (the order upstream's Resource has: key, owner, value, type,
// type_code).
func lockIs(l testenv.LogLine, want string) bool {
	return strings.Contains(l.Raw, `"lock":`+want+`,`)
}

// TestRunners runs the runner semantics against one real server on MariaDB;
// each subtest uses keys of its own.
func TestRunners(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t, e.srv.Address)

	t.Run("lock: started, acquired, renewed, released on cancel", func(t *testing.T) {
		logger, logs := newLogger("bbs")
		r, err := client.NewLockRunner(logger, c, client.RunnerConfig{Key: "bbs-1", Owner: "cell-a", RetryInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, r)

		acq := logs.waitFor(t, 10*time.Second, "bbs.locket-lock.acquired-lock", 1)
		want := `{"key":"bbs-1","owner":"cell-a","type":"lock","type_code":1}`
		if !lockIs(acq, want) {
			t.Errorf("acquired-lock = %s, want lock %s", acq.Raw, want)
		}
		if got := jsonOf(t, acq.Data["ttl_in_seconds"]); got != "15" {
			t.Errorf("ttl_in_seconds = %s, want 15", got)
		}
		if acq.Level != "info" || acq.Source != "bbs" {
			t.Errorf("acquired-lock level %q source %q", acq.Level, acq.Source)
		}
		if first := logs.all()[0]; first.Message != "bbs.locket-lock.started" || !lockIs(first, want) {
			t.Errorf("first line = %s, want bbs.locket-lock.started with the lock", first.Raw)
		}
		if got := e.owner(t, "bbs-1"); got != "cell-a" {
			t.Fatalf("owner = %q, want cell-a", got)
		}
		// The server saw the request UUID the runner sent.
		line := e.srv.WaitForLog(10*time.Second, func(l testenv.LogLine) bool {
			return l.Message == "locket.lock.lock.acquired-lock" && l.Data["key"] == "bbs-1"
		})
		if id, _ := line.Data["request-uuid"].(string); !uuidRE.MatchString(id) {
			t.Errorf("server logged request-uuid %q, want a UUID", id)
		}

		// Renewals: the row's modified_index goes up while it is held.
		i0 := e.modifiedIndex(t, "bbs-1")
		time.Sleep(5 * interval)
		if i1 := e.modifiedIndex(t, "bbs-1"); i1 < i0+2 {
			t.Errorf("modified_index went from %d to %d in %s; want renewals every %s", i0, i1, 5*interval, interval)
		}
		if n := len(logs.with("bbs.locket-lock.acquired-lock")); n != 1 {
			t.Errorf("%d acquired-lock lines; renewals must not log", n)
		}

		if err := run.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
		logs.waitFor(t, time.Second, "bbs.locket-lock.released-lock", 1)
		last := logs.all()[len(logs.all())-1]
		if last.Message != "bbs.locket-lock.completed" {
			t.Errorf("last line %q, want completed", last.Message)
		}
		if got := e.owner(t, "bbs-1"); got != "" {
			t.Errorf("after release owner = %q, want none", got)
		}
	})

	t.Run("lock: collides silently, takes over after release", func(t *testing.T) {
		e.claim(t, "bbs-2", "cell-other", models.TypeCode_LOCK)
		logger, logs := newLogger("bbs")
		var acquired atomic.Int32
		r, err := client.NewLockRunner(logger, c, client.RunnerConfig{
			Key: "bbs-2", Owner: "cell-b", RetryInterval: interval,
			OnAcquired: func() { acquired.Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, r)

		f := logs.waitFor(t, 10*time.Second, "bbs.locket-lock.failed-to-acquire-lock", 1)
		if f.Level != "error" || f.Data["error"] != collision || f.Data["lock-owner"] != "cell-other" {
			t.Errorf("failed-to-acquire-lock = %s", f.Raw)
		}
		if id, _ := f.Data["request-uuid"].(string); !uuidRE.MatchString(id) {
			t.Errorf("request-uuid %q is not a UUID", id)
		}
		if !lockIs(f, `{"key":"bbs-2","owner":"cell-b","type":"lock","type_code":1}`) {
			t.Errorf("lock of %s", f.Raw)
		}
		time.Sleep(5 * interval)
		if n := len(logs.with("bbs.locket-lock.failed-to-acquire-lock")); n != 1 {
			t.Errorf("%d failed-to-acquire-lock lines after 5 retries, want 1 (later collisions are silent)", n)
		}
		if acquired.Load() != 0 || e.owner(t, "bbs-2") != "cell-other" {
			t.Fatalf("the runner took a held lock")
		}

		e.release(t, "bbs-2", "cell-other")
		logs.waitFor(t, 10*time.Second, "bbs.locket-lock.acquired-lock", 1)
		eventually(t, func() bool { return acquired.Load() == 1 }) // called right after the log line
		if acquired.Load() != 1 || e.owner(t, "bbs-2") != "cell-b" {
			t.Errorf("after release: OnAcquired %d times, owner %q", acquired.Load(), e.owner(t, "bbs-2"))
		}
		if err := run.stop(t); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("lock: lost lock ends the runner", func(t *testing.T) {
		logger, logs := newLogger("auctioneer")
		r, err := client.NewLockRunner(logger, c, client.RunnerConfig{Key: "auctioneer-3", Owner: "cell-c", RetryInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, r)
		logs.waitFor(t, 10*time.Second, "auctioneer.locket-lock.acquired-lock", 1)

		// Someone takes it over between two renewals.
		e.steal(t, "auctioneer-3", "thief")

		err = run.wait(t, 10*time.Second)
		var lost *client.LostLockError
		if !errors.As(err, &lost) {
			t.Fatalf("Run = %v, want a *LostLockError", err)
		}
		if status.Code(lost.Err) != codes.AlreadyExists || !strings.Contains(err.Error(), "lost lock (request failed), request-uuid "+lost.RequestID) {
			t.Errorf("error %q", err)
		}
		l := logs.waitFor(t, time.Second, "auctioneer.locket-lock.lost-lock", 1)
		if l.Level != "error" || l.Data["error"] != collision || l.Data["request-uuid"] != lost.RequestID || l.Data["duration"] == nil {
			t.Errorf("lost-lock = %s", l.Raw)
		}
		if len(logs.with("auctioneer.locket-lock.released-lock")) != 0 {
			t.Errorf("a runner that lost its lock released")
		}
		if last := logs.all()[len(logs.all())-1]; last.Message != "auctioneer.locket-lock.completed" {
			t.Errorf("last line %q, want completed", last.Message)
		}
		if got := e.owner(t, "auctioneer-3"); got != "thief" {
			t.Errorf("owner %q, want thief", got)
		}
	})

	t.Run("lock: cancelled before acquiring leaves the holder's lock alone", func(t *testing.T) {
		e.claim(t, "bbs-4", "holder", models.TypeCode_LOCK)
		logger, logs := newLogger("bbs")
		r, err := client.NewLockRunner(logger, c, client.RunnerConfig{Key: "bbs-4", Owner: "waiter", RetryInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, r)
		logs.waitFor(t, 10*time.Second, "bbs.locket-lock.failed-to-acquire-lock", 1)
		if err := run.stop(t); err != nil {
			t.Fatal(err)
		}
		if n := len(logs.with("bbs.locket-lock.released-lock")) + len(logs.with("bbs.locket-lock.failed-to-release-lock")); n != 0 {
			t.Errorf("a runner that never held the lock logged a release")
		}
		if got := e.owner(t, "bbs-4"); got != "holder" {
			t.Errorf("owner %q, want holder", got)
		}
	})

	t.Run("presence: keeps trying after a loss, re-acquires", func(t *testing.T) {
		logger, logs := newLogger("rep")
		var acquired, lostN atomic.Int32
		value := `{"cell_id":"cell-5"}`
		r, err := client.NewPresenceRunner(logger, c, client.RunnerConfig{
			Key: "cell-5", Owner: "owner-5", Value: value, RetryInterval: interval,
			OnAcquired: func() { acquired.Add(1) },
			OnLost:     func(error) { lostN.Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		run := start(t, r)
		a := logs.waitFor(t, 10*time.Second, "rep.locket-lock.acquired-lock", 1)
		want := `{"key":"cell-5","owner":"owner-5","value":"{\"cell_id\":\"cell-5\"}","type":"presence","type_code":2}`
		if !lockIs(a, want) {
			t.Errorf("acquired-lock = %s, want lock %s", a.Raw, want)
		}

		e.steal(t, "cell-5", "intruder")
		l := logs.waitFor(t, 10*time.Second, "rep.locket-lock.lost-lock", 1)
		if l.Data["error"] != collision {
			t.Errorf("lost-lock = %s", l.Raw)
		}
		time.Sleep(3 * interval)
		run.stillRunning(t)
		if eventually(t, func() bool { return lostN.Load() == 1 }); lostN.Load() != 1 {
			t.Errorf("OnLost called %d times, want 1", lostN.Load())
		}
		if n := len(logs.with("rep.locket-lock.failed-to-acquire-lock")); n != 0 {
			t.Errorf("%d failed-to-acquire-lock lines after a loss; collisions after the first attempt are silent", n)
		}

		e.release(t, "cell-5", "intruder")
		logs.waitFor(t, 10*time.Second, "rep.locket-lock.acquired-lock", 2)
		eventually(t, func() bool { return acquired.Load() == 2 })
		if acquired.Load() != 2 || e.owner(t, "cell-5") != "owner-5" {
			t.Errorf("OnAcquired %d times, owner %q", acquired.Load(), e.owner(t, "cell-5"))
		}
		if err := run.stop(t); err != nil {
			t.Fatal(err)
		}
		logs.waitFor(t, time.Second, "rep.locket-lock.released-lock", 1)
		if got := e.owner(t, "cell-5"); got != "" {
			t.Errorf("presence still held by %q after release", got)
		}
	})

	t.Run("ifrit adapter: ready on acquisition, release on signal", func(t *testing.T) {
		logger, logs := newLogger("bbs")
		r, err := client.NewLockRunner(logger, c, client.RunnerConfig{Key: "bbs-6", Owner: "cell-f", RetryInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		signals := make(chan os.Signal, 1)
		ready := make(chan struct{})
		done := make(chan error, 1)
		go func() { done <- client.IfritRunner{Runner: r}.Run(signals, ready) }()
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("not ready within 10 s")
		}
		if got := e.owner(t, "bbs-6"); got != "cell-f" {
			t.Fatalf("owner %q", got)
		}
		signals <- syscall.SIGTERM
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("still running 10 s after SIGTERM")
		}
		logs.waitFor(t, time.Second, "bbs.locket-lock.released-lock", 1)
		if got := e.owner(t, "bbs-6"); got != "" {
			t.Errorf("owner %q after release", got)
		}
	})
}

// eventually waits up to 5 s for cond (a callback that runs just after the
// log line the test waited for).
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunnerConfigErrors(t *testing.T) {
	logger, _ := newLogger("x")
	for _, tc := range []struct {
		name string
		cfg  client.RunnerConfig
		want string
	}{
		{"no owner", client.RunnerConfig{Key: "k"}, "owner is empty"},
		{"interval not under ttl", client.RunnerConfig{Key: "k", Owner: "o", TTLInSeconds: 5, RetryInterval: 5 * time.Second}, "not shorter than the ttl"},
		{"negative ttl", client.RunnerConfig{Key: "k", Owner: "o", TTLInSeconds: -1}, "not positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.NewLockRunner(logger, nil, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
