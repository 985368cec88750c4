package store

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

// TestSweepLocksRowsInKeyOrder: the sweep moving sweep_at of renewed rows
// and a renewal batch touching some of the same rows lock them in one order,
// so neither deadlocks the other. Built so that a sweep locking in index
// order deadlocks: it holds k3 and waits for k1 while the batch holds k1 and
// waits for k3. Postgres finds that only after deadlock_timeout (1 s) and
// fails one of the two; all that time the batch's renewals wait.
func TestSweepLocksRowsInKeyOrder(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver != "postgres" {
			t.Skip("SQLite has one writer; MySQL finds deadlocks at once, and its sweep locks in index order")
		}
		st, db, ctx := newInternalStore(t, driver, 16)
		lock := func(key string, ttl int64) Lock { return Lock{Key: key, Owner: "o", Type: "lock", TTL: ttl} }
		// k3 comes due first (in the sweep's index order), then k1; k2 is
		// not due. Renewed with a long TTL, k1 and k3 stay due for the
		// sweep (a renewal leaves sweep_at alone) but are not expired.
		for _, l := range []Lock{lock("k3", 1), lock("k1", 1), lock("k2", 60)} {
			if _, err := st.Lock(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(1100 * time.Millisecond)
		// Renewed in reverse key order, so that a scan of the table meets
		// them in that order too.
		var rs []*renewal
		for _, key := range []string{"k3", "k2", "k1"} {
			res, err := st.Lock(ctx, lock(key, 60))
			if err != nil {
				t.Fatal(err)
			}
			rs = append(rs, &renewal{ctx: ctx, l: lock(key, 60), token: res.FencingToken})
		}

		admin := db.Admin(t)
		defer admin.Close()
		waiting := func() int {
			var n int
			if err := admin.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		hold, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Rollback()
		if _, err := hold.ExecContext(ctx, `SELECT owner FROM locks WHERE path = 'k2' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}

		batch := make(chan struct{})
		go func() {
			defer close(batch)
			st.writeRenewals(rs) // locks k1, then waits for k2
		}()
		waitFor(t, "the batch waiting for k2", func() bool { return waiting() == 1 })
		sweep := make(chan error, 1)
		go func() {
			sweep <- st.inTx(ctx, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, st.q.pushSweep)
				return err
			})
		}()
		waitFor(t, "the sweep waiting for a row", func() bool { return waiting() == 2 })
		if err := hold.Commit(); err != nil {
			t.Fatal(err)
		}

		select {
		case err := <-sweep:
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("the sweep did not end")
		}
		<-batch
		for _, r := range rs {
			if r.alone || r.err != nil || !r.renewed {
				t.Errorf("%s: the batch failed (alone %v, renewed %v, %v)", r.l.Key, r.alone, r.renewed, r.err)
			}
		}
		var moved int
		if err := admin.QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM locks WHERE path IN ('k1', 'k3') AND sweep_at = expires_at`).Scan(&moved); err != nil {
			t.Fatal(err)
		}
		if moved != 2 {
			t.Errorf("the sweep moved sweep_at of %d of the 2 renewed rows that came due", moved)
		}
	})
}
