package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// newStore opens a migrated store on a fresh database of its own.
func newStore(t testing.TB, driver string) (*store.Store, testenv.Database) {
	t.Helper()
	db := testenv.NewDatabase(t, driver)
	return openStore(t, db), db
}

func openStore(t testing.TB, db testenv.Database) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx(t)); err != nil {
		t.Fatal(err)
	}
	return st
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// row is what an operator sees in the locks table.
type row struct {
	owner, value, typ, modifiedID string
	modifiedIndex, ttl            int64
	expiresAt, expiresIndex       sql.NullInt64
}

func readRow(t testing.TB, db testenv.Database, admin *sql.DB, key string) (row, bool) {
	t.Helper()
	var r row
	err := admin.QueryRow(db.Rebind(`SELECT owner, value, type, modified_index, modified_id, ttl, expires_at, expires_index
		FROM locks WHERE path = ?`), key).
		Scan(&r.owner, &r.value, &r.typ, &r.modifiedIndex, &r.modifiedID, &r.ttl, &r.expiresAt, &r.expiresIndex)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false
	}
	if err != nil {
		t.Fatalf("read row %q: %v", key, err)
	}
	return r, true
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestLockSemantics(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		c := ctx(t)

		// New key.
		res, err := st.Lock(c, store.Lock{Key: "bbs", Owner: "a", Value: "v1", Type: "lock", TTL: 15})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Acquired || res.ModifiedIndex != 1 {
			t.Fatalf("new key: got %+v, want acquired with index 1", res)
		}
		r1, ok := readRow(t, db, admin, "bbs")
		if !ok {
			t.Fatal("new key: no row")
		}
		if r1.owner != "a" || r1.value != "v1" || r1.typ != "lock" || r1.ttl != 15 || r1.modifiedIndex != 1 {
			t.Fatalf("new key: row %+v", r1)
		}
		if !guidRE.MatchString(r1.modifiedID) {
			t.Fatalf("modified_id %q is not a GUID", r1.modifiedID)
		}
		if !r1.expiresAt.Valid || r1.expiresIndex.Int64 != 1 {
			t.Fatalf("new key: deadline columns %+v", r1)
		}

		// Renewal replaces value, type and ttl, bumps modified_index, keeps
		// modified_id and moves the deadline.
		time.Sleep(20 * time.Millisecond)
		res, err = st.Lock(c, store.Lock{Key: "bbs", Owner: "a", Value: "v2", Type: "presence", TTL: 30})
		if err != nil {
			t.Fatal(err)
		}
		// MySQL's renewal returns the fencing token in place of the index.
		if res.Acquired || res.FencingToken != 1 || (driver != "mysql" && res.ModifiedIndex != 2) {
			t.Fatalf("renewal: got %+v, want renewed with index 2, token 1", res)
		}
		r2, _ := readRow(t, db, admin, "bbs")
		if r2.owner != "a" || r2.value != "v2" || r2.typ != "presence" || r2.ttl != 30 || r2.modifiedIndex != 2 {
			t.Fatalf("renewal: row %+v", r2)
		}
		if r2.modifiedID != r1.modifiedID {
			t.Fatalf("renewal changed modified_id %q -> %q", r1.modifiedID, r2.modifiedID)
		}
		if r2.expiresIndex.Int64 != 2 || r2.expiresAt.Int64 < r1.expiresAt.Int64+15_000_000 {
			t.Fatalf("renewal: deadline %d/%d after %d/%d", r2.expiresAt.Int64, r2.expiresIndex.Int64,
				r1.expiresAt.Int64, r1.expiresIndex.Int64)
		}
		res, err = st.Lock(c, store.Lock{Key: "bbs", Owner: "a", Value: "v2", Type: "presence", TTL: 30})
		if err != nil || res.FencingToken != 1 || (driver != "mysql" && res.ModifiedIndex != 3) {
			t.Fatalf("identical renewal: %+v, %v (want index 3)", res, err)
		}

		// Collision: nothing changes. Owners compare exactly.
		for _, other := range []string{"b", "A", "a "} {
			_, err = st.Lock(c, store.Lock{Key: "bbs", Owner: other, Value: "x", Type: "lock", TTL: 1})
			if !errors.Is(err, store.ErrCollision) {
				t.Fatalf("owner %q: got %v, want ErrCollision", other, err)
			}
		}
		r3, _ := readRow(t, db, admin, "bbs")
		if r3.owner != "a" || r3.value != "v2" || r3.modifiedIndex != 3 || r3.ttl != 30 {
			t.Fatalf("collision changed the row: %+v", r3)
		}

		// Fetch.
		l, err := st.Fetch(c, "bbs")
		if err != nil {
			t.Fatal(err)
		}
		want := store.Lock{Key: "bbs", Owner: "a", Value: "v2", Type: "presence", TTL: 30, ModifiedIndex: 3, ModifiedID: r1.modifiedID,
			FencingToken: 1, AcquiredAt: l.AcquiredAt, ExpiresIn: l.ExpiresIn}
		if l.AcquiredAt <= 0 || l.ExpiresIn <= 0 || l.ExpiresIn > 30_000_000 {
			t.Fatalf("fetch: acquired at %d, expires in %d µs", l.AcquiredAt, l.ExpiresIn)
		}
		if l != want {
			t.Fatalf("fetch: got %+v, want %+v", l, want)
		}
		if _, err := st.Fetch(c, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("fetch missing: %v", err)
		}

		// The empty key is a key.
		if res, err := st.Lock(c, store.Lock{Key: "", Owner: "e", Type: "lock", TTL: 5}); err != nil || !res.Acquired {
			t.Fatalf("empty key: %+v, %v", res, err)
		}
		if l, err := st.Fetch(c, ""); err != nil || l.Owner != "e" {
			t.Fatalf("fetch empty key: %+v, %v", l, err)
		}

		// Release: missing key, other owner, own.
		if l, err := st.Release(c, "missing", "a"); err != nil || l != (store.Lock{}) {
			t.Fatalf("release missing: %+v, %v", l, err)
		}
		if _, err := st.Release(c, "bbs", "b"); !errors.Is(err, store.ErrCollision) {
			t.Fatalf("release by other owner: %v", err)
		}
		if _, ok := readRow(t, db, admin, "bbs"); !ok {
			t.Fatal("release by other owner deleted the row")
		}
		l, err = st.Release(c, "bbs", "a")
		want.ExpiresIn = l.ExpiresIn // read at another time
		if err != nil || l != want {
			t.Fatalf("release: got %+v, %v, want %+v", l, err, want)
		}
		if _, ok := readRow(t, db, admin, "bbs"); ok {
			t.Fatal("release left the row")
		}

		// Re-creation: a new row, index 1, a new modified_id.
		res, err = st.Lock(c, store.Lock{Key: "bbs", Owner: "b", Value: "v", Type: "lock", TTL: 15})
		if err != nil || !res.Acquired || res.ModifiedIndex != 1 {
			t.Fatalf("re-create: %+v, %v", res, err)
		}
		r4, _ := readRow(t, db, admin, "bbs")
		if r4.modifiedID == r1.modifiedID || !guidRE.MatchString(r4.modifiedID) || r4.modifiedIndex != 1 {
			t.Fatalf("re-created row %+v (old modified_id %s)", r4, r1.modifiedID)
		}
	})
}

