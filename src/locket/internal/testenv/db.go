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
	if driver == "sqlite" {
		path := filepath.Join(t.TempDir(), "locket_test_"+randomHex(t, 6)+".db")
		return Database{Driver: "sqlite", DSN: path, Name: path}
	}
	db, drop, err := CreateDatabase(context.Background(), driver, "locket_test_")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("%v", err)
		}
	})
	return db
}

// CreateDatabase creates an empty MySQL or Postgres database named prefix
// plus random hex, for callers outside tests (the benchmarks); drop removes
// it.
func CreateDatabase(ctx context.Context, driver, prefix string) (db Database, drop func() error, err error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return Database{}, nil, fmt.Errorf("testenv: %w", err)
	}
	name := prefix + hex.EncodeToString(b)
	var admin, sqlDriver, create, dropStmt string
	switch driver {
	case "mysql":
		admin, sqlDriver = getenv(envMySQL, defaultMySQL), "mysql"
		create, dropStmt = "CREATE DATABASE `"+name+"`", "DROP DATABASE IF EXISTS `"+name+"`"
		cfg, err := mysql.ParseDSN(admin)
		if err != nil {
			return Database{}, nil, fmt.Errorf("testenv: parse %s: %w", envMySQL, err)
		}
		cfg.DBName = name
		db = Database{Driver: "mysql", DSN: cfg.FormatDSN(), Name: name}
	case "postgres":
		admin, sqlDriver = getenv(envPostgres, defaultPostgres), "pgx"
		create, dropStmt = `CREATE DATABASE "`+name+`"`, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`
		u, err := url.Parse(admin)
		if err != nil {
			return Database{}, nil, fmt.Errorf("testenv: parse %s: %w", envPostgres, err)
		}
		u.Path = "/" + name
		db = Database{Driver: "postgres", DSN: u.String(), Name: name}
	default:
		return Database{}, nil, fmt.Errorf("testenv: unknown driver %q", driver)
	}
	if err := adminExec(ctx, sqlDriver, admin, create); err != nil {
		return Database{}, nil, err
	}
	drop = func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return adminExec(ctx, sqlDriver, admin, dropStmt)
	}
	return db, drop, nil
}

// adminExec runs one statement on a fresh admin connection.
func adminExec(ctx context.Context, driver, dsn, q string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return fmt.Errorf("testenv: open %s: %w", driver, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("testenv: %s is not reachable (scripts/test starts it): %w", driver, err)
	}
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("testenv: %s: %w", q, err)
	}
	return nil
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
