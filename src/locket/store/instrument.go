package store

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Stats are the database figures upstream Locket reports as metrics, under
// its names.
type Stats struct {
	OpenConnections int           // sql.DBStats
	WaitCount       int64         // sql.DBStats: waits for a free connection
	WaitDuration    time.Duration // sql.DBStats: total time waited
	// Round trips to the database, counted as they end (in flight: now).
	QueriesTotal     int64
	QueriesSucceeded int64
	QueriesFailed    int64
	QueriesInFlight  int64
	// The longest round trip since the previous call to Stats.
	QueryDurationMax time.Duration
}

// Stats returns the pool's and the queries' figures and starts a new
// QueryDurationMax period.
func (s *Store) Stats() Stats {
	db := s.db.Stats()
	return Stats{
		OpenConnections:  db.OpenConnections,
		WaitCount:        db.WaitCount,
		WaitDuration:     db.WaitDuration,
		QueriesTotal:     s.stats.total.Load(),
		QueriesSucceeded: s.stats.succeeded.Load(),
		QueriesFailed:    s.stats.failed.Load(),
		QueriesInFlight:  s.stats.inFlight.Load(),
		QueryDurationMax: time.Duration(s.stats.maxNanos.Swap(0)),
	}
}

type queryStats struct {
	total, succeeded, failed, inFlight, maxNanos atomic.Int64
	observe                                      func(time.Duration) // Config.ObserveQuery
}

// begin counts a round trip in flight; the returned func ends it.
func (q *queryStats) begin() func(error) {
	q.inFlight.Add(1)
	start := time.Now()
	return func(err error) {
		elapsed := time.Since(start)
		d := int64(elapsed)
		if q.observe != nil {
			q.observe(elapsed)
		}
		q.inFlight.Add(-1)
		q.total.Add(1)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			q.failed.Add(1)
		} else {
			q.succeeded.Add(1)
		}
		for {
			m := q.maxNanos.Load()
			if d <= m || q.maxNanos.CompareAndSwap(m, d) {
				break
			}
		}
	}
}

// exec runs one statement, counted.
func (s *Store) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	done := s.stats.begin()
	r, err := func() (sql.Result, error) {
		st, err := s.prepared.stmt(ctx, s.db, q)
		switch {
		case err != nil:
			return nil, err
		case st != nil:
			return st.ExecContext(ctx, args...)
		}
		return s.db.ExecContext(ctx, q, args...)
	}()
	done(err)
	return r, err
}

// queryRow runs a one-row query and scans it, counted.
func (s *Store) queryRow(ctx context.Context, q string, args []any, dest ...any) error {
	done := s.stats.begin()
	err := func() error {
		st, err := s.prepared.stmt(ctx, s.db, q)
		switch {
		case err != nil:
			return err
		case st != nil:
			return st.QueryRowContext(ctx, args...).Scan(dest...)
		}
		return s.db.QueryRowContext(ctx, q, args...).Scan(dest...)
	}()
	done(err)
	return err
}

// query runs a query and calls scan for each row, counted.
func (s *Store) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	done := s.stats.begin()
	err := func() error {
		rows, err := s.db.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}()
	done(err)
	return err
}

// Retries of transactions the database aborted for reasons that go away.
const (
	retryAttempts = 8
	retryBackoff  = 5 * time.Millisecond
)

// retry runs f again while it fails with a transient error (a deadlock or a
// Galera certification failure, a lock wait timeout), with a small jittered
// backoff, at most retryAttempts times in all.
func retry(ctx context.Context, f func() error) error {
	backoff := retryBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || attempt == retryAttempts || !transient(err) {
			return err
		}
		t := time.NewTimer(backoff/2 + rand.N(backoff))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-callerDone(ctx):
			t.Stop()
			return err
		case <-t.C:
		}
		backoff *= 2
	}
}

func transient(err error) bool {
	if errors.Is(err, errRetryTx) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		// 1213 deadlock (Galera reports certification failures so),
		// 1205 lock wait timeout.
		return me.Number == 1213 || me.Number == 1205
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// serialization_failure, deadlock_detected.
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// duplicateKey tells a unique violation (MySQL 1062, Postgres 23505,
// SQLite's constraint error).
func duplicateKey(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return mysqlErr(err, 1062) || strings.Contains(err.Error(), "UNIQUE constraint failed")
}
