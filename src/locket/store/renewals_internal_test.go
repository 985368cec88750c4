package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

// TestBatchedRenewals: renewals that find every renewal statement busy are
// written together, each gets its own answer, and a stale hint or a caller
// that gave up costs no other renewal its answer.
func TestBatchedRenewals(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one writer: nothing to hold a row lock with")
		}
		st, db, ctx := newInternalStore(t, driver, 16)
		// The test holds rows as long as it takes to queue the renewals.
		st.renewalStall = time.Hour
		admin := db.Admin(t)
		defer admin.Close()

		const keys = 40
		key := func(i int) string { return fmt.Sprintf("cell-%02d", i) }
		lock := func(i int) Lock {
			return Lock{Key: key(i), Owner: "o", Value: fmt.Sprintf(`{"cell_id":"%d"}`, i), Type: "presence", TTL: 15}
		}
		tokens := map[string]int64{}
		for i := range keys {
			res, err := st.Lock(ctx, lock(i))
			if err != nil {
				t.Fatal(err)
			}
			tokens[key(i)] = res.FencingToken
		}
		indexes := func() map[string]int64 {
			t.Helper()
			m := map[string]int64{}
			rows, err := admin.QueryContext(ctx, `SELECT path, modified_index FROM locks`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			for rows.Next() {
				var k string
				var idx int64
				if err := rows.Scan(&k, &idx); err != nil {
					t.Fatal(err)
				}
				m[k] = idx
			}
			return m
		}

		type outcome struct {
			res LockResult
			err error
		}
		// round holds the rows of the first four keys, so that their
		// renewals take every renewal statement and wait; renews the other
		// keys, which queue; then lets the rows go.
		round := func(t *testing.T, gaveUp int) map[string]outcome {
			tx, err := admin.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(ctx, db.Rebind(`SELECT owner FROM locks WHERE path IN (?, ?, ?, ?) FOR UPDATE`),
				key(0), key(1), key(2), key(3)); err != nil {
				t.Fatal(err)
			}
			var (
				mu  sync.Mutex
				out = map[string]outcome{}
				wg  sync.WaitGroup
			)
			renew := func(ctx context.Context, i int) {
				wg.Go(func() {
					res, err := st.Lock(ctx, lock(i))
					mu.Lock()
					out[key(i)] = outcome{res, err}
					mu.Unlock()
				})
			}
			for i := range renewalStatements {
				renew(ctx, i)
			}
			waitFor(t, "every renewal statement waiting for a row lock", func() bool {
				return st.stats.inFlight.Load() == renewalStatements
			})
			giveUp, stop := context.WithCancel(ctx)
			defer stop()
			for i := renewalStatements; i < keys; i++ {
				if i == gaveUp {
					// As the server calls: the database context is not
					// cancelled with the request; the caller's is carried.
					renew(WithCaller(ctx, giveUp), i)
				} else {
					renew(ctx, i)
				}
			}
			waitFor(t, "the other renewals queued", func() bool {
				st.renewals.mu.Lock()
				defer st.renewals.mu.Unlock()
				n := 0
				for _, b := range st.renewals.queue {
					n += len(b.items)
				}
				return n == keys-renewalStatements
			})
			stop()
			before := st.stats.total.Load()
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			t.Logf("%d renewals in %d round trips", keys, st.stats.total.Load()-before)
			return out
		}

		t.Run("batched", func(t *testing.T) {
			before := st.stats.total.Load()
			was := indexes()
			const gaveUp = keys - 1
			out := round(t, gaveUp)
			for i := range keys {
				k, o := key(i), out[key(i)]
				if i == gaveUp {
					if !errors.Is(o.err, ErrAbandoned) || !errors.Is(o.err, context.Canceled) {
						t.Errorf("%s, whose caller gave up while queued: %v, want ErrAbandoned (context canceled)", k, o.err)
					}
					continue
				}
				if o.err != nil || o.res.Acquired || o.res.FencingToken != tokens[k] {
					t.Errorf("%s: %+v, %v; want renewed with token %d", k, o.res, o.err, tokens[k])
				}
			}
			now := indexes()
			for i := range keys {
				k, want := key(i), was[key(i)]+1
				if i == gaveUp {
					want-- // never written
				}
				if now[k] != want {
					t.Errorf("%s: modified_index %d, want %d (written once)", k, now[k], want)
				}
			}
			// Four alone, then 32 and the last 4 (one given up) in two
			// statements.
			if n := st.stats.total.Load() - before; n != renewalStatements+2 {
				t.Errorf("%d round trips for %d renewals, want %d", n, keys, renewalStatements+2)
			}
		})

		t.Run("stale hints", func(t *testing.T) {
			if _, err := st.Lock(ctx, lock(keys-1)); err != nil { // given up above
				t.Fatal(err)
			}
			// Behind the store's back: one key taken by another owner, one
			// released, one re-acquired by the same owner (a new token).
			for _, q := range []struct {
				sql string
				key string
			}{
				{`UPDATE locks SET owner = 'other' WHERE path = ?`, key(5)},
				{`DELETE FROM locks WHERE path = ?`, key(6)},
				{`UPDATE locks SET fencing_token = fencing_token + 100 WHERE path = ?`, key(7)},
			} {
				if _, err := admin.ExecContext(ctx, db.Rebind(q.sql), q.key); err != nil {
					t.Fatal(err)
				}
			}
			out := round(t, -1)
			for i := range keys {
				k, o := key(i), out[key(i)]
				switch i {
				case 5:
					if !errors.Is(o.err, ErrCollision) {
						t.Errorf("%s, taken by another owner: %+v, %v; want a collision", k, o.res, o.err)
					}
				case 6:
					if o.err != nil || !o.res.Acquired || o.res.FencingToken <= tokens[k] {
						t.Errorf("%s, released: %+v, %v; want acquired with a new token", k, o.res, o.err)
					}
				case 7:
					if o.err != nil || o.res.Acquired || o.res.FencingToken != tokens[k]+100 {
						t.Errorf("%s, re-acquired elsewhere: %+v, %v; want renewed with token %d", k, o.res, o.err, tokens[k]+100)
					}
				default:
					if o.err != nil || o.res.Acquired || o.res.FencingToken != tokens[k] {
						t.Errorf("%s: %+v, %v; want renewed with token %d", k, o.res, o.err, tokens[k])
					}
				}
			}
		})
	})
}

