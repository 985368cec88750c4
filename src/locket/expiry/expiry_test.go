package expiry_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/expiry"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// CI margin on top of the 250 ms the spec allows after the TTL: the
// machine running the suite is shared and noisy. Measured lags are logged.
const (
	window = 250 * time.Millisecond
	margin = time.Second
)

func openStore(t testing.TB, db testenv.Database) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// sink collects a logger's lines.
type sink struct {
	mu    sync.Mutex
	lines []lager.LogFormat
}

func (s *sink) Log(l lager.LogFormat) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, l)
}

func (s *sink) with(message string) []lager.LogFormat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lager.LogFormat
	for _, l := range s.lines {
		if l.Message == message {
			out = append(out, l)
		}
	}
	return out
}

func (s *sink) errors() []lager.LogFormat {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []lager.LogFormat
	for _, l := range s.lines {
		if l.LogLevel >= lager.ERROR {
			out = append(out, l)
		}
	}
	return out
}

// server is a running sweeper, as one locket server runs it.
type server struct {
	logs *sink
	stop func()
}

func startSweeper(t testing.TB, st *store.Store, id string, o expiry.Options) *server {
	t.Helper()
	logs := &sink{}
	logger := lager.NewLogger("locket")
	logger.RegisterSink(logs)
	o.ServerID, o.Address = id, id+".example:8891"
	sw := expiry.New(st, logger, o, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sw.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("sweeper %s: %v", id, err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("sweeper %s did not stop", id)
			}
		})
	}
	t.Cleanup(stop)
	return &server{logs: logs, stop: stop}
}

func lock(t testing.TB, st *store.Store, key, owner string, ttl int64) {
	t.Helper()
	if _, err := st.Lock(context.Background(), store.Lock{Key: key, Owner: owner, Value: "v", Type: "lock", TTL: ttl}); err != nil {
		t.Fatalf("lock %s: %v", key, err)
	}
}

func present(t testing.TB, st *store.Store, key string) bool {
	t.Helper()
	_, err := st.Fetch(context.Background(), key)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatalf("fetch %s: %v", key, err)
	}
	return true
}

// stays reports whether key is there. It fails the test if key is gone
// although less than ttl passed since renewedAt (the start of the last
// renewal): that is an early expiry. Gone later is the test itself having
// stalled past the TTL on a loaded machine, which the caller handles.
func stays(t testing.TB, st *store.Store, key string, renewedAt time.Time, ttl time.Duration) bool {
	t.Helper()
	if present(t, st, key) {
		return true
	}
	// The row was gone by the time Fetch answered.
	if since := time.Since(renewedAt); since < ttl {
		t.Fatalf("%s gone %v after its last renewal, before its TTL of %v", key, since, ttl)
	}
	return false
}

