package interop

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/clock"
	"code.cloudfoundry.org/locket/lock"
	upstreammodels "code.cloudfoundry.org/locket/models"
	"github.com/tedsuo/ifrit"

	"github.com/locket-release/locket/internal/testenv"
)

// TestUpstreamClientAgainstOurServer drives our server with upstream's Go
// client and checks every answer against the protocol contract, error
// strings included: this is what BBS, auctioneer and rep see.
func TestUpstreamClientAgainstOurServer(t *testing.T) {
	forEachSQLDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		srv := testenv.StartServer(t, db, nil)
		c := upstreamClient(t, srv.Address, srv.Certs)
		ctx := context.Background()

		expectErr := func(t *testing.T, err error, want string) {
			t.Helper()
			if err == nil || err.Error() != want {
				t.Fatalf("got error %v, want %q", err, want)
			}
		}

		// Acquire, renew with a new value, read it back.
		res := &upstreammodels.Resource{Key: "bbs", Owner: "vm-1", Value: "v1", TypeCode: upstreammodels.LOCK}
		if _, err := c.Lock(ctx, &upstreammodels.LockRequest{Resource: res, TtlInSeconds: 15}); err != nil {
			t.Fatalf("acquire: %v", err)
		}
		res.Value = "v2"
		if _, err := c.Lock(ctx, &upstreammodels.LockRequest{Resource: res, TtlInSeconds: 15}); err != nil {
			t.Fatalf("renew: %v", err)
		}
		got, err := c.Fetch(ctx, &upstreammodels.FetchRequest{Key: "bbs"})
		if err != nil {
			t.Fatalf("fetch: %v", err)
		}
		want := upstreammodels.Resource{Key: "bbs", Owner: "vm-1", Value: "v2", Type: "lock", TypeCode: upstreammodels.LOCK}
		if *got.Resource != want {
			t.Fatalf("fetch = %+v, want %+v", *got.Resource, want)
		}

		// The errors clients compare against, exactly.
		_, err = c.Lock(ctx, &upstreammodels.LockRequest{Resource: lockResource("bbs", "vm-2"), TtlInSeconds: 15})
		expectErr(t, err, "rpc error: code = AlreadyExists desc = lock-collision")
		_, err = c.Lock(ctx, &upstreammodels.LockRequest{Resource: &upstreammodels.Resource{Key: "k", Owner: "o"}, TtlInSeconds: 0})
		expectErr(t, err, "rpc error: code = NotFound desc = invalid-type")
		_, err = c.Lock(ctx, &upstreammodels.LockRequest{Resource: &upstreammodels.Resource{Key: "k", Type: "lock"}, TtlInSeconds: 15})
		expectErr(t, err, "rpc error: code = NotFound desc = invalid-type")
		_, err = c.Lock(ctx, &upstreammodels.LockRequest{Resource: lockResource("k", ""), TtlInSeconds: 0})
		expectErr(t, err, "rpc error: code = InvalidArgument desc = invalid-ttl")
		_, err = c.Lock(ctx, &upstreammodels.LockRequest{Resource: lockResource("k", ""), TtlInSeconds: 5})
		expectErr(t, err, "rpc error: code = InvalidArgument desc = invalid-owner")
		_, err = c.Fetch(ctx, &upstreammodels.FetchRequest{Key: "missing"})
		expectErr(t, err, "rpc error: code = NotFound desc = resource-not-found")
		_, err = c.FetchAll(ctx, &upstreammodels.FetchAllRequest{TypeCode: upstreammodels.UNKNOWN})
		expectErr(t, err, "rpc error: code = NotFound desc = invalid-type")
		_, err = c.Release(ctx, &upstreammodels.ReleaseRequest{Resource: lockResource("bbs", "vm-2")})
		expectErr(t, err, "rpc error: code = AlreadyExists desc = lock-collision")

		// Presences and FetchAll by type.
		for _, cell := range []string{"cell-a", "cell-b"} {
			p := &upstreammodels.Resource{Key: cell, Owner: "owner-" + cell, Value: `{"cell_id":"` + cell + `"}`, TypeCode: upstreammodels.PRESENCE}
			if _, err := c.Lock(ctx, &upstreammodels.LockRequest{Resource: p, TtlInSeconds: 15}); err != nil {
				t.Fatalf("presence %s: %v", cell, err)
			}
		}
		all, err := c.FetchAll(ctx, &upstreammodels.FetchAllRequest{TypeCode: upstreammodels.PRESENCE})
		if err != nil || len(all.Resources) != 2 {
			t.Fatalf("fetch-all presences = %v, %v; want 2", all, err)
		}
		for _, r := range all.Resources {
			if r.Type != "presence" || r.TypeCode != upstreammodels.PRESENCE || !strings.HasPrefix(r.Owner, "owner-") {
				t.Errorf("presence resource %+v", r)
			}
		}
		locks, err := c.FetchAll(ctx, &upstreammodels.FetchAllRequest{TypeCode: upstreammodels.LOCK})
		if err != nil || len(locks.Resources) != 1 || locks.Resources[0].Key != "bbs" {
			t.Fatalf("fetch-all locks = %v, %v; want bbs only", locks, err)
		}

		// Release: the owner's goes at once; a missing key is fine (as upstream).
		if _, err := c.Release(ctx, &upstreammodels.ReleaseRequest{Resource: lockResource("bbs", "vm-1")}); err != nil {
			t.Fatalf("release: %v", err)
		}
		if _, err := c.Release(ctx, &upstreammodels.ReleaseRequest{Resource: lockResource("bbs", "vm-1")}); err != nil {
			t.Fatalf("release of a missing key: %v", err)
		}
		_, err = c.Fetch(ctx, &upstreammodels.FetchRequest{Key: "bbs"})
		expectErr(t, err, "rpc error: code = NotFound desc = resource-not-found")
	})
}

