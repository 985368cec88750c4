package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/certs"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

// The features of docs/features.md run against MariaDB and Postgres (two
// server processes on one database where it matters).
func forEachSQL(t *testing.T, f func(t *testing.T, driver string)) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("two servers need a shared database server")
		}
		f(t, driver)
	})
}

// fencedResource is what a fencing token protects: a store that remembers
// the highest token it has seen and refuses writes with a lower one.
type fencedResource struct {
	mu     sync.Mutex
	high   int64
	writes []string
}

func (r *fencedResource) write(token int64, v string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if token < r.high {
		return fmt.Errorf("stale fencing token %d (seen %d)", token, r.high)
	}
	r.high = token
	r.writes = append(r.writes, v)
	return nil
}

func TestFencingToken(t *testing.T) {
	forEachSQL(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		a := testenv.StartServer(t, db, certs)
		b := testenv.StartServer(t, db, certs)
		ca, cb := a.Client(t), b.Client(t)
		ctx := ctxT(t)

		// Holder one acquires through a (TTL 1 s), then pauses: no renewals.
		r1, err := ca.Lock(ctx, lockReq("bbs", "one", "", models.TypeCode_LOCK, 1))
		mustOK(t, err)
		renew, err := ca.Lock(ctx, lockReq("bbs", "one", "", models.TypeCode_LOCK, 1))
		mustOK(t, err)
		if r1.FencingToken <= 0 || renew.FencingToken != r1.FencingToken {
			t.Fatalf("acquire token %d, renewal token %d", r1.FencingToken, renew.FencingToken)
		}
		if got := fetch(t, cb, "bbs"); got.FencingToken != r1.FencingToken || got.AcquiredAtUnixMicros == 0 {
			t.Fatalf("fetch through the other server: %+v", got)
		}
		res := &fencedResource{}
		mustOK(t, res.write(r1.FencingToken, "one-before-pause"))

		// It expires; holder two takes over through b.
		var r2 *models.LockResponse
		deadline := time.Now().Add(10 * time.Second)
		for {
			r2, err = cb.Lock(ctx, lockReq("bbs", "two", "", models.TypeCode_LOCK, 15))
			if err == nil {
				break
			}
			wantStatus(t, err, codes.AlreadyExists, "lock-collision")
			if time.Now().After(deadline) {
				t.Fatal("lock never expired")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r2.FencingToken <= r1.FencingToken {
			t.Fatalf("token after take-over %d <= %d", r2.FencingToken, r1.FencingToken)
		}
		mustOK(t, res.write(r2.FencingToken, "two"))
		// The paused former holder wakes up and writes: refused.
		if err := res.write(r1.FencingToken, "one-after-pause"); err == nil {
			t.Fatal("the fenced resource accepted a write of the expired former holder")
		}
		// Tokens survive a restart of both servers and a release.
		_, err = cb.Release(ctx, releaseReq("bbs", "two"))
		mustOK(t, err)
		a.Restart()
		b.Restart()
		r3, err := a.Client(t).Lock(ctx, lockReq("bbs", "three", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		if r3.FencingToken <= r2.FencingToken {
			t.Fatalf("token after restart %d <= %d", r3.FencingToken, r2.FencingToken)
		}
		all, err := b.Client(t).FetchAll(ctx, &models.FetchAllRequest{TypeCode: models.TypeCode_LOCK})
		mustOK(t, err)
		if len(all.Resources) != 1 || all.Resources[0].FencingToken != r3.FencingToken {
			t.Fatalf("fetch all: %+v", all.Resources)
		}
		t.Logf("tokens: %d, %d, %d; writes %v", r1.FencingToken, r2.FencingToken, r3.FencingToken, res.writes)
	})
}

// watch opens a Watch stream and waits for WATCH_STARTED.
func watch(t *testing.T, c models.LocketClient, req *models.WatchRequest) (models.Locket_WatchClient, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // longer than ctxT's 30 s
	t.Cleanup(cancel)
	s, err := c.Watch(ctx, req)
	mustOK(t, err)
	ev, err := s.Recv()
	mustOK(t, err)
	if ev.Type != models.EventType_WATCH_STARTED {
		t.Fatalf("first event %v, want WATCH_STARTED", ev.Type)
	}
	return s, cancel
}

type received struct {
	ev *models.Event
	at time.Time
}

func collect(s models.Locket_WatchClient) <-chan received {
	ch := make(chan received, 100)
	go func() {
		defer close(ch)
		for {
			ev, err := s.Recv()
			if err != nil {
				return
			}
			ch <- received{ev, time.Now()}
		}
	}()
	return ch
}

func next(t *testing.T, ch <-chan received, within time.Duration) received {
	t.Helper()
	select {
	case r, ok := <-ch:
		if !ok {
			t.Fatal("watch stream ended")
		}
		return r
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
	}
	return received{}
}

func TestWatchAcrossServers(t *testing.T) {
	forEachSQL(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		a := testenv.StartServer(t, db, certs)
		b := testenv.StartServer(t, db, certs)
		ca, cb := a.Client(t), b.Client(t)
		ctx := ctxT(t)

		keyStream, stop1 := watch(t, ca, &models.WatchRequest{Key: "bbs"})
		defer stop1()
		typeStream, stop2 := watch(t, ca, &models.WatchRequest{TypeCode: models.TypeCode_PRESENCE})
		defer stop2()
		keyEvents, typeEvents := collect(keyStream), collect(typeStream)

		var lat []time.Duration
		// Changes through b, delivered by a.
		for i := 0; i < 10; i++ {
			owner := fmt.Sprintf("owner-%d", i)
			start := time.Now()
			_, err := cb.Lock(ctx, lockReq("bbs", owner, "v", models.TypeCode_LOCK, 15))
			mustOK(t, err)
			r := next(t, keyEvents, 2*time.Second)
			lat = append(lat, r.at.Sub(start))
			wantType := models.EventType_TAKEN_OVER
			if i == 0 {
				wantType = models.EventType_ACQUIRED
			}
			if r.ev.Type != wantType || r.ev.Resource.Owner != owner || r.ev.Resource.FencingToken != int64(i+1) {
				t.Fatalf("event %d: %+v", i, r.ev)
			}
			start = time.Now()
			_, err = cb.Release(ctx, releaseReq("bbs", owner))
			mustOK(t, err)
			r = next(t, keyEvents, 2*time.Second)
			lat = append(lat, r.at.Sub(start))
			if r.ev.Type != models.EventType_RELEASED || r.ev.Resource.Owner != owner || r.ev.Server == "" {
				t.Fatalf("event %d: %+v", i, r.ev)
			}
		}
		// Renewals and other keys are not events of the key watch.
		_, err := cb.Lock(ctx, lockReq("other", "x", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		// A presence expiring (TTL 1 s) is seen by the type watch.
		_, err = cb.Lock(ctx, lockReq("cell-1", "rep", "{}", models.TypeCode_PRESENCE, 1))
		mustOK(t, err)
		acquiredAt := time.Now()
		if r := next(t, typeEvents, 2*time.Second); r.ev.Type != models.EventType_ACQUIRED || r.ev.Resource.Value != "{}" {
			t.Fatalf("presence event %+v", r.ev)
		}
		r := next(t, typeEvents, 5*time.Second)
		if r.ev.Type != models.EventType_EXPIRED || r.ev.Resource.Key != "cell-1" {
			t.Fatalf("presence event %+v", r.ev)
		}
		expiredAfter := r.at.Sub(acquiredAt)
		// TTL + 250 ms is the contract; the margin is for a loaded CI machine.
		if expiredAfter < time.Second || expiredAfter > time.Second+time.Second {
			t.Fatalf("presence expiry seen %s after acquisition (TTL 1 s)", expiredAfter)
		}
		select {
		case r := <-keyEvents:
			t.Fatalf("unexpected event on the key watch: %+v", r.ev)
		case <-time.After(200 * time.Millisecond):
		}
		slices.Sort(lat)
		t.Logf("%s: watch latency across servers (RPC start to event) min %s median %s max %s; presence expiry seen after %s (TTL 1s)",
			driver, lat[0], lat[len(lat)/2], lat[len(lat)-1], expiredAfter)
	})
}

func TestHistoryAcrossServers(t *testing.T) {
	forEachSQL(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		a := testenv.StartServer(t, db, certs)
		b := testenv.StartServer(t, db, certs)
		ca, cb := a.Client(t), b.Client(t)
		ctx := ctxT(t)

		_, err := ca.Lock(withUUID(ctx, "req-1"), lockReq("bbs", "bbs-0", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		_, err = ca.Release(ctx, releaseReq("bbs", "bbs-0"))
		mustOK(t, err)
		_, err = cb.Lock(withUUID(ctx, "req-2"), lockReq("bbs", "bbs-1", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		_, err = cb.Lock(ctx, lockReq("cell", "rep", "", models.TypeCode_PRESENCE, 15))
		mustOK(t, err)

		h, err := ca.History(ctx, &models.HistoryRequest{Key: "bbs"})
		mustOK(t, err)
		var got []string
		for _, e := range h.Events {
			got = append(got, fmt.Sprintf("%s %s<%s %s", e.Type, e.Resource.Owner, e.PreviousOwner, e.RequestId))
		}
		want := []string{"TAKEN_OVER bbs-1<bbs-0 req-2", "RELEASED bbs-0< ", "ACQUIRED bbs-0< req-1"}
		if !slices.Equal(got, want) {
			t.Fatalf("history %q, want %q", got, want)
		}
		if h.Events[0].Server == h.Events[2].Server || h.Events[0].AtUnixMicros < h.Events[2].AtUnixMicros {
			t.Fatalf("servers/times: %+v", h.Events)
		}
		all, err := cb.History(ctx, &models.HistoryRequest{})
		mustOK(t, err)
		if len(all.Events) != 4 {
			t.Fatalf("all history: %d events", len(all.Events))
		}
		pres, err := cb.History(ctx, &models.HistoryRequest{TypeCode: models.TypeCode_PRESENCE, Limit: 10})
		mustOK(t, err)
		if len(pres.Events) != 1 || pres.Events[0].Resource.Key != "cell" {
			t.Fatalf("presence history: %+v", pres.Events)
		}
		_, err = cb.History(ctx, &models.HistoryRequest{Limit: 5000})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("limit 5000: %v", err)
		}
	})
}

// dialAs connects with a client certificate issued for o.
func dialAs(t *testing.T, s *testenv.Server, name string, o certs.Options) models.LocketClient {
	t.Helper()
	o.Client = true
	cert, key := s.Certs.Issue(t, name, o)
	cfg, err := tlsconfig.Client(cert, key, s.Certs.CAFile, testenv.ServerName, false)
	mustOK(t, err)
	conn, err := grpc.NewClient(s.Address, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	mustOK(t, err)
	t.Cleanup(func() { conn.Close() })
	return models.NewLocketClient(conn)
}

func TestAuthorization(t *testing.T) {
	forEachSQL(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		rules := map[string]any{"rules": []any{
			map[string]any{"name": "cells", "identity": map[string]any{"ou": []string{"cell"}},
				"types": []string{"presence"}, "operations": []string{"lock", "release", "fetch", "fetch_all", "watch"}},
			map[string]any{"name": "bbs", "identity": map[string]any{"cn": []string{"bbs"}}, "keys": []string{"bbs"}},
			map[string]any{"name": "bbs-reads", "identity": map[string]any{"cn": []string{"bbs"}},
				"types": []string{"presence"}, "operations": []string{"fetch_all"}},
		}}
		s := testenv.StartServer(t, db, nil, testenv.WithConfig("authorization", rules))
		ctx := ctxT(t)
		cell := dialAs(t, s, "cell", certs.Options{CommonName: "cell-z1-0", OrganizationalUnit: []string{"cell"}})
		bbs := dialAs(t, s, "bbs", certs.Options{CommonName: "bbs"})
		bbs2 := dialAs(t, s, "bbs2", certs.Options{CommonName: "bbs", OrganizationalUnit: []string{"z2"}})
		stranger := s.Client(t) // the test client certificate matches no rule

		_, err := cell.Lock(ctx, lockReq("cell-z1-0", "rep", "{}", models.TypeCode_PRESENCE, 15))
		mustOK(t, err)
		_, err = bbs.Lock(ctx, lockReq("bbs", "bbs-0", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		all, err := bbs.FetchAll(ctx, &models.FetchAllRequest{TypeCode: models.TypeCode_PRESENCE})
		mustOK(t, err)
		if len(all.Resources) != 1 {
			t.Fatalf("bbs fetch all presences: %+v", all.Resources)
		}

		before := len(s.LogsWithMessage("locket.authorization.permission-denied"))
		denied := func(what string, err error) {
			t.Helper()
			if status.Code(err) != codes.PermissionDenied {
				t.Fatalf("%s: got %v, want PermissionDenied", what, err)
			}
			before++
			s.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
				return len(s.LogsWithMessage("locket.authorization.permission-denied")) >= before
			})
		}
		_, err = cell.Lock(ctx, lockReq("bbs", "evil", "", models.TypeCode_LOCK, 15))
		denied("cell locks bbs", err)
		_, err = cell.Fetch(ctx, &models.FetchRequest{Key: "bbs"})
		denied("cell fetches bbs", err)
		_, err = cell.FetchAll(ctx, &models.FetchAllRequest{TypeCode: models.TypeCode_LOCK})
		denied("cell fetches all locks", err)
		_, err = bbs.Lock(ctx, lockReq("auctioneer", "x", "", models.TypeCode_LOCK, 15))
		denied("bbs locks auctioneer", err)
		_, err = stranger.Fetch(ctx, &models.FetchRequest{Key: "cell-z1-0"})
		denied("stranger fetches", err)
		_, err = cell.History(ctx, &models.HistoryRequest{})
		denied("cell reads history", err)
		w, err := cell.Watch(ctx, &models.WatchRequest{TypeCode: models.TypeCode_LOCK})
		mustOK(t, err)
		_, err = w.Recv()
		denied("cell watches locks", err)
		// Release by another identity than the acquirer's (same rule, same
		// owner string): refused, and the lock stays.
		_, err = bbs2.Release(ctx, &models.ReleaseRequest{Resource: &models.Resource{Key: "bbs", Owner: "bbs-0", TypeCode: models.TypeCode_LOCK}})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("release by another identity: %v", err)
		}
		// Renewal by another identity: a collision.
		_, err = bbs2.Lock(ctx, lockReq("bbs", "bbs-0", "", models.TypeCode_LOCK, 15))
		wantStatus(t, err, codes.AlreadyExists, "lock-collision")
		if r := fetch(t, bbs, "bbs"); r.Owner != "bbs-0" {
			t.Fatalf("bbs after refused release: %+v", r)
		}
		_, err = bbs.Release(ctx, &models.ReleaseRequest{Resource: &models.Resource{Key: "bbs", Owner: "bbs-0", TypeCode: models.TypeCode_LOCK}})
		mustOK(t, err)
		// Exactly one log line per denied request.
		lines := s.LogsWithMessage("locket.authorization.permission-denied")
		if len(lines) != before {
			t.Fatalf("%d permission-denied lines, want %d", len(lines), before)
		}
		t.Logf("denial line: %s", lines[0].Raw)
	})
}

// Without rules, two certificates share a lock as upstream lets them.
func TestNoRulesIsUpstream(t *testing.T) {
	forEachSQL(t, func(t *testing.T, driver string) {
		s := testenv.StartServer(t, testenv.NewDatabase(t, driver), nil)
		ctx := ctxT(t)
		one := dialAs(t, s, "one", certs.Options{CommonName: "one"})
		two := dialAs(t, s, "two", certs.Options{CommonName: "two"})
		_, err := one.Lock(ctx, lockReq("bbs", "o", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		_, err = two.Lock(ctx, lockReq("bbs", "o", "", models.TypeCode_LOCK, 15))
		mustOK(t, err)
		_, err = two.Release(ctx, releaseReq("bbs", "o"))
		mustOK(t, err)
	})
}