// waitGone polls until key is gone and returns when that was seen.
func waitGone(t testing.TB, st *store.Store, key string, limit time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if !present(t, st, key) {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s still there after %v", key, limit)
	return time.Time{}
}

// expiresInWindow renews key at last (between before and after, client
// clock) with ttl and checks it disappears between TTL and TTL+window(+margin).
func expiresInWindow(t *testing.T, st *store.Store, key string, ttl time.Duration, before, after time.Time) {
	t.Helper()
	if d := time.Until(before.Add(ttl - 100*time.Millisecond)); d > 0 {
		time.Sleep(d)
	}
	stays(t, st, key, before, ttl)
	gone := waitGone(t, st, key, ttl+5*time.Second)
	if early := before.Add(ttl).Sub(gone); early > 0 {
		t.Fatalf("%s gone %v before its TTL", key, early)
	}
	lag := gone.Sub(after) - ttl
	t.Logf("%s: gone %v after TTL (from the renewal's answer; %v from its request)", key,
		lag.Round(time.Millisecond), (gone.Sub(before) - ttl).Round(time.Millisecond))
	if lag > window+margin {
		t.Fatalf("%s gone %v after its TTL, want <= %v (+%v CI margin)", key, lag, window, margin)
	}
}

func TestTTLWindow(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st := openStore(t, testenv.NewDatabase(t, driver))
		srv := startSweeper(t, st, "s1", expiry.Options{})
		time.Sleep(300 * time.Millisecond) // past the first tick

		var wg sync.WaitGroup
		for i, ttl := range []int64{1, 2} {
			key := fmt.Sprintf("ttl-%d", ttl)
			before := time.Now()
			lock(t, st, key, "o", ttl)
			after := time.Now()
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(key, func(t *testing.T) { expiresInWindow(t, st, key, time.Duration(ttl)*time.Second, before, after) })
			}()
			_ = i
		}
		wg.Wait()
		time.Sleep(200 * time.Millisecond) // the lines follow the deletes by a moment

		for _, key := range []string{"ttl-1", "ttl-2"} {
			lines := filterData(srv.logs.with("locket.expiry.lock-expired"), "key", key)
			if len(lines) != 1 {
				t.Fatalf("%s: %d lock-expired lines", key, len(lines))
			}
			d := lines[0].Data
			if d["owner"] != "o" || d["type"] != "lock" || d["modified-index"] == nil || lines[0].LogLevel != lager.INFO {
				t.Fatalf("lock-expired line %+v", lines[0])
			}
		}
		if errs := srv.logs.errors(); len(errs) > 0 {
			t.Fatalf("error lines: %+v", errs)
		}
		if g := srv.logs.with("locket.expiry.granted-grace-after-outage"); len(g) != 1 {
			t.Fatalf("a first server on a new database: %d grace lines, want 1", len(g))
		}
	})
}

func filterData(lines []lager.LogFormat, k, v string) []lager.LogFormat {
	var out []lager.LogFormat
	for _, l := range lines {
		if l.Data[k] == v {
			out = append(out, l)
		}
	}
	return out
}

// TestRenewedLockNeverExpires, and once abandoned it expires in the window.
func TestRenewedLockNeverExpires(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st := openStore(t, testenv.NewDatabase(t, driver))
		startSweeper(t, st, "s1", expiry.Options{})
		var before, after time.Time
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			before = time.Now()
			lock(t, st, "renewed", "o", 1)
			after = time.Now()
			for time.Since(before) < 700*time.Millisecond { // renew every ~700 ms, TTL 1 s
				time.Sleep(50 * time.Millisecond)
				if !stays(t, st, "renewed", before, time.Second) {
					t.Logf("this test stalled for over the TTL (a loaded machine); the lock expired after it, as it should")
					break
				}
			}
		}
		expiresInWindow(t, st, "renewed", time.Second, before, after)
	})
}

// TestTwoServers: locks renewed alternately through two servers expire once,
// in the window, whichever took the last renewal; exactly one server logs it.
func TestTwoServers(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		a, b := openStore(t, db), openStore(t, db)
		sa := startSweeper(t, a, "a", expiry.Options{})
		sb := startSweeper(t, b, "b", expiry.Options{})
		stores := []*store.Store{a, b}
		const n = 6
		type renewal struct{ before, after time.Time }
		last := make([]renewal, n)
		for round := 0; round < 4; round++ {
			for i := 0; i < n; i++ {
				last[i].before = time.Now()
				lock(t, stores[(round+i)%2], fmt.Sprintf("k%d", i), "o", 1)
				last[i].after = time.Now()
			}
			time.Sleep(500 * time.Millisecond)
		}
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("k%d", i)
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(key, func(t *testing.T) { expiresInWindow(t, a, key, time.Second, last[i].before, last[i].after) })
			}()
		}
		wg.Wait()
		time.Sleep(300 * time.Millisecond)
		for i := 0; i < n; i++ {
			key := fmt.Sprintf("k%d", i)
			la := filterData(sa.logs.with("locket.expiry.lock-expired"), "key", key)
			lb := filterData(sb.logs.with("locket.expiry.lock-expired"), "key", key)
			if len(la)+len(lb) != 1 {
				t.Fatalf("%s: logged by a %d times, by b %d times", key, len(la), len(lb))
			}
		}
		if errs := append(sa.logs.errors(), sb.logs.errors()...); len(errs) > 0 {
			t.Fatalf("error lines: %+v", errs)
		}
	})
}

