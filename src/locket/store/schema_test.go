package store_test

import (
	"sync"
	"testing"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

// upstreamCreate is upstream Locket v1.5.0's statement (db/queries.go).
const upstreamCreate = `
		CREATE TABLE IF NOT EXISTS locks (
			path VARCHAR(255) PRIMARY KEY,
			owner VARCHAR(255),
			value VARCHAR(4096),
			type VARCHAR(255) DEFAULT '',
			modified_index BIGINT DEFAULT 0,
			modified_id varchar(255) DEFAULT '',
			ttl BIGINT DEFAULT 0
		);
	`

func TestMigrateOnUpstreamTable(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		admin := db.Admin(t)
		defer admin.Close()
		if _, err := admin.Exec(upstreamCreate); err != nil {
			t.Fatal(err)
		}
		// A lock an upstream server holds.
		if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), "bbs", "up-owner", "", "lock", 42, "up-guid", 15); err != nil {
			t.Fatal(err)
		}
		st := openStore(t, db) // migrates
		if err := st.Migrate(ctx(t)); err != nil {
			t.Fatalf("second migration: %v", err)
		}
		l, err := st.Fetch(ctx(t), "bbs")
		if err != nil || l.Owner != "up-owner" || l.ModifiedIndex != 42 || l.ModifiedID != "up-guid" {
			t.Fatalf("upstream row after migration: %+v, %v", l, err)
		}
		// Our renewal of upstream's row keeps its identity and bumps its index.
		res, err := st.Lock(ctx(t), store.Lock{Key: "bbs", Owner: "up-owner", Type: "lock", TTL: 15})
		// MySQL's one-statement renewal returns the fencing token instead of
		// the index. An upstream row has no token: the first renewal through
		// us assigns one.
		if err != nil || res.Acquired || (db.Driver != "mysql" && res.ModifiedIndex != 43) || res.FencingToken != 1 {
			t.Fatalf("renew upstream row: %+v, %v", res, err)
		}
		if l, err := st.Fetch(ctx(t), "bbs"); err != nil || l.ModifiedIndex != 43 || l.FencingToken != 1 {
			t.Fatalf("upstream row after our renewal: %+v, %v", l, err)
		}
		// Upstream's own statements still work on the migrated table.
		if _, err := admin.Exec(db.Rebind(`INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), "cell", "rep", "{}", "presence", 1, "g2", 15); err != nil {
			t.Fatalf("upstream insert on migrated table: %v", err)
		}
		if _, err := admin.Exec(db.Rebind(`UPDATE locks SET owner = ?, value = ?, type = ?, modified_index = ?, modified_id = ?, ttl = ?
			WHERE path = ?`), "rep", "{}", "presence", 2, "g2", 15, "cell"); err != nil {
			t.Fatalf("upstream update on migrated table: %v", err)
		}
		assertSchema(t, db)
	})
}

// assertSchema checks upstream's columns kept their types and defaults and
// ours are there.
func assertSchema(t *testing.T, db testenv.Database) {
	t.Helper()
	admin := db.Admin(t)
	defer admin.Close()
	var q string
	switch db.Driver {
	case "mysql":
		q = `SELECT COLUMN_NAME, COLUMN_TYPE, COALESCE(COLUMN_DEFAULT, 'NULL') FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'locks'`
	case "postgres":
		q = `SELECT column_name, data_type || COALESCE('(' || character_maximum_length || ')', ''), COALESCE(column_default, 'NULL')
			FROM information_schema.columns WHERE table_name = 'locks' AND table_schema = current_schema()`
	default:
		q = `SELECT name, type, COALESCE(dflt_value, 'NULL') FROM pragma_table_info('locks')`
	}
	rows, err := admin.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, typ, def string
		if err := rows.Scan(&name, &typ, &def); err != nil {
			t.Fatal(err)
		}
		got[name] = typ + " default " + def
	}
	want := map[string]map[string]string{
		"mysql": {
			"path": "varchar(255) default NULL", "owner": "varchar(255) default NULL", "value": "varchar(4096) default NULL",
			"type": "varchar(255) default ''", "modified_index": "bigint(20) default 0", "modified_id": "varchar(255) default ''",
			"ttl": "bigint(20) default 0", "expires_at": "bigint(20) default NULL", "expires_index": "bigint(20) default NULL", "sweep_at": "bigint(20) default NULL",
			"fencing_token": "bigint(20) default NULL", "acquired_by": "varchar(255) default NULL", "acquired_at": "bigint(20) default NULL",
		},
		"postgres": {
			"path": "character varying(255) default NULL", "owner": "character varying(255) default NULL",
			"value": "character varying(4096) default NULL", "type": "character varying(255) default ''::character varying",
			"modified_index": "bigint default 0", "modified_id": "character varying(255) default ''::character varying",
			"ttl": "bigint default 0", "expires_at": "bigint default NULL", "expires_index": "bigint default NULL", "sweep_at": "bigint default NULL",
			"fencing_token": "bigint default NULL", "acquired_by": "character varying(255) default NULL", "acquired_at": "bigint default NULL",
		},
		"sqlite": {
			"path": "VARCHAR(255) default NULL", "owner": "VARCHAR(255) default NULL", "value": "VARCHAR(4096) default NULL",
			"type": "VARCHAR(255) default ''", "modified_index": "BIGINT default 0", "modified_id": "varchar(255) default ''",
			"ttl": "BIGINT default 0", "expires_at": "BIGINT default NULL", "expires_index": "BIGINT default NULL", "sweep_at": "BIGINT default NULL",
			"fencing_token": "BIGINT default NULL", "acquired_by": "VARCHAR(255) default NULL", "acquired_at": "BIGINT default NULL",
		},
	}[db.Driver]
	if len(got) != len(want) {
		t.Errorf("columns %v, want %v", got, want)
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("column %s: %q, want %q", c, got[c], w)
		}
	}
	idx := map[string]string{
		"mysql": `SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()
			AND TABLE_NAME = 'locks' AND INDEX_NAME = 'locks_sweep_at' AND COLUMN_NAME = 'sweep_at'`,
		"postgres": `SELECT COUNT(*) FROM pg_indexes WHERE tablename = 'locks' AND indexname = 'locks_sweep_at'`,
		"sqlite":   `SELECT COUNT(*) FROM pragma_index_list('locks') WHERE name = 'locks_sweep_at'`,
	}[db.Driver]
	var n int
	if err := admin.QueryRow(idx).Scan(&n); err != nil || n != 1 {
		t.Errorf("index locks_sweep_at: %d, %v", n, err)
	}
	var servers int
	if err := admin.QueryRow(`SELECT COUNT(*) FROM locket_servers`).Scan(&servers); err != nil {
		t.Errorf("table locket_servers: %v", err)
	}
}

// TestMigrateConcurrently: several servers starting at once on an empty
// database all migrate successfully.
func TestMigrateConcurrently(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		const n = 6
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, err := store.Open(store.Config{Driver: db.Driver, DSN: db.DSN})
				if err != nil {
					t.Error(err)
					return
				}
				defer st.Close()
				if err := st.Migrate(ctx(t)); err != nil {
					t.Errorf("migration %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		assertSchema(t, db)
		st := openStore(t, db)
		mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 5})
	})
}
