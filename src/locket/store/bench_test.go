package store_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// benchCallers is the number of concurrent callers (many reps and a few
// BBS/auctioneer instances renewing at once); they share benchConns pooled
// connections (a shared test Postgres allows 100 in all).
const (
	benchCallers = 64
	benchConns   = 32
)

// BenchmarkRenewal measures Lock renewals (each caller renews its own key)
// per second through the store.
//
//	go test -run '^$' -bench . ./store
func BenchmarkRenewal(b *testing.B) {
	for _, driver := range testenv.Drivers() {
		b.Run(driver, func(b *testing.B) {
			db := testenv.NewDatabase(b, driver)
			st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN, MaxOpenConns: benchConns})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if err := st.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			parallel(b, func() (func() error, error) {
				l := store.Lock{Key: fmt.Sprintf("cell-%d", next.Add(1)), Owner: "o", Value: `{"cell_id":"x"}`, Type: "presence", TTL: 15}
				_, err := st.Lock(context.Background(), l)
				return func() error {
					_, err := st.Lock(context.Background(), l)
					return err
				}, err
			})
		})
	}
}

// BenchmarkBareUpdate is the ceiling the database itself sets: a prepared
// one-row conditional UPDATE at the same concurrency, no store around it.
func BenchmarkBareUpdate(b *testing.B) {
	for _, driver := range testenv.Drivers() {
		b.Run(driver, func(b *testing.B) {
			db := testenv.NewDatabase(b, driver)
			st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN})
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Migrate(context.Background()); err != nil {
				b.Fatal(err)
			}
			st.Close()
			admin := db.Admin(b)
			defer admin.Close()
			if driver == "sqlite" {
				admin.SetMaxOpenConns(1) // as the store does
			} else {
				admin.SetMaxOpenConns(benchConns)
				admin.SetMaxIdleConns(benchConns)
			}
			update, err := admin.Prepare(db.Rebind(`UPDATE locks SET modified_index = modified_index + 1 WHERE path = ? AND owner = ?`))
			if err != nil {
				b.Fatal(err)
			}
			defer update.Close()
			var next atomic.Int64
			parallel(b, func() (func() error, error) {
				key := fmt.Sprintf("cell-%d", next.Add(1))
				_, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
					VALUES (?, 'o', '', 'presence', 1, 'g', 15)`), key)
				return func() error {
					_, err := update.Exec(key, "o")
					return err
				}, err
			})
		})
	}
}

// parallel runs benchCallers goroutines; setup runs once in each and returns
// its operation. It reports operations per second.
func parallel(b *testing.B, setup func() (func() error, error)) {
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((benchCallers + procs - 1) / procs)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		op, err := setup()
		if err != nil {
			b.Error(err)
			return
		}
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkDeadlineIndex is why renewals leave the indexed sweep_at alone:
// the same one-row renewal UPDATE, once moving only the unindexed
// expires_at (what a renewal does) and once also moving the indexed
// sweep_at (what it did when the deadline itself was indexed).
//
//	go test -run '^$' -bench BenchmarkDeadlineIndex ./store
func BenchmarkDeadlineIndex(b *testing.B) {
	for _, driver := range []string{"mysql", "postgres"} {
		b.Run(driver, func(b *testing.B) {
			st, db := newStore(b, driver)
			var keys atomic.Int64
			for i := range benchCallers {
				l := store.Lock{Key: fmt.Sprintf("cell-%d", i+1), Owner: "o", Value: `{"cell_id":"x"}`, Type: "presence", TTL: 15}
				if _, err := st.Lock(context.Background(), l); err != nil {
					b.Fatal(err)
				}
			}
			admin := db.Admin(b)
			defer admin.Close()
			admin.SetMaxOpenConns(benchConns)
			admin.SetMaxIdleConns(benchConns)
			for _, v := range []struct{ name, set string }{
				{"expires_at", "expires_at = expires_at + 1"},
				{"expires_at+sweep_at", "expires_at = expires_at + 1, sweep_at = sweep_at + 1"},
			} {
				b.Run(v.name, func(b *testing.B) {
					update, err := admin.Prepare(db.Rebind(`UPDATE locks SET ` + v.set +
						`, modified_index = modified_index + 1, value = ? WHERE path = ? AND owner = ?`))
					if err != nil {
						b.Fatal(err)
					}
					defer update.Close()
					parallel(b, func() (func() error, error) {
						key := fmt.Sprintf("cell-%d", keys.Add(1)%benchCallers+1)
						return func() error {
							_, err := update.Exec(`{"cell_id":"x"}`, key, "o")
							return err
						}, nil
					})
				})
			}
		})
	}
}
