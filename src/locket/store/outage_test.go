package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestDatabaseGoesAway kills a private database server under a store: calls
// fail promptly with a database error, and work again by themselves once the
// server is back.
func TestDatabaseGoesAway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts database servers")
	}
	t.Run("mysql", func(t *testing.T) {
		m := testenv.StartMariaDB(t, nil)
		outage(t, m.NewDatabase(t), func() { m.Kill(t) }, func() { m.Start(t) })
	})
	t.Run("postgres", func(t *testing.T) {
		p := testenv.StartPostgres(t, nil)
		outage(t, p.NewDatabase(t), func() { p.Kill(t) }, func() { p.Start(t) })
	})
}

func outage(t *testing.T, db testenv.Database, kill, start func()) {
	st := openStore(t, db)
	mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 60})
	// A few pooled connections, all of which die with the server.
	for i := 0; i < 5; i++ {
		if _, err := st.FetchAll(ctx(t), "lock"); err != nil {
			t.Fatal(err)
		}
	}

	kill()
	for i := 0; i < 5; i++ {
		c, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		begin := time.Now()
		_, err := st.Lock(c, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 60})
		took := time.Since(begin)
		cancel()
		if err == nil || errors.Is(err, store.ErrCollision) {
			t.Fatalf("lock with the database down: %v", err)
		}
		if took > time.Second {
			t.Errorf("lock took %v to fail", took)
		}
		if i == 0 {
			t.Logf("database down: %v (after %v)", err, took.Round(time.Millisecond))
		}
		if _, err := st.Fetch(ctx(t), "k"); err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("fetch with the database down: %v", err)
		}
		if ls, err := st.FetchAll(ctx(t), "lock"); err == nil {
			t.Fatalf("fetch all with the database down: %d locks and no error", len(ls))
		}
	}

	start()
	begin := time.Now()
	for {
		res, err := st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 60})
		if err == nil {
			if res.Acquired {
				t.Fatalf("the lock was lost: %+v", res)
			}
			t.Logf("recovered %v after the restart", time.Since(begin).Round(time.Millisecond))
			break
		}
		if time.Since(begin) > 15*time.Second {
			t.Fatalf("no recovery: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if l, err := st.Fetch(ctx(t), "k"); err != nil || l.Owner != "o" {
		t.Fatalf("after recovery: %+v, %v", l, err)
	}
	if ls, err := st.FetchAll(ctx(t), "lock"); err != nil || len(ls) != 1 || ls[0].Owner != "o" {
		t.Fatalf("fetch all after recovery: %+v, %v", ls, err)
	}
}
