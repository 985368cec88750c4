package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

// TestRenewalsGoFirst: acquisitions that pile up (here: waiting for rows
// someone holds) do not take every pool connection; a held lock's renewal
// still gets one at once.
func TestRenewalsGoFirst(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one connection, used in turn")
		}
		const pool = 6
		st, db, ctx := newInternalStore(t, driver, pool)
		held := Lock{Key: "bbs", Owner: "bbs-1", Type: "lock", TTL: 15}
		if _, err := st.Lock(ctx, held); err != nil {
			t.Fatal(err)
		}

		// Unowned rows (anyone may take them) that another session holds:
		// acquiring one waits for the row lock.
		admin := db.Admin(t)
		defer admin.Close()
		const piled = 2 * pool
		keys := make([]any, piled)
		for i := range keys {
			keys[i] = fmt.Sprintf("cell-%d", i)
			if _, err := admin.ExecContext(ctx, db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
				VALUES (?, '', '', 'presence', 1, 'g', 15)`), keys[i]); err != nil {
				t.Fatal(err)
			}
		}
		tx, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, k := range keys {
			// One key at a time: MySQL scans a small table for an IN list
			// and would lock every row it read.
			if _, err := tx.ExecContext(ctx, db.Rebind(`SELECT owner FROM locks WHERE path = ? FOR UPDATE`), k); err != nil {
				t.Fatal(err)
			}
		}
		acquired := make(chan error, piled)
		for _, k := range keys {
			go func() {
				_, err := st.Lock(ctx, Lock{Key: k.(string), Owner: "rep", Type: "presence", TTL: 15})
				acquired <- err
			}()
		}
		waiting := int64(pool) // what they would take without the bound
		if st.admit != nil {
			waiting = int64(cap(st.admit))
		}
		waitFor(t, "acquisitions waiting for the held rows", func() bool {
			return st.stats.inFlight.Load() >= waiting
		})

		renewal, stop := context.WithTimeout(ctx, 5*time.Second)
		defer stop()
		if _, err := st.Lock(renewal, held); err != nil {
			t.Fatalf("renewal of %s behind %d piled-up acquisitions: %v", held.Key, piled, err)
		}
		if len(acquired) != 0 {
			t.Fatalf("an acquisition finished while its row was held: %v", <-acquired)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for range piled {
			if err := <-acquired; err != nil {
				t.Errorf("acquisition after the hold: %v", err)
			}
		}
	})
}

// TestAbandonedReleaseNotStarted: a Release still waiting for admission when
// its client gives up is not started. Else the owner's next renewal, which
// does not wait there, could be overtaken by it: the owner would be told it
// holds a lock that is then deleted.
func TestAbandonedReleaseNotStarted(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one connection and no admission")
		}
		// One acquisition or release at a time.
		st, db, ctx := newInternalStore(t, driver, renewalStatements+reservedConns+1)
		held := Lock{Key: "bbs", Owner: "bbs-1", Type: "lock", TTL: 15}
		if _, err := st.Lock(ctx, held); err != nil {
			t.Fatal(err)
		}

		// An acquisition waiting for a row another session holds takes the
		// one place.
		admin := db.Admin(t)
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, '', '', 'presence', 1, 'g', 15)`), "cell-0"); err != nil {
			t.Fatal(err)
		}
		tx, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, db.Rebind(`SELECT owner FROM locks WHERE path = ? FOR UPDATE`), "cell-0"); err != nil {
			t.Fatal(err)
		}
		acquired := make(chan error, 1)
		go func() {
			_, err := st.Lock(ctx, Lock{Key: "cell-0", Owner: "rep", Type: "presence", TTL: 15})
			acquired <- err
		}()
		waitFor(t, "the acquisition waiting for the held row", func() bool { return st.stats.inFlight.Load() >= 1 })

		// The release queues behind it; its client gives up.
		caller, giveUp := context.WithCancel(ctx)
		released := make(chan error, 1)
		go func() {
			_, err := st.Release(WithCaller(ctx, caller), held.Key, held.Owner)
			released <- err
		}()
		time.Sleep(50 * time.Millisecond) // either way (queued or not yet), it must not start
		giveUp()

		// The owner renews, then the place comes free.
		if _, err := st.Lock(ctx, held); err != nil {
			t.Fatalf("renewal: %v", err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-acquired; err != nil {
			t.Fatalf("acquisition: %v", err)
		}
		if err := <-released; !errors.Is(err, ErrAbandoned) {
			t.Errorf("release whose client gave up: %v, want ErrAbandoned", err)
		}
		if l, err := st.Fetch(ctx, held.Key); err != nil || l.Owner != held.Owner {
			t.Errorf("after the abandoned release, %s is %+v, %v; want still held by %s", held.Key, l, err, held.Owner)
		}
	})
}
