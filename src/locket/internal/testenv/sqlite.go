package testenv

import (
	"database/sql"
	"testing"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"
)

func openSQLite(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("testenv: open sqlite: %v", err)
	}
	return db
}
