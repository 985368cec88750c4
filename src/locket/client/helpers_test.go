package client_test

import (
	"context"
	"regexp"
	"sync"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// logSink records a logger's lines as the JSON a program would print, parsed
// back, so that tests see data keys and values as operators do.
type logSink struct {
	mu    sync.Mutex
	lines []testenv.LogLine
	added chan struct{}
}

func newLogger(component string) (lager.Logger, *logSink) {
	s := &logSink{added: make(chan struct{}, 1)}
	l := lager.NewLogger(component)
	l.RegisterSink(s)
	return l, s
}

func (s *logSink) Log(f lager.LogFormat) {
	line, err := testenv.ParseLogLine(string(f.ToJSON()))
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.lines = append(s.lines, line)
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
}

func (s *logSink) all() []testenv.LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]testenv.LogLine(nil), s.lines...)
}

func (s *logSink) with(msg string) []testenv.LogLine {
	var out []testenv.LogLine
	for _, l := range s.all() {
		if l.Message == msg {
			out = append(out, l)
		}
	}
	return out
}

// waitFor waits for the n-th line (1-based) with message msg.
func (s *logSink) waitFor(t *testing.T, timeout time.Duration, msg string, n int) testenv.LogLine {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if ls := s.with(msg); len(ls) >= n {
			return ls[n-1]
		}
		select {
		case <-s.added:
		case <-deadline:
			var msgs []string
			for _, l := range s.all() {
				msgs = append(msgs, l.Message)
			}
			t.Fatalf("no %d. %q within %s; lines: %q", n, msg, timeout, msgs)
		}
	}
}

// env is one real server on its own MariaDB database.
type env struct {
	db    testenv.Database
	certs *testenv.Certs
	srv   *testenv.Server
	raw   models.LocketClient // a plain client, for the test's own moves
}

func newEnv(t *testing.T, opts ...testenv.ServerOption) *env {
	t.Helper()
	db := testenv.NewDatabase(t, "mysql")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs, opts...)
	return &env{db: db, certs: certs, srv: srv, raw: srv.Client(t)}
}

func (e *env) config(address string) client.Config {
	return client.Config{
		LocketAddress:        address,
		LocketCACertFile:     e.certs.CAFile,
		LocketClientCertFile: e.certs.ClientCertFile,
		LocketClientKeyFile:  e.certs.ClientKey,
	}
}

func (e *env) dial(t *testing.T, address string, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.Dial(e.config(address), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *env) claim(t *testing.T, key, owner string, tc models.TypeCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := e.raw.Lock(ctx, &models.LockRequest{
		Resource:     &models.Resource{Key: key, Owner: owner, Type: models.TypeString(tc), TypeCode: tc},
		TtlInSeconds: 15,
	})
	if err != nil {
		t.Fatalf("claim %s for %s: %v", key, owner, err)
	}
}

func (e *env) release(t *testing.T, key, owner string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.raw.Release(ctx, &models.ReleaseRequest{Resource: &models.Resource{Key: key, Owner: owner}}); err != nil {
		t.Fatalf("release %s of %s: %v", key, owner, err)
	}
}

// steal gives key to thief behind the holder's back, in one statement on
// the table (a Release then a Lock would leave the holder a moment in which
// it may take the lock back).
func (e *env) steal(t *testing.T, key, thief string) {
	t.Helper()
	db := e.db.Admin(t)
	defer db.Close()
	res, err := db.Exec(e.db.Rebind("UPDATE locks SET owner = ? WHERE path = ?"), thief, key)
	if err != nil {
		t.Fatalf("steal %s: %v", key, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("steal %s: %d rows", key, n)
	}
}

// owner returns who holds key, "" when nobody does.
func (e *env) owner(t *testing.T, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.raw.Fetch(ctx, &models.FetchRequest{Key: key})
	if err != nil {
		if isNotFound(err) {
			return ""
		}
		t.Fatalf("fetch %s: %v", key, err)
	}
	return resp.GetResource().GetOwner()
}

// modifiedIndex reads the row's modified_index from the table (-1: no row).
func (e *env) modifiedIndex(t *testing.T, key string) int64 {
	t.Helper()
	db := e.db.Admin(t)
	defer db.Close()
	var n int64
	if err := db.QueryRow(e.db.Rebind("SELECT modified_index FROM locks WHERE path = ?"), key).Scan(&n); err != nil {
		return -1
	}
	return n
}

// running is a runner started in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, r *client.Runner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rr := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { rr.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-rr.done:
		case <-time.After(15 * time.Second):
			t.Errorf("runner did not end within 15 s of its context")
		}
	})
	return rr
}

// wait returns what Run returned, failing the test after timeout.
func (r *running) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // let the cleanup see it too
		return err
	case <-time.After(timeout):
		t.Fatalf("runner still running after %s", timeout)
		return nil
	}
}

// stop cancels the runner's context and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t, 15*time.Second)
}

// stillRunning fails the test if Run has returned.
func (r *running) stillRunning(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("runner ended: %v", err)
	default:
	}
}
