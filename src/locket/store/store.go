// Package store keeps locks and presences in the `locks` table shared with
// upstream Locket servers, on MySQL/MariaDB, Postgres or SQLite.
//
// See docs/architecture.md ("Storage design") for the schema additions, the
// one-statement renewal and how expiry uses the database clock.
package store

import (
	"errors"
	"time"
)

// Sentinel errors. Anything else a method returns is a context error or a
// wrapped database error (which the server reports as Unavailable).
var (
	ErrCollision = errors.New("lock-collision")
	ErrNotFound  = errors.New("resource-not-found")
)

// Limits of the upstream `locks` columns, in characters.
const (
	MaxKeyLength   = 255
	MaxOwnerLength = 255
	MaxValueLength = 4096
)

// MaxTTL is the largest TTL (seconds) Lock accepts: deadlines are
// microseconds in a BIGINT, and no lock needs to outlive decades.
const MaxTTL = 1 << 31

// Lock is one row of the locks table.
type Lock struct {
	Key           string
	Owner         string
	Value         string
	Type          string // "lock" or "presence"
	TTL           int64  // seconds
	ModifiedIndex int64
	ModifiedID    string
}

// LockResult says what a successful Lock did.
type LockResult struct {
	// Acquired is true when the call created the row (first acquisition, or
	// take-over after release/expiry) rather than renewing it.
	Acquired      bool
	ModifiedIndex int64
}

// Config says how to reach the database.
type Config struct {
	Driver                     string // "mysql", "postgres" or "sqlite"
	DSN                        string // never logged: it may hold a password
	CACertFile                 string // enables TLS to the database when set
	EnableIdentityVerification bool
	MaxOpenConns               int // also the idle pool size; 0: unlimited open, 100 idle
	MaxConnLifetime            time.Duration
	ConnectTimeout             time.Duration // both drivers; default 5s
	ReadTimeout                time.Duration // MySQL only (pgx has none; callers' contexts bound every call)
	WriteTimeout               time.Duration // MySQL only
}
