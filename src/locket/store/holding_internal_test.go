package store

import (
	"context"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

// TestRetryOfALockThatFailedAfterItsWriteRenews: an acquisition whose row
// was written but whose fencing token could not be assigned in time fails,
// yet the key is the caller's. The caller's retry must renew it at once,
// as the holder, even while every acquisition place is taken; queued among
// the acquisitions it would wait while the holding it does not know it has
// runs out (the fleet benchmark's ramp lost presences so).
func TestRetryOfALockThatFailedAfterItsWriteRenews(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one connection: a held row lock stops everything")
		}
		// 5 connections leave one acquisition place (admission.go).
		st, db, ctx := newInternalStore(t, driver, 5)
		admin := db.Admin(t)
		defer admin.Close()
		cell := Lock{Key: "cell", Owner: "rep", Type: "presence", Value: "{}", TTL: 15}

		// The key's fence row, inserted and not committed: the token's
		// transaction waits for it until the Lock's deadline.
		fence, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer fence.Rollback()
		if _, err := fence.ExecContext(ctx, db.Rebind(`INSERT INTO locket_fences (path, token, owner) VALUES (?, 7, 'x')`), cell.Key); err != nil {
			t.Fatal(err)
		}
		short, cancel := context.WithTimeout(ctx, time.Second)
		_, err = st.Lock(short, cell)
		cancel()
		if err == nil {
			t.Fatal("the Lock succeeded without its fencing token")
		}
		if err := fence.Rollback(); err != nil {
			t.Fatal(err)
		}
		if l, err := st.Fetch(ctx, cell.Key); err != nil || l.Owner != cell.Owner {
			t.Fatalf("after the failed Lock the row is %+v, %v; want the caller's", l, err)
		}

		// Another key's acquisition takes the one place and waits on a row
		// inserted and not committed.
		other, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Rollback()
		if _, err := other.ExecContext(ctx, db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, 'x', '', 'lock', 1, 'id', 15)`), "other"); err != nil {
			t.Fatal(err)
		}
		blocked := make(chan error, 1)
		go func() {
			_, err := st.Lock(ctx, Lock{Key: "other", Owner: "bbs", Type: "lock", TTL: 15})
			blocked <- err
		}()
		waitFor(t, "the acquisition to take the place", func() bool { return len(st.admit) == cap(st.admit) })

		retry, cancel := context.WithTimeout(ctx, 3*time.Second)
		res, err := st.Lock(retry, cell)
		cancel()
		if err != nil {
			t.Fatalf("the caller's retry with every acquisition place taken: %v", err)
		}
		if res.FencingToken != 1 {
			t.Errorf("the retry's fencing token is %d, want 1", res.FencingToken)
		}

		if err := other.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := <-blocked; err != nil {
			t.Errorf("the other acquisition: %v", err)
		}
	})
}