func TestUnownedRow(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		c := ctx(t)
		// An unowned row, as upstream's columns allow it.
		if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, '', '', 'lock', 7, 'old-id', 15)`), "free"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Fetch(c, "free"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("fetch unowned: %v", err)
		}
		if all, err := st.FetchAll(c, "lock"); err != nil || len(all) != 0 {
			t.Fatalf("fetch all lists the unowned row: %+v, %v", all, err)
		}
		if n, _, err := st.Count(c); err != nil || n != 0 {
			t.Fatalf("count: %d, %v", n, err)
		}
		res, err := st.Lock(c, store.Lock{Key: "free", Owner: "taker", Value: "v", Type: "lock", TTL: 15})
		if err != nil || !res.Acquired {
			t.Fatalf("take unowned row: %+v, %v", res, err)
		}
		l, err := st.Fetch(c, "free")
		if err != nil || l.Owner != "taker" || l.ModifiedIndex != 1 || l.ModifiedID == "old-id" {
			t.Fatalf("after take-over: %+v, %v", l, err)
		}
	})
}

// TestFetchAllReadsNulls: FetchAll reads NULL columns as empty or zero. An
// upstream server's rows have none of our columns, and the schema allows
// NULL in most of upstream's.
func TestFetchAllReadsNulls(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, db := newStore(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		for _, row := range []struct{ path, owner, value any }{
			{"upstream-cell", "rep", "{}"},
			{"no-value", "rep", nil},
			{"no-owner", nil, "{}"},
		} {
			if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
				VALUES (?, ?, ?, 'presence', 1, 'g', 15)`), row.path, row.owner, row.value); err != nil {
				t.Fatal(err)
			}
		}
		all, err := st.FetchAll(ctx(t), "presence")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]store.Lock{}
		for _, l := range all {
			got[l.Key] = l
		}
		want := map[string]store.Lock{
			"upstream-cell": {Key: "upstream-cell", Owner: "rep", Value: "{}", Type: "presence"},
			"no-value":      {Key: "no-value", Owner: "rep", Type: "presence"},
		}
		if len(got) != len(want) {
			t.Fatalf("FetchAll: %+v, want %+v", all, want)
		}
		for k, w := range want {
			g := got[k]
			if g.Key != w.Key || g.Owner != w.Owner || g.Value != w.Value || g.Type != w.Type ||
				g.FencingToken != 0 || g.AcquiredAt != 0 || g.ExpiresIn != 0 {
				t.Errorf("%s: %+v, want %+v", k, g, w)
			}
		}
	})
}

