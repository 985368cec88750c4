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
	// ErrForbidden: a release by another client identity than the one that
	// acquired the lock (only when the caller passes an identity to check).
	ErrForbidden = errors.New("permission-denied: the lock was acquired by another client identity")
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

	// Ours (docs/features.md). Read back by Fetch, FetchAll, Release, Sweep.
	FencingToken int64  // 0: none assigned (a row an upstream server wrote)
	AcquiredAt   int64  // µs since the epoch, database clock; 0: unknown
	AcquiredBy   string // the acquirer's client identity; "" when none
	ExpiresIn    int64  // µs until expiry when read (database clock)

	// Written with Lock only: the caller's client identity (stored as
	// AcquiredBy on acquisition; when both are set, a renewal by another
	// identity is a collision) and the request id, recorded in history.
	Identity     string
	BindIdentity bool // store Identity as the acquirer (authorization on)
	RequestID    string
}

// LockResult says what a successful Lock did.
type LockResult struct {
	// Acquired is true when the call created the row (first acquisition, or
	// take-over after release/expiry) rather than renewing it.
	Acquired bool
	// ModifiedIndex is the new modified_index (0 on a MySQL renewal, where
	// the one-round-trip statement returns the fencing token instead).
	ModifiedIndex int64
	// FencingToken of the holding: assigned on acquisition from the per-key
	// sequence locket_fences, returned on renewals too.
	FencingToken int64
	// PreviousOwner is the key's previous holder (acquisitions only).
	PreviousOwner string
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
	// ServerName is recorded in history as the server that handled a change.
	ServerName string
	// ObserveQuery, when set, gets each round trip's duration as it ends
	// (a wait for a pooled connection included), for a histogram.
	ObserveQuery func(time.Duration)
}
