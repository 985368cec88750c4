package store_test

import (
	"errors"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// roundTrips runs f and returns how many statements it sent.
func roundTrips(t *testing.T, st *store.Store, f func()) int64 {
	t.Helper()
	before := st.Stats().QueriesTotal
	f()
	return st.Stats().QueriesTotal - before
}

// TestRoundTrips pins the cost model the renewal path is built on: a
// renewal is one statement, a collision one plain read, and a stale hint
// (the lock moved on through another server) costs one round trip more and
// never a wrong answer.
func TestRoundTrips(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		a := openStore(t, db)
		lock := store.Lock{Key: "cell-1", Owner: "rep-a", Value: `{"cell_id":"cell-1"}`, Type: "presence", TTL: 15}
		mustLock(t, a, lock)

		if n := roundTrips(t, a, func() {
			res := mustLock(t, a, lock)
			if res.Acquired || res.FencingToken != 1 {
				t.Fatalf("renewal: %+v", res)
			}
		}); n != 1 {
			t.Fatalf("a renewal took %d statements, want 1", n)
		}

		other := lock
		other.Owner = "rep-b"
		if n := roundTrips(t, a, func() {
			if _, err := a.Lock(ctx(t), other); !errors.Is(err, store.ErrCollision) {
				t.Fatalf("another owner's Lock: %v, want a collision", err)
			}
		}); n != 1 {
			t.Fatalf("a collision took %d statements, want 1", n)
		}
		// The collision did not cost the holder its one-statement renewal.
		if n := roundTrips(t, a, func() { mustLock(t, a, lock) }); n != 1 {
			t.Fatalf("a renewal after another owner's collision took %d statements, want 1", n)
		}

		// A server that has not seen this holder (a restart, a client that
		// failed over) renews after one read, then in one statement.
		if driver == "sqlite" {
			return // one file, one server
		}
		b := openStore(t, db)
		if n := roundTrips(t, b, func() { mustLock(t, b, lock) }); n != 2 {
			t.Fatalf("a first renewal through another server took %d statements, want 2", n)
		}
		if n := roundTrips(t, b, func() { mustLock(t, b, lock) }); n != 1 {
			t.Fatalf("a second renewal through that server took %d statements, want 1", n)
		}

		// The holder releases through b and another owner takes the key
		// through b: a's hint is stale. a's Lock for the old holder must
		// collide, not renew.
		if _, err := b.Release(ctx(t), lock.Key, lock.Owner); err != nil {
			t.Fatal(err)
		}
		if res := mustLock(t, b, other); !res.Acquired || res.FencingToken != 2 {
			t.Fatalf("take-over through b: %+v", res)
		}
		if n := roundTrips(t, a, func() {
			if _, err := a.Lock(ctx(t), lock); !errors.Is(err, store.ErrCollision) {
				t.Fatalf("the old holder's Lock through a with a stale hint: %v, want a collision", err)
			}
		}); n != 2 {
			t.Fatalf("a stale hint cost %d statements, want 2 (the UPDATE, then the read)", n)
		}
		got, err := a.Fetch(ctx(t), lock.Key)
		if err != nil || got.Owner != other.Owner || got.FencingToken != 2 {
			t.Fatalf("after the stale hint: %+v, %v", got, err)
		}
	})
}