func TestFetchAllAndCount(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		c := ctx(t)
		if all, err := st.FetchAll(c, "presence"); err != nil || len(all) != 0 {
			t.Fatalf("empty table: %+v, %v", all, err)
		}
		for i := 0; i < 5; i++ {
			mustLock(t, st, store.Lock{Key: fmt.Sprintf("cell-%d", i), Owner: fmt.Sprintf("o%d", i), Value: `{"cell_id":"x"}`, Type: "presence", TTL: 15})
		}
		mustLock(t, st, store.Lock{Key: "bbs", Owner: "b", Type: "lock", TTL: 15})
		mustLock(t, st, store.Lock{Key: "auctioneer", Owner: "a", Type: "lock", TTL: 15})

		pres, err := st.FetchAll(c, "presence")
		if err != nil || len(pres) != 5 {
			t.Fatalf("presences: %d, %v", len(pres), err)
		}
		for _, p := range pres {
			if p.Type != "presence" || !strings.HasPrefix(p.Key, "cell-") || p.Value != `{"cell_id":"x"}` ||
				p.FencingToken != 1 || p.AcquiredAt == 0 || p.ExpiresIn <= 10_000_000 || p.ExpiresIn > 15_000_000 {
				t.Fatalf("presence %+v", p)
			}
		}
		locks, err := st.FetchAll(c, "lock")
		if err != nil || len(locks) != 2 {
			t.Fatalf("locks: %+v, %v", locks, err)
		}
		all, err := st.FetchAll(c, "")
		if err != nil || len(all) != 7 {
			t.Fatalf("all: %d, %v", len(all), err)
		}
		nl, np, err := st.Count(c)
		if err != nil || nl != 2 || np != 5 {
			t.Fatalf("count: %d locks, %d presences, %v", nl, np, err)
		}
	})
}

func mustLock(t testing.TB, st *store.Store, l store.Lock) store.LockResult {
	t.Helper()
	res, err := st.Lock(ctx(t), l)
	if err != nil {
		t.Fatalf("lock %+v: %v", l, err)
	}
	return res
}

// TestRacingOwners: of many owners creating (or taking over) one key at once,
// exactly one wins and every other gets ErrCollision, on every database.
func TestRacingOwners(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		const racers, rounds = 20, 10
		for round := 0; round < rounds; round++ {
			key := fmt.Sprintf("race-%d", round)
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, racers)
			results := make([]store.LockResult, racers)
			for i := 0; i < racers; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], errs[i] = st.Lock(ctx(t), store.Lock{Key: key, Owner: fmt.Sprintf("owner-%d", i), Type: "lock", TTL: 15})
				}()
			}
			close(start)
			wg.Wait()
			winners := 0
			for i, err := range errs {
				switch {
				case err == nil:
					winners++
					if !results[i].Acquired {
						t.Errorf("round %d: winner %d did not acquire: %+v", round, i, results[i])
					}
				case !errors.Is(err, store.ErrCollision):
					t.Errorf("round %d: owner %d: %v (want ErrCollision)", round, i, err)
				}
			}
			if winners != 1 {
				t.Fatalf("round %d: %d winners, want 1", round, winners)
			}
		}
	})
}