// TestStalledRenewals: renewal statements waiting for rows someone holds do
// not hold up the renewals of other keys.
func TestStalledRenewals(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite has one writer: nothing to hold a row lock with")
		}
		st, db, ctx := newInternalStore(t, driver, 16)
		lock := func(i int) Lock { return Lock{Key: fmt.Sprintf("k%d", i), Owner: "o", Type: "lock", TTL: 15} }
		for i := range 10 {
			if _, err := st.Lock(ctx, lock(i)); err != nil {
				t.Fatal(err)
			}
		}
		admin := db.Admin(t)
		defer admin.Close()
		tx, err := admin.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		held := make([]any, renewalStatements)
		for i := range held {
			held[i] = lock(i).Key
		}
		if _, err := tx.ExecContext(ctx, db.Rebind(`SELECT owner FROM locks WHERE path IN (?`+
			strings.Repeat(", ?", len(held)-1)+`) FOR UPDATE`), held...); err != nil {
			t.Fatal(err)
		}
		stuck := make(chan error, len(held))
		for i := range held {
			go func() {
				_, err := st.Lock(ctx, lock(i))
				stuck <- err
			}()
		}
		waitFor(t, "every renewal statement waiting for a row lock", func() bool {
			return st.stats.inFlight.Load() == renewalStatements
		})
		// Every slot is taken by a statement that waits until the
		// transaction ends; the other keys' renewals go ahead anyway.
		others, stop := context.WithTimeout(ctx, 10*time.Second)
		defer stop()
		var wg sync.WaitGroup
		for i := len(held); i < 10; i++ {
			wg.Go(func() {
				if _, err := st.Lock(others, lock(i)); err != nil {
					t.Errorf("renewal of %s while other rows are held: %v", lock(i).Key, err)
				}
			})
		}
		wg.Wait()
		if len(stuck) != 0 {
			t.Fatalf("a renewal of a held row finished while it was held: %v", <-stuck)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for range held {
			if err := <-stuck; err != nil {
				t.Errorf("renewal of a held row, after the hold: %v", err)
			}
		}
	})
}