// TestUpstreamRunnersHandOverThroughOurServer runs upstream's lock runner
// twice on one key, as two BBSes do, and checks the seed's handoff: the
// second takes over after the first is signalled and releases.
func TestUpstreamRunnersHandOverThroughOurServer(t *testing.T) {
	db := testenv.NewDatabase(t, "mysql")
	srv := testenv.StartServer(t, db, nil)
	c := upstreamClient(t, srv.Address, srv.Certs)

	runner := func(owner string) ifrit.Runner {
		return lock.NewLockRunner(quietLogger(), c, lockResource("bbs", owner), 15, clock.NewClock(), time.Second)
	}
	first := invoke(t, runner("vm-1"))
	second := ifrit.Background(runner("vm-2"))
	select {
	case <-second.Ready():
		t.Fatal("second runner got the lock while the first held it")
	case <-time.After(3 * time.Second):
	}

	released := time.Now()
	first.Signal(os.Interrupt)
	if err := <-first.Wait(); err != nil {
		t.Fatalf("first runner exited with %v", err)
	}
	select {
	case <-second.Ready():
		t.Logf("second runner took over %v after the first released", time.Since(released).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("second runner did not take over within two retry intervals")
	}
	got, err := c.Fetch(context.Background(), &upstreammodels.FetchRequest{Key: "bbs"})
	if err != nil || got.Resource.Owner != "vm-2" {
		t.Fatalf("bbs owner = %v, %v; want vm-2", got, err)
	}
	second.Signal(os.Interrupt)
	<-second.Wait()
}

// TestUpstreamPresenceRunnerSurvivesAndReregisters keeps a rep-like
// presence through our server, restarts it with a new owner as rep does,
// and checks the row follows.
func TestUpstreamPresenceRunnerReregisters(t *testing.T) {
	db := testenv.NewDatabase(t, "postgres")
	srv := testenv.StartServer(t, db, nil)
	c := upstreamClient(t, srv.Address, srv.Certs)

	presence := func(owner string) ifrit.Runner {
		res := &upstreammodels.Resource{Key: "cell-1", Owner: owner, Value: `{"cell_id":"cell-1"}`, TypeCode: upstreammodels.PRESENCE}
		return lock.NewPresenceRunner(quietLogger(), c, res, 3, clock.NewClock(), 500*time.Millisecond)
	}
	p1 := invoke(t, presence("owner-1"))
	// Renewals through several TTLs keep it.
	time.Sleep(4 * time.Second)
	got, err := c.Fetch(context.Background(), &upstreammodels.FetchRequest{Key: "cell-1"})
	if err != nil || got.Resource.Owner != "owner-1" {
		t.Fatalf("presence after 4 s = %v, %v; want owner-1", got, err)
	}
	p1.Signal(os.Interrupt)
	<-p1.Wait()

	p2 := invoke(t, presence("owner-2"))
	defer func() { p2.Signal(os.Interrupt); <-p2.Wait() }()
	got, err = c.Fetch(context.Background(), &upstreammodels.FetchRequest{Key: "cell-1"})
	if err != nil || got.Resource.Owner != "owner-2" || got.Resource.Type != "presence" {
		t.Fatalf("re-registered presence = %v, %v; want owner-2", got, err)
	}
}

// invoke starts a runner and waits until it is ready (it holds its lock).
func invoke(t *testing.T, r ifrit.Runner) ifrit.Process {
	t.Helper()
	p := ifrit.Background(r)
	select {
	case <-p.Ready():
		return p
	case err := <-p.Wait():
		t.Fatalf("runner exited before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		p.Signal(os.Kill)
		t.Fatal("runner not ready within 10 s")
	}
	return nil
}
