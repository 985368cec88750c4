package store

import (
	"context"
	"database/sql"
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

		const piled = 2 * pool
		keys := make([]string, piled)
		for i := range keys {
			keys[i] = fmt.Sprintf("cell-%d", i)
		}
		tx := holdUnownedRows(t, ctx, db, keys...)
		acquired := make(chan error, piled)
		for _, k := range keys {
			go func() {
				_, err := st.Lock(ctx, Lock{Key: k, Owner: "rep", Type: "presence", TTL: 15})
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
		tx := holdUnownedRows(t, ctx, db, "cell-0")
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

// holdUnownedRows inserts unowned rows (anyone may take them) under keys and
// holds them in a transaction of another session: acquiring one waits for
// its row lock until the transaction ends (the test's cleanup rolls it back).
func holdUnownedRows(t *testing.T, ctx context.Context, db testenv.Database, keys ...string) *sql.Tx {
	t.Helper()
	admin := db.Admin(t)
	t.Cleanup(func() { admin.Close() })
	for _, k := range keys {
		if _, err := admin.ExecContext(ctx, db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, '', '', 'presence', 1, 'g', 15)`), k); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback() })
	for _, k := range keys {
		// One key at a time: MySQL scans a small table for an IN list and
		// would lock every row it read.
		if _, err := tx.ExecContext(ctx, db.Rebind(`SELECT owner FROM locks WHERE path = ? FOR UPDATE`), k); err != nil {
			t.Fatal(err)
		}
	}
	return tx
}