// TestRacingRenewals: concurrent renewals by the owner all succeed and each
// bumps modified_index exactly once.
func TestRacingRenewals(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 15})
		const n = 20
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 15}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		l, err := st.Fetch(ctx(t), "k")
		if err != nil || l.ModifiedIndex != n+1 {
			t.Fatalf("after %d renewals: %+v, %v", n, l, err)
		}
	})
}

// TestNoSilentTruncation: overlong data is an error or is stored whole, never
// cut (MySQL outside strict mode would cut it).
func TestNoSilentTruncation(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		c := ctx(t)
		cases := []store.Lock{
			{Key: "value", Owner: "o", Value: strings.Repeat("v", store.MaxValueLength+1), Type: "lock", TTL: 5},
			{Key: strings.Repeat("k", store.MaxKeyLength+1), Owner: "o", Type: "lock", TTL: 5},
			{Key: "owner", Owner: strings.Repeat("o", store.MaxOwnerLength+1), Type: "lock", TTL: 5},
			{Key: "utf8", Owner: "o", Value: strings.Repeat("é", store.MaxValueLength), Type: "lock", TTL: 5},
		}
		for _, l := range cases {
			_, err := st.Lock(c, l)
			if err != nil {
				if errors.Is(err, store.ErrCollision) {
					t.Fatalf("%.20s: %v", l.Key, err)
				}
				t.Logf("%s: %.20s...: error (fine): %v", driver, l.Key, err)
				continue
			}
			got, err := st.Fetch(c, l.Key)
			if err != nil {
				t.Fatalf("%.20s: stored but fetch: %v", l.Key, err)
			}
			if got.Value != l.Value || got.Owner != l.Owner || got.Key != l.Key {
				t.Fatalf("%.20s: stored data differs (len value %d -> %d, owner %d -> %d, key %d -> %d)", l.Key,
					len(l.Value), len(got.Value), len(l.Owner), len(got.Owner), len(l.Key), len(got.Key))
			}
			if driver != "sqlite" && l.Key != "utf8" {
				t.Fatalf("%s accepted overlong data (%.20s)", driver, l.Key)
			}
		}
	})
}

func TestStats(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		var mu sync.Mutex
		var observed []time.Duration
		st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN, ObserveQuery: func(d time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			observed = append(observed, d)
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(ctx(t)); err != nil {
			t.Fatal(err)
		}
		st.Stats() // start a fresh max period
		before := st.Stats()
		mu.Lock()
		observed = nil
		mu.Unlock()
		mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 5})
		st.Fetch(ctx(t), "missing") //nolint:errcheck // counted either way
		s := st.Stats()
		// Every round trip counted is observed, with its duration.
		mu.Lock()
		if len(observed) != 4 || slices.Max(observed) != s.QueryDurationMax {
			t.Errorf("observed %v, want the 4 round trips, the longest %v", observed, s.QueryDurationMax)
		}
		mu.Unlock()
		// An acquisition is the holder read, the upsert and one transaction
		// (fencing token and history); the fetch is one more.
		if s.QueriesTotal-before.QueriesTotal != 4 || s.QueriesSucceeded-before.QueriesSucceeded != 4 ||
			s.QueriesFailed != before.QueriesFailed || s.QueriesInFlight != 0 {
			t.Fatalf("stats %+v after %+v", s, before)
		}
		if s.QueryDurationMax <= 0 || s.OpenConnections < 1 {
			t.Fatalf("stats %+v", s)
		}
		if again := st.Stats(); again.QueryDurationMax != 0 {
			t.Fatalf("QueryDurationMax not reset: %v", again.QueryDurationMax)
		}
		t.Logf("%s: %+v", driver, s)
	})
}

func TestHugeTTL(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		st, _ := newStore(t, driver)
		if _, err := st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 1 << 50}); err == nil {
			t.Fatal("a TTL over MaxTTL was accepted")
		}
		res := mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: store.MaxTTL})
		if !res.Acquired {
			t.Fatalf("%+v", res)
		}
	})
}
