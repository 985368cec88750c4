package store_test

import (
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// TestKilledIdleConnection: an idle connection the database closed (a
// restart, a wait_timeout, an operator's KILL) is noticed before it is
// reused, so the next call succeeds on a new connection instead of failing.
func TestKilledIdleConnection(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		kill := map[string]string{
			"mysql": `SELECT id FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()`,
			"postgres": `SELECT pid FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
		}[driver]
		if kill == "" {
			t.Skip("SQLite has no server to close a connection")
		}
		db := testenv.NewDatabase(t, driver)
		st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN, MaxOpenConns: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if err := st.Migrate(ctx(t)); err != nil {
			t.Fatal(err)
		}
		mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 15})

		admin := db.Admin(t)
		defer admin.Close()
		var id int64
		if err := admin.QueryRowContext(ctx(t), kill).Scan(&id); err != nil {
			t.Fatalf("the store's connection: %v", err)
		}
		stmt := map[string]string{"mysql": `KILL ?`, "postgres": `SELECT pg_terminate_backend($1)`}[driver]
		if _, err := admin.ExecContext(ctx(t), stmt, id); err != nil {
			t.Fatal(err)
		}
		// Wait until the database has closed it.
		for deadline := time.Now().Add(10 * time.Second); ; {
			var n int
			if err := admin.QueryRowContext(ctx(t), `SELECT COUNT(*) FROM (`+kill+`) c`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the killed connection is still there")
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(1100 * time.Millisecond) // pgx checks an idle connection once it has idled a second
		if _, err := st.Lock(ctx(t), store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 15}); err != nil {
			t.Fatalf("renewal on a connection the database closed: %v", err)
		}
	})
}