// TestRestartWhileAnotherServes: a server restarting while another one
// heartbeats grants no grace; locks expire on time.
func TestRestartWhileAnotherServes(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		a, b := openStore(t, db), openStore(t, db)
		startSweeper(t, a, "a", expiry.Options{})
		time.Sleep(300 * time.Millisecond)
		before := time.Now()
		lock(t, b, "k", "o", 2)
		after := time.Now()
		first := startSweeper(t, b, "b", expiry.Options{})
		time.Sleep(300 * time.Millisecond)
		first.stop()
		time.Sleep(100 * time.Millisecond)
		second := startSweeper(t, b, "b", expiry.Options{})
		expiresInWindow(t, b, "k", 2*time.Second, before, after)
		for _, s := range []*server{first, second} {
			if g := s.logs.with("locket.expiry.granted-grace-after-outage"); len(g) != 0 {
				t.Fatalf("restarted server granted grace: %+v", g)
			}
		}
	})
}

// TestGraceAfterFullOutage: when no server was serving (none ever, all
// stopped, or the last heartbeat is stale), the next server to start gives
// every lock one TTL from then, and the locks expire after it.
func TestGraceAfterFullOutage(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		for _, tc := range []struct {
			name   string
			before func(t *testing.T, st *store.Store)
		}{
			{"no server ever", func(t *testing.T, st *store.Store) {}},
			{"all stopped", func(t *testing.T, st *store.Store) {
				startSweeper(t, st, "old", expiry.Options{}).stop()
			}},
			{"stale heartbeat", func(t *testing.T, st *store.Store) {
				// A server that crashed (its heartbeat stays) long enough ago.
				if err := st.Heartbeat(context.Background(), "crashed", "x"); err != nil {
					t.Fatal(err)
				}
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st := openStore(t, testenv.NewDatabase(t, driver))
				tc.before(t, st)
				lock(t, st, "k", "o", 1)
				lock(t, st, "long", "o", 30)
				// The TTL and the outage threshold (2 s) pass with no server.
				time.Sleep(2500 * time.Millisecond)

				before := time.Now()
				srv := startSweeper(t, st, "new", expiry.Options{})
				g := waitLog(t, srv.logs, "locket.expiry.granted-grace-after-outage", 3*time.Second)
				after := time.Now()
				// Both locks: "long" gets the 2.5 s back that passed with no server.
				if n, _ := g.Data["locks"].(int64); n != 2 {
					t.Fatalf("grace line %+v: want 2 locks extended", g)
				}
				expiresInWindow(t, st, "k", time.Second, before, after)
				if !present(t, st, "long") {
					t.Fatal("grace shortened a lock")
				}
			})
		}
	})
}

