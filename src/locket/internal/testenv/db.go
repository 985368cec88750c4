// Package testenv gives tests the real things they talk to: a fresh database
// of their own on MariaDB, Postgres or SQLite, and certificates.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Environment variables that point the tests at the database servers. The
// defaults match what scripts/test starts.
const (
	envDrivers  = "LOCKET_TEST_DRIVERS"   // comma-separated; default "mysql,postgres,sqlite"
	envMySQL    = "LOCKET_TEST_MYSQL_DSN" // admin DSN without a database name
	envPostgres = "LOCKET_TEST_POSTGRES_URL"

	defaultMySQL    = "root@tcp(127.0.0.1:3306)/"
	defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
)

// Database is a database created for one test and dropped when it ends.
type Database struct {
	Driver string // "mysql", "postgres" or "sqlite", as in the server config
	DSN    string // what goes into database_connection_string
	Name   string // database name (file path for sqlite)
}

// Drivers lists the database drivers the suite runs against.
func Drivers() []string {
	v := os.Getenv(envDrivers)
	if v == "" {
		return []string{"mysql", "postgres", "sqlite"}
	}
	var ds []string
	for _, d := range strings.Split(v, ",") {
		if d = strings.TrimSpace(d); d != "" {
			ds = append(ds, d)
		}
	}
	return ds
}

// ForEachDriver runs f as a subtest per driver.
func ForEachDriver(t *testing.T, f func(t *testing.T, driver string)) {
	t.Helper()
	for _, d := range Drivers() {
		t.Run(d, func(t *testing.T) { f(t, d) })
	}
}

// NewDatabase creates an empty database of its own for the test.
func NewDatabase(t testing.TB, driver string) Database {
	t.Helper()
	name := "locket_test_" + randomHex(t, 6)
	switch driver {
	case "mysql":
		return newMySQL(t, name)
	case "postgres":
		return newPostgres(t, name)
	case "sqlite":
		path := filepath.Join(t.TempDir(), name+".db")
		return Database{Driver: "sqlite", DSN: path, Name: path}
	}
	t.Fatalf("testenv: unknown driver %q", driver)
	return Database{}
}

func newMySQL(t testing.TB, name string) Database {
	admin := getenv(envMySQL, defaultMySQL)
	db := openAdmin(t, "mysql", admin)
	exec(t, db, "CREATE DATABASE `"+name+"`")
	t.Cleanup(func() { exec(t, db, "DROP DATABASE IF EXISTS `"+name+"`"); db.Close() })

	cfg, err := mysql.ParseDSN(admin)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", envMySQL, err)
	}
	cfg.DBName = name
	return Database{Driver: "mysql", DSN: cfg.FormatDSN(), Name: name}
}

func newPostgres(t testing.TB, name string) Database {
	admin := getenv(envPostgres, defaultPostgres)
	db := openAdmin(t, "pgx", admin)
	exec(t, db, `CREATE DATABASE "`+name+`"`)
	t.Cleanup(func() {
		exec(t, db, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
		db.Close()
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", envPostgres, err)
	}
	u.Path = "/" + name
	return Database{Driver: "postgres", DSN: u.String(), Name: name}
}

// Admin opens a connection to the test database for assertions on the table
// itself (what an operator would see with mysql/psql).
func (d Database) Admin(t testing.TB) *sql.DB {
	t.Helper()
	switch d.Driver {
	case "mysql":
		return openAdmin(t, "mysql", d.DSN)
	case "postgres":
		return openAdmin(t, "pgx", d.DSN)
	case "sqlite":
		return openSQLite(t, d.DSN)
	}
	t.Fatalf("testenv: unknown driver %q", d.Driver)
	return nil
}

// Rebind turns ? placeholders into $1, $2... for Postgres.
func (d Database) Rebind(q string) string {
	if d.Driver != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func openAdmin(t testing.TB, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testenv: open %s: %v", driver, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("testenv: %s is not reachable (scripts/test starts it): %v", driver, err)
	}
	return db
}

func exec(t testing.TB, db *sql.DB, q string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q); err != nil {
		t.Errorf("testenv: %s: %v", q, err)
	}
}

func getenv(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func randomHex(t testing.TB, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
