package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// createLocks is upstream's statement, character for character in its
// columns, types and defaults: operators and upstream servers see the table
// they know.
const createLocks = `CREATE TABLE IF NOT EXISTS locks (
	path VARCHAR(255) PRIMARY KEY,
	owner VARCHAR(255),
	value VARCHAR(4096),
	type VARCHAR(255) DEFAULT '',
	modified_index BIGINT DEFAULT 0,
	modified_id varchar(255) DEFAULT '',
	ttl BIGINT DEFAULT 0
)`

// Our additions (docs/architecture.md, "Storage design"). The columns have
// defaults (NULL) so upstream's INSERTs, which name their columns, still work.
var addedColumns = []struct{ name, def string }{
	{"expires_at", "BIGINT NULL"},
	{"expires_index", "BIGINT NULL"},
	// A lower bound of expires_at, indexed for the sweep (queries.pushSweep).
	{"sweep_at", "BIGINT NULL"},
	// Fencing token, acquirer identity and acquisition time (features.md).
	{"fencing_token", "BIGINT NULL"},
	{"acquired_by", "VARCHAR(255) NULL"},
	{"acquired_at", "BIGINT NULL"},
}

const (
	sweepIndex = "locks_sweep_at"
	// oldExpiresIndex indexed expires_at until release 2. Every renewal
	// moves expires_at, so keeping it would cost each renewal an index
	// update; migrations drop it.
	oldExpiresIndex = "locks_expires_at"
	createServers   = `CREATE TABLE IF NOT EXISTS locket_servers (
	id VARCHAR(255) PRIMARY KEY,
	address VARCHAR(255) NOT NULL DEFAULT '',
	heartbeat_at BIGINT NOT NULL
)`
	// The per-key fencing sequence: one row per key ever acquired, never
	// deleted, bumped by one on each acquisition (row conflicts, not
	// auto-increment, order it, so it holds on Galera too). owner is the
	// last acquirer: the "previous owner" of the next acquisition.
	createFences = `CREATE TABLE IF NOT EXISTS locket_fences (
	path VARCHAR(255) PRIMARY KEY,
	token BIGINT NOT NULL,
	owner VARCHAR(255) NOT NULL DEFAULT ''
)`
	// historyColumns follow the id column, which differs per database.
	historyColumns = `at BIGINT NOT NULL,
	event VARCHAR(32) NOT NULL,
	path VARCHAR(255) NOT NULL,
	type VARCHAR(255) NOT NULL DEFAULT '',
	owner VARCHAR(255) NOT NULL DEFAULT '',
	previous_owner VARCHAR(255) NOT NULL DEFAULT '',
	value VARCHAR(4096) NOT NULL DEFAULT '',
	fencing_token BIGINT NOT NULL DEFAULT 0,
	server VARCHAR(255) NOT NULL DEFAULT '',
	request_id VARCHAR(255) NOT NULL DEFAULT '',
	identity VARCHAR(255) NOT NULL DEFAULT ''`
)

// historyTable returns the CREATE statements of locket_history and its
// indexes for a dialect.
func historyTable(dialect string) []string {
	switch dialect {
	case "mysql":
		return []string{`CREATE TABLE IF NOT EXISTS locket_history (
	id BIGINT AUTO_INCREMENT PRIMARY KEY,
	` + historyColumns + `,
	INDEX locket_history_path (path, id),
	INDEX locket_history_at (at)
)`}
	case "postgres":
		return []string{`CREATE TABLE IF NOT EXISTS locket_history (
	id BIGSERIAL PRIMARY KEY,
	` + historyColumns + `
)`, `CREATE INDEX IF NOT EXISTS locket_history_path ON locket_history (path, id)`,
			`CREATE INDEX IF NOT EXISTS locket_history_at ON locket_history (at)`}
	}
	return []string{`CREATE TABLE IF NOT EXISTS locket_history (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	` + historyColumns + `
)`, `CREATE INDEX IF NOT EXISTS locket_history_path ON locket_history (path, id)`,
		`CREATE INDEX IF NOT EXISTS locket_history_at ON locket_history (at)`}
}

// Migrate creates the locks table the way upstream does if it is missing,
// then adds our columns, index and table. It is idempotent, works on a table
// an upstream server created, and is safe when several servers run it at once.
func (s *Store) Migrate(ctx context.Context) error {
	var err error
	switch s.dialect.name {
	case "postgres":
		err = s.migratePostgres(ctx)
	case "mysql":
		err = s.migrateMySQL(ctx)
	default:
		err = s.migrateSQLiteBusy(ctx)
	}
	if err != nil {
		return fmt.Errorf("migrate %s schema: %w", s.dialect.name, err)
	}
	return nil
}