func waitLog(t testing.TB, s *sink, message string, limit time.Duration) lager.LogFormat {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if l := s.with(message); len(l) > 0 {
			return l[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s line within %v", message, limit)
	return lager.LogFormat{}
}

// TestMixedVersions: an upstream server renews by rewriting the row and
// adding one to modified_index, without our columns. Such renewals keep the
// lock; once they stop it expires (at most one adoption interval late); a row
// an upstream server created expires too.
func TestMixedVersions(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		st := openStore(t, db)
		admin := db.Admin(t)
		defer admin.Close()
		srv := startSweeper(t, st, "ours", expiry.Options{})
		lock(t, st, "mixed", "o", 2)

		upstreamRenew := db.Rebind(`UPDATE locks SET owner = ?, value = ?, type = ?, modified_index = modified_index + 1, ttl = ? WHERE path = ?`)
		var last time.Time
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); {
			before := time.Now()
			res, err := admin.Exec(upstreamRenew, "o", "v", "lock", 2, "mixed")
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				t.Fatalf("the lock renewed through an upstream server is gone (%v after the previous renewal)", before.Sub(last))
			}
			last = before
			time.Sleep(300 * time.Millisecond)
			// Adoption may take up to a second more than our own renewals.
			if !stays(t, st, "mixed", last, 2*time.Second) {
				t.Fatalf("a lock renewed through an upstream server expired (%v after its renewal)", time.Since(last))
			}
		}
		// Abandoned: gone after TTL, at most one adoption interval (1 s) later
		// than our own renewals would be.
		gone := waitGone(t, st, "mixed", 6*time.Second)
		lag := gone.Sub(last) - 2*time.Second
		t.Logf("upstream-renewed lock gone %v after its TTL", lag.Round(time.Millisecond))
		if lag < 0 || lag > time.Second+window+margin {
			t.Fatalf("upstream-renewed lock gone %v after its TTL", lag)
		}

		// A row an upstream server created (no deadline columns).
		if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), "up", "rep", "{}", "presence", 1, "guid", 1); err != nil {
			t.Fatal(err)
		}
		created := time.Now()
		gone = waitGone(t, st, "up", 5*time.Second)
		lag = gone.Sub(created) - time.Second
		t.Logf("upstream-created lock gone %v after its TTL", lag.Round(time.Millisecond))
		if lag < 0 || lag > time.Second+window+margin {
			t.Fatalf("upstream-created lock gone %v after its TTL", lag)
		}
		// The line follows the delete by a moment.
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if len(filterData(srv.logs.with("locket.expiry.lock-expired"), "key", "up")) > 0 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
		if l := filterData(srv.logs.with("locket.expiry.lock-expired"), "key", "up"); len(l) != 1 {
			t.Fatalf("upstream-created lock: %d lock-expired lines", len(l))
		}
	})
}

// TestErrorLoggedOncePerOutage: a sweeper whose database does not answer
// logs one error line, not one per tick.
func TestErrorLoggedOncePerOutage(t *testing.T) {
	st, err := store.Open(store.Config{Driver: "mysql", DSN: "root@tcp(127.0.0.1:1)/none"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv := startSweeper(t, st, "s", expiry.Options{})
	time.Sleep(time.Second)
	srv.stop()
	errs := srv.logs.errors()
	if len(errs) != 1 || errs[0].Message != "locket.expiry.sweep-failed" || errs[0].Data["error"] == nil {
		t.Fatalf("error lines: %+v", errs)
	}
}

// TestSweeperSurvivesDatabaseRestart: the database goes away for longer than
// the outage threshold and comes back. The sweeper logs one error, recovers
// by itself, and, as no server could serve meanwhile, grants grace.
func TestSweeperSurvivesDatabaseRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a database server")
	}
	m := testenv.StartMariaDB(t, nil)
	st := openStore(t, m.NewDatabase(t))
	srv := startSweeper(t, st, "s", expiry.Options{})
	time.Sleep(300 * time.Millisecond)
	lock(t, st, "k", "o", 2)

	const grace = "locket.expiry.granted-grace-after-outage"
	atStart := len(srv.logs.with(grace)) // a new database had no server before

	m.Kill(t)
	time.Sleep(3 * time.Second) // past k's TTL and the outage threshold
	// The sweeper may grant grace as soon as the database answers, before
	// Start returns: the grace window opens before Start.
	before := time.Now()
	m.Start(t)
	waitLog(t, srv.logs, "locket.expiry.sweep-recovered", 10*time.Second)
	after := time.Now()
	lines := srv.logs.with(grace)
	if len(lines) != atStart+1 {
		t.Fatalf("grace lines: %+v, want one more than the %d at start", lines, atStart)
	}
	g := lines[len(lines)-1]
	t.Logf("grace: %+v", g.Data)
	if n, _ := g.Data["locks"].(int64); n != 1 {
		t.Fatalf("grace extended %v locks, want 1", g.Data["locks"])
	}
	if errs := srv.logs.errors(); len(errs) != 1 {
		t.Fatalf("want one error line for the outage: %+v", errs)
	}
	expiresInWindow(t, st, "k", 2*time.Second, before, after)
}
