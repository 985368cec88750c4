package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Ownership events recorded in locket_history (docs/features.md).
const (
	EventAcquired = "acquired"
	// EventTakenOver is an acquisition by another owner than the key's
	// previous holder (however the previous holding ended).
	EventTakenOver = "taken-over"
	EventReleased  = "released"
	EventExpired   = "expired"
)

// Event is one row of locket_history: an ownership change. Renewals are
// not recorded.
type Event struct {
	ID            int64
	At            int64 // µs since the epoch, database clock
	Type          string
	Key           string
	LockType      string // "lock" or "presence"
	Owner         string
	PreviousOwner string
	Value         string // acquisitions only
	FencingToken  int64
	Server        string // the server that handled the change
	RequestID     string
	Identity      string // the client identity that made the change
}

// Time is At as a time.Time.
func (e Event) Time() time.Time { return time.UnixMicro(e.At).UTC() }

// errRetryTx marks a transaction that lost a race it can win on a retry.
var errRetryTx = errors.New("transaction lost a race; retrying")

// inTx runs f in a transaction, counted as one database call.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	done := s.stats.begin()
	err := func() error {
		tx, err := s.db.BeginTx(ctx, s.dialect.txOptions)
		if err != nil {
			return err
		}
		defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
		if err := f(tx); err != nil {
			return err
		}
		return tx.Commit()
	}()
	if errors.Is(err, ErrCollision) || errors.Is(err, ErrForbidden) {
		done(nil)
	} else {
		done(err)
	}
	return err
}

// Changed is signalled (without blocking, coalesced) after each history
// row this Store committed, so that this server's change feed reads it at
// once instead of at its next poll.
func (s *Store) Changed() <-chan struct{} { return s.changed }

func (s *Store) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// clip keeps informational values inside their VARCHAR(255) column.
func clip(v string) string {
	if r := []rune(v); len(r) > 255 {
		return string(r[:255])
	}
	return v
}

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, e Event) error {
	_, err := tx.ExecContext(ctx, s.q.insertEvent, e.Type, e.Key, e.LockType, e.Owner, e.PreviousOwner, e.Value,
		e.FencingToken, clip(s.server), clip(e.RequestID), clip(e.Identity))
	if err != nil {
		return fmt.Errorf("record %s event: %w", e.Type, err)
	}
	return nil
}

// assignToken gives the holding of l.Key by l.Owner the next token of the
// key's fencing sequence and records the acquisition, in one transaction.
// It returns the token and the key's previous holder.
func (s *Store) assignToken(ctx context.Context, l Lock) (token int64, prev string, err error) {
	var assigned bool
	err = retry(ctx, func() error {
		assigned = false
		return s.inTx(ctx, func(tx *sql.Tx) error {
			var cur int64
			var last string
			err := tx.QueryRowContext(ctx, s.q.fenceRead, l.Key).Scan(&cur, &last)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if _, err := tx.ExecContext(ctx, s.q.fenceInsert, l.Key, l.Owner); err != nil {
					if duplicateKey(err) {
						return errRetryTx
					}
					return err
				}
				token, prev = 1, ""
			case err != nil:
				return err
			default:
				r, err := tx.ExecContext(ctx, s.q.fenceUpdate, l.Owner, l.Key, cur)
				if err != nil {
					return err
				}
				if n, err := r.RowsAffected(); err != nil || n != 1 {
					return errRetryTx // another server bumped it between our read and write (Galera)
				}
				token, prev = cur+1, last
			}
			r, err := tx.ExecContext(ctx, s.q.setToken, token, l.Key, l.Owner)
			if err != nil {
				return err
			}
			if n, err := r.RowsAffected(); err != nil || n != 1 {
				return nil // assigned concurrently, or the holding is gone: roll back below
			}
			typ := EventAcquired
			if prev != "" && prev != l.Owner {
				typ = EventTakenOver
			}
			assigned = true
			return s.insertEvent(ctx, tx, Event{
				Type: typ, Key: l.Key, LockType: l.Type, Owner: l.Owner, PreviousOwner: prev, Value: l.Value,
				FencingToken: token, RequestID: l.RequestID, Identity: l.Identity,
			})
		})
	})
	if err != nil {
		return 0, "", fmt.Errorf("assign fencing token: %w", err)
	}
	if assigned {
		s.notify()
		return token, prev, nil
	}
	// Not assigned by us: the committed transaction above changed nothing
	// that matters (a bumped sequence only leaves a gap). Report what the
	// row holds now.
	cur, err := s.Fetch(ctx, l.Key)
	if err != nil || cur.Owner != l.Owner {
		return 0, "", nil
	}
	return cur.FencingToken, "", nil
}

// HistoryQuery selects events, newest first.
type HistoryQuery struct {
	Key      string // "" for every key
	LockType string // "" for every type
	Limit    int    // 1..1000; 0 means 100
	BeforeID int64  // 0: from the newest
}

// History returns recorded ownership changes, newest first.
func (s *Store) History(ctx context.Context, hq HistoryQuery) ([]Event, error) {
	var where []string
	var args []any
	if hq.Key != "" {
		where, args = append(where, "path = ?"), append(args, hq.Key)
	}
	if hq.LockType != "" {
		where, args = append(where, "type = ?"), append(args, hq.LockType)
	}
	if hq.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, hq.BeforeID)
	}
	limit := hq.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	q := `SELECT ` + eventColumns + ` FROM locket_history`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit)
	var out []Event
	err := s.query(ctx, s.dialect.sql(q), args, func(r *sql.Rows) error {
		e, err := scanEvent(r)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return out, nil
}

// EventsAfter returns up to 1000 events with an id above after, in id
// order, and the database clock's now (µs). Ids are assigned when a change
// is written, not when it commits (and Galera nodes interleave them), so a
// reader that wants every event re-reads a window (see server.Feed).
func (s *Store) EventsAfter(ctx context.Context, after int64) ([]Event, int64, error) {
	var out []Event
	var now int64
	err := s.query(ctx, s.q.feed, []any{after}, func(r *sql.Rows) error {
		var e Event
		err := r.Scan(&e.ID, &e.At, &e.Type, &e.Key, &e.LockType, &e.Owner, &e.PreviousOwner, &e.Value,
			&e.FencingToken, &e.Server, &e.RequestID, &e.Identity, &now)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read change feed: %w", err)
	}
	return out, now, nil
}

// LastEventID returns the highest event id recorded so far (0 for none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.queryRow(ctx, s.q.maxEventID, nil, &id); err != nil {
		return 0, fmt.Errorf("read last event id: %w", err)
	}
	return id, nil
}

// PruneHistory deletes events older than age (database clock).
func (s *Store) PruneHistory(ctx context.Context, age time.Duration) (int64, error) {
	r, err := s.exec(ctx, s.q.pruneHistory, age.Microseconds())
	if err != nil {
		return 0, fmt.Errorf("prune history: %w", err)
	}
	n, _ := r.RowsAffected()
	return n, nil
}

func scanEvent(r scanner) (Event, error) {
	var e Event
	err := r.Scan(&e.ID, &e.At, &e.Type, &e.Key, &e.LockType, &e.Owner, &e.PreviousOwner, &e.Value,
		&e.FencingToken, &e.Server, &e.RequestID, &e.Identity)
	return e, err
}