// migratePostgres runs in one transaction (Postgres DDL is transactional)
// under an advisory lock, because concurrent CREATE ... IF NOT EXISTS of the
// same name can fail there with a unique violation in the catalog.
func (s *Store) migratePostgres(ctx context.Context) error {
	done := s.stats.begin()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		stmts := []string{
			`SELECT pg_advisory_xact_lock(7106675, hashtext(current_database()))`,
			createLocks,
		}
		for _, c := range addedColumns {
			stmts = append(stmts, `ALTER TABLE locks ADD COLUMN IF NOT EXISTS `+c.name+` `+c.def)
		}
		stmts = append(stmts,
			`CREATE INDEX IF NOT EXISTS `+sweepIndex+` ON locks (sweep_at)`,
			`DROP INDEX IF EXISTS `+oldExpiresIndex,
			createServers, createFences)
		stmts = append(stmts, historyTable("postgres")...)
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", firstLine(q), err)
			}
		}
		return tx.Commit()
	}()
	done(err)
	return err
}

// migrateMySQL checks information_schema before each ALTER (MySQL 8 has no
// ADD COLUMN IF NOT EXISTS) and takes "already exists" from a server that
// migrated at the same moment as success. DDL is not transactional here.
func (s *Store) migrateMySQL(ctx context.Context) error {
	if _, err := s.exec(ctx, createLocks); err != nil {
		return fmt.Errorf("create table locks: %w", err)
	}
	cols, err := s.columnSet(ctx, `SELECT COLUMN_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'locks'`)
	if err != nil {
		return err
	}
	for _, c := range addedColumns {
		if cols[c.name] {
			continue
		}
		_, err := s.exec(ctx, `ALTER TABLE locks ADD COLUMN `+c.name+` `+c.def)
		if err != nil && !mysqlErr(err, 1060) { // duplicate column name
			return fmt.Errorf("add column %s: %w", c.name, err)
		}
	}
	idx, err := s.columnSet(ctx, `SELECT INDEX_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'locks'`)
	if err != nil {
		return err
	}
	if !idx[sweepIndex] {
		_, err := s.exec(ctx, `CREATE INDEX `+sweepIndex+` ON locks (sweep_at)`)
		if err != nil && !mysqlErr(err, 1061) { // duplicate key name
			return fmt.Errorf("create index %s: %w", sweepIndex, err)
		}
	}
	if idx[oldExpiresIndex] {
		_, err := s.exec(ctx, `DROP INDEX `+oldExpiresIndex+` ON locks`)
		if err != nil && !mysqlErr(err, 1091) { // already dropped
			return fmt.Errorf("drop index %s: %w", oldExpiresIndex, err)
		}
	}
	for _, q := range append([]string{createServers, createFences}, historyTable("mysql")...) {
		if _, err := s.exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

// migrateSQLiteBusy retries migrateSQLite while another process holds the
// file: a connection switching the file to WAL as it opens answers "database
// is locked" at once, without waiting out busy_timeout, when several
// servers start on one new file together.
func (s *Store) migrateSQLiteBusy(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.migrateSQLite(ctx)
		if err == nil || !strings.Contains(err.Error(), "database is locked") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrateSQLite serves one dev server; a concurrent migration still only
// meets "duplicate column name", which counts as success.
func (s *Store) migrateSQLite(ctx context.Context) error {
	if _, err := s.exec(ctx, createLocks); err != nil {
		return fmt.Errorf("create table locks: %w", err)
	}
	cols, err := s.columnSet(ctx, `SELECT name FROM pragma_table_info('locks')`)
	if err != nil {
		return err
	}
	for _, c := range addedColumns {
		if cols[c.name] {
			continue
		}
		_, err := s.exec(ctx, `ALTER TABLE locks ADD COLUMN `+c.name+` `+c.def)
		if err != nil && !strings.Contains(err.Error(), "duplicate column name") {
			return fmt.Errorf("add column %s: %w", c.name, err)
		}
	}
	for _, q := range append([]string{`CREATE INDEX IF NOT EXISTS ` + sweepIndex + ` ON locks (sweep_at)`,
		`DROP INDEX IF EXISTS ` + oldExpiresIndex, createServers, createFences},
		historyTable("sqlite")...) {
		if _, err := s.exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstLine(q), err)
		}
	}
	return nil
}

// columnSet returns the first column of q's rows as a set, lower-cased.
func (s *Store) columnSet(ctx context.Context, q string) (map[string]bool, error) {
	set := map[string]bool{}
	err := s.query(ctx, q, nil, func(r *sql.Rows) error {
		var name string
		if err := r.Scan(&name); err != nil {
			return err
		}
		set[strings.ToLower(name)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read schema: %w", err)
	}
	return set, nil
}

func mysqlErr(err error, number uint16) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == number
}

func firstLine(q string) string {
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		return strings.TrimSpace(q[:i])
	}
	return q
}
