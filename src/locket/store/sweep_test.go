package store_test

import (
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestSweepAdoptGrace checks the expiry primitives one by one (package
// expiry tests them together, in time).
func TestSweepAdoptGrace(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		c := ctx(t)
		sweep := func() []store.Lock {
			t.Helper()
			gone, err := st.Sweep(c)
			if err != nil {
				t.Fatal(err)
			}
			return gone
		}

		mustLock(t, st, store.Lock{Key: "ours", Owner: "o", Value: "v", Type: "presence", TTL: 1})
		mustLock(t, st, store.Lock{Key: "renewed", Owner: "o", Type: "lock", TTL: 1})
		mustLock(t, st, store.Lock{Key: "upstream", Owner: "o", Type: "lock", TTL: 1})
		mustLock(t, st, store.Lock{Key: "long", Owner: "o", Type: "lock", TTL: 60})
		if gone := sweep(); len(gone) != 0 {
			t.Fatalf("swept before the TTL: %+v", gone)
		}
		time.Sleep(1100 * time.Millisecond)
		mustLock(t, st, store.Lock{Key: "renewed", Owner: "o", Type: "lock", TTL: 1})
		// An upstream server's renewal: index + 1, our columns untouched.
		if _, err := admin.Exec(db.Rebind(`UPDATE locks SET modified_index = modified_index + 1 WHERE path = ?`), "upstream"); err != nil {
			t.Fatal(err)
		}
		gone := sweep()
		if len(gone) != 1 || gone[0].Key != "ours" || gone[0].Owner != "o" || gone[0].Type != "presence" ||
			gone[0].ModifiedIndex != 1 || gone[0].Value != "v" {
			t.Fatalf("sweep: %+v, want only the abandoned lock", gone)
		}
		if n, err := st.Adopt(c); err != nil || n != 1 {
			t.Fatalf("adopt: %d, %v", n, err)
		}
		if n, err := st.Adopt(c); err != nil || n != 0 {
			t.Fatalf("second adopt: %d, %v", n, err)
		}
		if gone := sweep(); len(gone) != 0 {
			t.Fatalf("adopted row swept at once: %+v", gone)
		}

		// Grace: every lock short of one TTL from now gets it.
		time.Sleep(1100 * time.Millisecond)
		n, err := st.GrantGrace(c)
		if err != nil || n != 3 { // renewed, upstream, and long (short of 60 s by 2 s)
			t.Fatalf("grace: %d, %v", n, err)
		}
		if gone := sweep(); len(gone) != 0 {
			t.Fatalf("swept during grace: %+v", gone)
		}
		if l, err := st.Fetch(c, "long"); err != nil || l.TTL != 60 {
			t.Fatalf("long: %+v, %v", l, err)
		}

		// Heartbeats.
		if _, found, err := st.NewestHeartbeat(c); err != nil || found {
			t.Fatalf("no heartbeat yet: %v, %v", found, err)
		}
		if err := st.Heartbeat(c, "s1", "10.0.0.1:8891"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if err := st.Heartbeat(c, "s1", "10.0.0.1:8891"); err != nil {
			t.Fatal(err)
		}
		age, found, err := st.NewestHeartbeat(c)
		if err != nil || !found || age < 0 || age > time.Second {
			t.Fatalf("heartbeat age %v, %v, %v", age, found, err)
		}
		if n, err := st.PruneServers(c, time.Hour); err != nil || n != 0 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		time.Sleep(20 * time.Millisecond) // SQLite's clock has millisecond steps
		if n, err := st.PruneServers(c, 0); err != nil || n != 1 {
			t.Fatalf("prune all: %d, %v", n, err)
		}
		if err := st.Heartbeat(c, "s1", "x"); err != nil {
			t.Fatal(err)
		}
		if err := st.RemoveServer(c, "s1"); err != nil {
			t.Fatal(err)
		}
		if _, found, err := st.NewestHeartbeat(c); err != nil || found {
			t.Fatalf("after remove: %v, %v", found, err)
		}
	})
}

// TestAdoptManyRows: rows upstream servers wrote, more than one adoption
// statement's worth, are all adopted once, in batches; a row of ours and a
// row upstream renews again afterwards come out right.
func TestAdoptManyRows(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		c := ctx(t)

		const upstreamRows = 250 // two full batches and a short one
		for i := range upstreamRows {
			if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
				VALUES (?, 'cell', '{}', 'presence', 1, ?, 30)`), fmt.Sprintf("cell-%03d", i), fmt.Sprintf("id-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		mustLock(t, st, store.Lock{Key: "ours", Owner: "o", Type: "lock", TTL: 30})
		deadline := func(key string) (expiresAt, expiresIndex, modifiedIndex sql.NullInt64) {
			t.Helper()
			if err := admin.QueryRow(db.Rebind(`SELECT expires_at, expires_index, modified_index FROM locks WHERE path = ?`), key).
				Scan(&expiresAt, &expiresIndex, &modifiedIndex); err != nil {
				t.Fatal(err)
			}
			return
		}
		oursBefore, _, _ := deadline("ours")

		if n, err := st.Adopt(c); err != nil || n != upstreamRows {
			t.Fatalf("adopt: %d, %v; want %d", n, err, upstreamRows)
		}
		for i := range upstreamRows {
			key := fmt.Sprintf("cell-%03d", i)
			if at, idx, mod := deadline(key); !at.Valid || !idx.Valid || idx != mod {
				t.Fatalf("%s not adopted: expires_at %v, expires_index %v, modified_index %v", key, at, idx, mod)
			}
		}
		if at, _, _ := deadline("ours"); at != oursBefore {
			t.Fatalf("our own row's deadline moved: %v, was %v", at, oursBefore)
		}
		if n, err := st.Adopt(c); err != nil || n != 0 {
			t.Fatalf("second adopt: %d, %v; want 0", n, err)
		}

		// An upstream renewal of one of them: adopted again, alone.
		if _, err := admin.Exec(db.Rebind(`UPDATE locks SET modified_index = modified_index + 1 WHERE path = ?`), "cell-123"); err != nil {
			t.Fatal(err)
		}
		if n, err := st.Adopt(c); err != nil || n != 1 {
			t.Fatalf("adopt after an upstream renewal: %d, %v; want 1", n, err)
		}
		if _, idx, mod := deadline("cell-123"); idx != mod {
			t.Fatalf("cell-123: expires_index %v, modified_index %v", idx, mod)
		}
	})
}
