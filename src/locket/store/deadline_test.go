package store_test

import (
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestRenewalDeadlineCountsFromTheWrite: a renewal that waited for a row lock
// gets a deadline counted from when it was written, not from when its
// statement started. Otherwise a renewal that waited behind a newer one
// would move the newer one's deadline backwards and the sweep would delete a
// lock its owner still holds (the fault suite's slow-database case found
// this).
func TestRenewalDeadlineCountsFromTheWrite(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one writer and no row locks to wait for")
		}
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		const ttl = 10
		mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: ttl})

		// Another session holds the row, as a slow database would.
		tx, err := admin.BeginTx(ctx(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx(t), db.Rebind(`SELECT owner FROM locks WHERE path = ? FOR UPDATE`), "k"); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: ttl})
			done <- err
		}()
		const held = 1500 * time.Millisecond
		time.Sleep(held)
		select {
		case err := <-done:
			t.Fatalf("renewal did not wait for the row lock: %v", err)
		default:
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		if err := <-done; err != nil {
			t.Fatalf("renewal: %v", err)
		}

		// The deadline is at least TTL after the row lock was released (on
		// the database's clock, which shares this machine's).
		r, ok := readRow(t, db, admin, "k")
		if !ok || !r.expiresAt.Valid {
			t.Fatalf("row after renewal: %+v, %v", r, ok)
		}
		deadline := time.UnixMicro(r.expiresAt.Int64)
		if left := deadline.Sub(committed); left < ttl*time.Second-250*time.Millisecond {
			t.Fatalf("deadline is %v after the renewal was written, want about %ds: it counts from the statement's start", left, ttl)
		}
	})
}