// TestBatchedRenewalRefused: a renewal the database refuses (a value longer
// than the column) fails alone; the others in its batch are renewed.
func TestBatchedRenewalRefused(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		if driver == "sqlite" {
			t.Skip("SQLite stores any length (the server refuses overlong fields before the store)")
		}
		st, _, ctx := newInternalStore(t, driver, 0)
		var rs []*renewal
		for i := range 3 {
			l := Lock{Key: fmt.Sprintf("k%d", i), Owner: "o", Type: "lock", TTL: 15}
			res, err := st.Lock(ctx, l)
			if err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				l.Value = strings.Repeat("v", 70000) // over every database's column
			}
			rs = append(rs, &renewal{ctx: ctx, l: l, token: res.FencingToken})
		}
		st.writeRenewals(rs)
		for i, r := range rs {
			res, renewed, err := r.outcome(ctx, st)
			if i == 1 {
				if err == nil {
					t.Errorf("the overlong value was written: %+v, %v", res, renewed)
				}
				continue
			}
			if err != nil || !renewed || res.FencingToken != r.token {
				t.Errorf("%s: %+v, renewed %v, %v; want renewed with token %d", r.l.Key, res, renewed, err, r.token)
			}
		}
	})
}

// newInternalStore opens a migrated store on a fresh database of driver,
// closed when the test ends, and a context for the test's calls.
func newInternalStore(t testing.TB, driver string, maxOpenConns int) (*Store, testenv.Database, context.Context) {
	t.Helper()
	db := testenv.NewDatabase(t, driver)
	st, err := Open(Config{Driver: driver, DSN: db.DSN, MaxOpenConns: maxOpenConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st, db, ctx
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkRenewalStatements: store renewals per second, 64 callers each
// renewing its own key on 32 connections, with 1, 2, 4 and 8 renewal
// statements allowed at once, and without batching (every renewal its own
// statement, as before batching).
//
//	go test -run '^$' -bench BenchmarkRenewalStatements ./store
func BenchmarkRenewalStatements(b *testing.B) {
	for _, driver := range []string{"mysql", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			st, _, _ := newInternalStore(b, driver, 32)
			ctx := context.Background()
			const callers = 64
			for i := range callers {
				if _, err := st.Lock(ctx, Lock{Key: fmt.Sprintf("cell-%d", i), Owner: "o", Value: `{"cell_id":"x"}`, Type: "presence", TTL: 15}); err != nil {
					b.Fatal(err)
				}
			}
			for _, slots := range []int{1, 2, 4, 8, 0} {
				name := fmt.Sprintf("statements=%d", slots)
				if slots == 0 {
					name, slots = "unbatched", callers // never a queue
				}
				b.Run(name, func(b *testing.B) {
					st.renewals.slots = slots
					var next atomic.Int64
					b.SetParallelism((callers + 1) / 2)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						l := Lock{Key: fmt.Sprintf("cell-%d", next.Add(1)%callers), Owner: "o", Value: `{"cell_id":"x"}`, Type: "presence", TTL: 15}
						for pb.Next() {
							if _, err := st.Lock(ctx, l); err != nil {
								b.Error(err)
								return
							}
						}
					})
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renewals/s")
				})
			}
		})
	}
}
