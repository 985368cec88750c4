package store_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// BenchmarkFetchAll reads 10,000 presences (the BBS's FetchAll on every
// convergence and auction), and, for scale, the same rows with a plain
// SELECT of upstream's columns.
func BenchmarkFetchAll(b *testing.B) {
	for _, driver := range testenv.Drivers() {
		b.Run(driver, func(b *testing.B) {
			st, db := newStore(b, driver)
			admin := db.Admin(b)
			defer admin.Close()
			value := `{"cell_id":"x","rep_address":"http://10.0.4.8:1800","zone":"z1","capacity":{"memory_mb":12977,"disk_mb":104349,"containers":249}}`
			for i := 0; i < 10000; i += 500 {
				var rows []string
				var args []any
				for j := i; j < i+500; j++ {
					rows = append(rows, "(?, ?, ?, 'presence', 1, ?, 15, 0)")
					args = append(args, fmt.Sprintf("cell-%05d", j), "owner", value, fmt.Sprintf("id-%d", j))
				}
				if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl, expires_at) VALUES `+strings.Join(rows, ",")), args...); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("store", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					ls, err := st.FetchAll(ctx(b), "presence")
					if err != nil || len(ls) != 10000 {
						b.Fatal(len(ls), err)
					}
				}
			})
			// What the server's FetchAll reads: the driver's bytes, no copies.
			// cpu-ms/op is this process's CPU; db-ms/op the database's.
			b.Run("each", func(b *testing.B) {
				before := processCPU(b)
				dbBefore := testenv.DatabaseCPU()
				for i := 0; i < b.N; i++ {
					n := 0
					err := st.EachLock(ctx(b), "presence", func(store.RawLock) error { n++; return nil })
					if err != nil || n != 10000 {
						b.Fatal(n, err)
					}
				}
				b.ReportMetric(float64((processCPU(b)-before).Microseconds())/1000/float64(b.N), "cpu-ms/op")
				b.ReportMetric(float64((testenv.DatabaseCPU()-dbBefore).Microseconds())/1000/float64(b.N), "db-ms/op")
			})
			b.Run("plain-select", func(b *testing.B) {
				dbBefore := testenv.DatabaseCPU()
				for i := 0; i < b.N; i++ {
					rs, err := admin.Query(db.Rebind(`SELECT path, owner, value, type, modified_index, modified_id, ttl FROM locks WHERE type = ?`), "presence")
					if err != nil {
						b.Fatal(err)
					}
					n := 0
					for rs.Next() {
						var p, o, v, t, id string
						var idx, ttl int64
						if err := rs.Scan(&p, &o, &v, &t, &idx, &id, &ttl); err != nil {
							b.Fatal(err)
						}
						n++
					}
					rs.Close()
					if n != 10000 {
						b.Fatal(n)
					}
				}
				b.ReportMetric(float64((testenv.DatabaseCPU()-dbBefore).Microseconds())/1000/float64(b.N), "db-ms/op")
			})
		})
	}
}

// processCPU is the CPU time this process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
