package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// The expiry primitives package expiry composes into each server's loop. All
// times are taken on the database's clock.

// NewestHeartbeat returns how long ago (database clock) any of our servers,
// this one included, last wrote a heartbeat; found is false when none ever did.
func (s *Store) NewestHeartbeat(ctx context.Context) (age time.Duration, found bool, err error) {
	var newest, now int64
	if err := s.queryRow(ctx, s.q.newestHeartbeat, nil, &newest, &now); err != nil {
		return 0, false, fmt.Errorf("read server heartbeats: %w", err)
	}
	if newest == 0 {
		return 0, false, nil
	}
	return time.Duration(now-newest) * time.Microsecond, true, nil
}

// Heartbeat records that server id (listening on address) is serving now.
func (s *Store) Heartbeat(ctx context.Context, id, address string) error {
	if r := []rune(address); len(r) > 255 {
		address = string(r[:255]) // informational only; must not fail the tick
	}
	err := retry(ctx, func() error {
		_, err := s.exec(ctx, s.q.heartbeat, id, address)
		return err
	})
	if err != nil {
		return fmt.Errorf("write heartbeat of server %q: %w", id, err)
	}
	return nil
}

// RemoveServer deletes server id's heartbeat: it stops serving.
func (s *Store) RemoveServer(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, s.q.removeServer, id); err != nil {
		return fmt.Errorf("remove heartbeat of server %q: %w", id, err)
	}
	return nil
}

// PruneServers deletes heartbeats older than age (servers long gone).
func (s *Store) PruneServers(ctx context.Context, age time.Duration) (int64, error) {
	r, err := s.exec(ctx, s.q.pruneServers, age.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("prune server heartbeats: %w", err)
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// GrantGrace gives every lock at least one TTL from now: what owners get
// after a time when no server was serving. It returns how many rows it
// extended.
func (s *Store) GrantGrace(ctx context.Context) (int64, error) {
	var n int64
	err := retry(ctx, func() error {
		r, err := s.exec(ctx, s.q.grace)
		if err != nil {
			return err
		}
		n, err = r.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("grant grace: %w", err)
	}
	return n, nil
}

// adoptBatch is how many rows one adoption statement writes. One statement
// per row took a round trip and a commit each: 10,000 rows written by
// upstream servers (a fleet's presences during a rolling upgrade) took
// 15-30 s, during which the expiry loop did nothing else.
const adoptBatch = 100

// Adopt gives rows last written by an upstream server (modified_index moved
// without our deadline columns) a deadline of one TTL from now, so such a
// renewal counts as a renewal and an abandoned upstream row still expires.
// It returns how many rows it adopted.
func (s *Store) Adopt(ctx context.Context) (int, error) {
	var paths []string
	err := s.query(ctx, s.q.adoptCandidates, nil, func(r *sql.Rows) error {
		var p string
		if err := r.Scan(&p); err != nil {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("find rows to adopt: %w", err)
	}
	adopted := 0
	args := make([]any, adoptBatch)
	for batch := range slices.Chunk(paths, adoptBatch) {
		// One statement text for every batch: a short one repeats its
		// last key, which matches nothing more.
		for i := range args {
			args[i] = batch[min(i, len(batch)-1)]
		}
		var n int64
		err := retry(ctx, func() error {
			r, err := s.exec(ctx, s.q.adopt, args...)
			if err != nil {
				return err
			}
			n, err = r.RowsAffected()
			return err
		})
		if err != nil {
			return adopted, fmt.Errorf("adopt %d rows (%q...): %w", len(batch), batch[0], err)
		}
		adopted += int(n)
	}
	return adopted, nil
}

// Sweep deletes the locks whose deadline has passed and returns them. A row
// renewed between the read and the delete is left alone (its modified_index
// moved), so a renewal always wins over a sweep; of several servers sweeping
// at once, exactly one deletes (and returns) each row.
func (s *Store) Sweep(ctx context.Context) ([]Lock, error) {
	// Rows that came due but were renewed since: their sweep_at moves up
	// to their deadline (see queries.pushSweep). In a transaction, so that
	// MySQL runs it at READ COMMITTED, without gap locks that would hold up
	// acquisitions.
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q.pushSweep)
		return err
	})
	if err != nil && !transient(err) {
		return nil, fmt.Errorf("move sweep times of renewed locks: %w", err)
	}
	var due []Lock
	err = s.query(ctx, s.q.expired, nil, func(r *sql.Rows) error {
		l, err := scanLock(r)
		if err != nil {
			return err
		}
		due = append(due, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find expired locks: %w", err)
	}
	var gone []Lock
	for _, l := range due {
		// The delete and its history row are one transaction.
		var deleted bool
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			r, err := tx.ExecContext(ctx, s.q.deleteExpired, l.Key, l.ModifiedIndex, l.ModifiedID)
			if err != nil {
				return err
			}
			if n, _ := r.RowsAffected(); n == 0 {
				return nil
			}
			deleted = true
			return s.insertEvent(ctx, tx, Event{
				Type: EventExpired, Key: l.Key, LockType: l.Type, Owner: l.Owner, FencingToken: l.FencingToken,
			})
		})
		if err != nil {
			if transient(err) {
				continue // the next sweep sees the row again
			}
			return gone, fmt.Errorf("delete expired lock %q: %w", l.Key, err)
		}
		if deleted {
			s.hints.forget(l.Key, "")
			gone = append(gone, l)
		}
	}
	if len(gone) > 0 {
		s.notify()
	}
	return gone, nil
}
