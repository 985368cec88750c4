package store_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestSweepAtStaysBelowTheDeadline: sweep_at, the indexed lower bound of
// expires_at, is left alone by renewals with the same TTL (so the index is
// not written), lowered by a shorter TTL, moved up by the sweep once a
// renewed row comes due, and NULL (a row an upstream or older server wrote)
// counts as due.
func TestSweepAtStaysBelowTheDeadline(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		c := ctx(t)
		times := func(key string) (sweepAt, expiresAt sql.NullInt64) {
			t.Helper()
			if err := admin.QueryRow(db.Rebind(`SELECT sweep_at, expires_at FROM locks WHERE path = ?`), key).
				Scan(&sweepAt, &expiresAt); err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			return sweepAt, expiresAt
		}

		l := store.Lock{Key: "cell", Owner: "rep", Type: "presence", TTL: 1}
		mustLock(t, st, l)
		sweep0, expires0 := times("cell")
		if !sweep0.Valid || sweep0.Int64 > expires0.Int64 {
			t.Fatalf("acquired: sweep_at %v, expires_at %v", sweep0, expires0)
		}
		time.Sleep(20 * time.Millisecond)
		mustLock(t, st, l)
		sweep1, expires1 := times("cell")
		if sweep1 != sweep0 || expires1.Int64 <= expires0.Int64 {
			t.Fatalf("renewed: sweep_at %v -> %v, expires_at %v -> %v; want sweep_at unchanged, expires_at later",
				sweep0, sweep1, expires0, expires1)
		}

		// Renewed past its first deadline: due, but not expired. The sweep
		// keeps it and moves sweep_at up to the deadline.
		time.Sleep(700 * time.Millisecond)
		mustLock(t, st, l)
		time.Sleep(500 * time.Millisecond)
		if gone, err := st.Sweep(c); err != nil || len(gone) != 0 {
			t.Fatalf("sweep of a renewed row: %+v, %v", gone, err)
		}
		sweep2, expires2 := times("cell")
		if sweep2 != expires2 {
			t.Fatalf("after the sweep: sweep_at %v, expires_at %v; want them equal", sweep2, expires2)
		}

		// A shorter TTL lowers sweep_at with the deadline.
		long := store.Lock{Key: "long", Owner: "bbs", Type: "lock", TTL: 60}
		mustLock(t, st, long)
		long.TTL = 1
		mustLock(t, st, long)
		if sweepAt, expiresAt := times("long"); sweepAt.Int64 > expiresAt.Int64 {
			t.Fatalf("shorter TTL: sweep_at %v above expires_at %v", sweepAt, expiresAt)
		}

		// NULL sweep_at is due: the row expires on time.
		mustLock(t, st, store.Lock{Key: "old", Owner: "o", Type: "lock", TTL: 1})
		if _, err := admin.Exec(db.Rebind(`UPDATE locks SET sweep_at = NULL WHERE path = ?`), "old"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond)
		gone, err := st.Sweep(c)
		if err != nil {
			t.Fatal(err)
		}
		keys := map[string]bool{}
		for _, g := range gone {
			keys[g.Key] = true
		}
		if !keys["old"] || !keys["long"] || !keys["cell"] || len(gone) != 3 {
			t.Fatalf("swept %+v, want old, long and cell (all past their deadline)", gone)
		}
	})
}

// TestMigrateDropsTheOldDeadlineIndex: a table migrated by release 1 has
// locks_expires_at, which would cost every renewal an index update.
func TestMigrateDropsTheOldDeadlineIndex(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		if _, err := admin.Exec(`CREATE INDEX locks_expires_at ON locks (expires_at)`); err != nil {
			t.Fatal(err)
		}
		if err := st.Migrate(ctx(t)); err != nil {
			t.Fatal(err)
		}
		q := map[string]string{
			"mysql": `SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
				AND TABLE_NAME = 'locks' AND INDEX_NAME = 'locks_expires_at'`,
			"postgres": `SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'locks' AND indexname = 'locks_expires_at'`,
			"sqlite":   `SELECT COUNT(*) FROM pragma_index_list('locks') WHERE name = 'locks_expires_at'`,
		}[driver]
		var n int
		if err := admin.QueryRow(q).Scan(&n); err != nil || n != 0 {
			t.Fatalf("locks_expires_at after migration: %d, %v", n, err)
		}
	})
}
