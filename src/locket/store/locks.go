package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

// Lock acquires l.Key for l.Owner or renews it, storing l.Value, l.Type and
// l.TTL (seconds). It returns ErrCollision when another non-empty owner
// holds the key.
//
// A renewal is one statement, one round trip, shared with other renewals
// when the database is busy (renewals.go): when this store saw the owner's
// previous Lock succeed (the hints), Lock goes straight to the UPDATE.
// Otherwise (admitted first, see admission.go) it reads the holder without
// a row lock, so a collision - the standby's retry, every few seconds for
// every standby - is one plain read that never queues behind the holder's
// writes.
func (s *Store) Lock(ctx context.Context, l Lock) (LockResult, error) {
	if l.TTL > MaxTTL {
		return LockResult{}, fmt.Errorf("lock %q: ttl %d s is over the maximum of %d s", l.Key, l.TTL, int64(MaxTTL))
	}
	var res LockResult
	err := retry(ctx, func() error {
		var err error
		res, err = s.lock(ctx, l)
		return err
	})
	if errors.Is(err, ErrCollision) {
		s.hints.forget(l.Key, l.Owner)
		return LockResult{}, err
	}
	if err != nil {
		// The hint stays as it was: a failure after the write (withToken)
		// leaves the caller holding the key, and any other costs the next
		// Lock one statement at most.
		return LockResult{}, fmt.Errorf("lock %q: %w", l.Key, err)
	}
	s.hints.set(l.Key, l.Owner, res.FencingToken)
	return res, nil
}

func (s *Store) lock(ctx context.Context, l Lock) (LockResult, error) {
	// A request its client already gave up on (a server that hung and woke
	// up, a retry after a slow attempt) must not write: it could re-take a
	// lock its owner has since released.
	if err := startable(ctx); err != nil {
		return LockResult{}, err
	}
	if token, ok := s.hints.holds(l.Key, l.Owner); ok {
		res, renewed, err := s.renewHinted(ctx, l, token)
		if err != nil || renewed {
			return s.withToken(ctx, l, res, err)
		}
		// Gone or taken since: decide on what the table holds now.
	}
	leave, err := s.admit.enter(ctx)
	if err != nil {
		return LockResult{}, err
	}
	defer leave()
	owner, acquiredBy, found, err := s.holder(ctx, l.Key)
	if err != nil {
		return LockResult{}, err
	}
	switch {
	case found && owner == l.Owner && sameIdentity(acquiredBy, l):
		res, renewed, err := s.renew(ctx, l)
		if err != nil || renewed {
			return s.withToken(ctx, l, res, err)
		}
		// Released or expired between the read and the UPDATE: acquire.
	case found && owner != "":
		return LockResult{}, ErrCollision
	case found:
		// A row whose owner is '' is unowned and anyone may take it
		// (upstream never writes one).
		if _, err := s.exec(ctx, s.q.deleteUnowned, l.Key); err != nil {
			return LockResult{}, err
		}
	}
	res, err := s.upsert(ctx, l)
	return s.withToken(ctx, l, res, err)
}

// withToken completes a successful acquisition or renewal: an acquisition,
// or a holding without a token (written by an upstream server, or acquired
// by a server that died before assigning one), gets a fencing token and a
// history row. Rare, so it may take a transaction; renewals of a holding
// with a token stay one statement.
func (s *Store) withToken(ctx context.Context, l Lock, res LockResult, err error) (LockResult, error) {
	if err != nil {
		return LockResult{}, err
	}
	if res.Acquired || res.FencingToken == 0 {
		// The key is the caller's from here on, even if assigning the token
		// fails: under load its transaction can outlast the request, and
		// the client, told the Lock failed, retries. That retry must renew
		// at once as the holder, not queue among acquisitions (admission.go)
		// while the holding it does not know it has runs out (the fleet
		// benchmark's ramp lost presences so). A renewal with a token needs
		// no early hint: Lock sets it on success.
		s.hints.set(l.Key, l.Owner, res.FencingToken)
		token, prev, err := s.assignToken(ctx, l)
		if err != nil {
			return LockResult{}, err
		}
		res.FencingToken, res.PreviousOwner = token, prev
	}
	return res, nil
}

// boundIdentity is the acquirer identity a Lock stores and checks; the
// empty string leaves it unchecked, as upstream.
func boundIdentity(l Lock) string {
	if l.BindIdentity {
		return l.Identity
	}
	return ""
}

// sameIdentity: a holding's stored acquirer and the caller's identity do not
// contradict each other (either unknown, or equal).
func sameIdentity(acquiredBy string, l Lock) bool {
	bound := boundIdentity(l)
	return acquiredBy == "" || bound == "" || acquiredBy == bound
}

// holder reads who holds key, without a row lock: the latest committed row.
func (s *Store) holder(ctx context.Context, key string) (owner, acquiredBy string, found bool, err error) {
	err = s.queryRow(ctx, s.q.holder, []any{key}, &owner, &acquiredBy)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	return owner, acquiredBy, true, nil
}

// renew renews the caller's own row; renewed is false when the row is gone
// or is someone else's.
func (s *Store) renew(ctx context.Context, l Lock) (res LockResult, renewed bool, err error) {
	if !s.dialect.mysql {
		// Postgres computes a plain UPDATE's new values before it waits for
		// the row lock, so a renewal that queued behind another transaction
		// would get a deadline counted from its start (see
		// TestRenewalDeadlineCountsFromTheWrite). The upsert's ON CONFLICT
		// branch locks the row first. A row that is gone it acquires, which
		// is what Lock would do next anyway.
		res, err := s.upsert(ctx, l)
		if errors.Is(err, ErrCollision) {
			return LockResult{}, false, nil
		}
		return res, err == nil, err
	}
	bound := boundIdentity(l)
	r, err := s.exec(ctx, s.q.renew, l.Value, l.Type, l.TTL, l.TTL, l.Key, l.Owner, bound, bound)
	if err != nil {
		return LockResult{}, false, err
	}
	n, err := r.RowsAffected()
	if err != nil || n == 0 {
		return LockResult{}, false, err
	}
	// LAST_INSERT_ID(fencing_token) in the statement: the OK packet carries
	// the token.
	token, err := r.LastInsertId()
	if err != nil {
		return LockResult{}, false, err
	}
	return LockResult{FencingToken: token}, true, nil
}

// upsert is the one-statement acquire/renew.
func (s *Store) upsert(ctx context.Context, l Lock) (LockResult, error) {
	guid, err := newGUID()
	if err != nil {
		return LockResult{}, err
	}
	bound := boundIdentity(l)
	if s.dialect.mysql {
		r, err := s.exec(ctx, s.q.lock, l.Key, l.Owner, l.Value, l.Type, guid, l.TTL, l.TTL, l.TTL, bound)
		if err != nil {
			return LockResult{}, err
		}
		n, err := r.RowsAffected()
		if err != nil {
			return LockResult{}, err
		}
		switch n {
		case 1:
			return LockResult{Acquired: true, ModifiedIndex: 1}, nil
		case 2:
			token, err := r.LastInsertId()
			if err != nil {
				return LockResult{}, err
			}
			return LockResult{FencingToken: token}, nil
		case 0:
			return LockResult{}, ErrCollision
		}
		return LockResult{}, fmt.Errorf("unexpected affected row count %d (is clientFoundRows set?)", n)
	}
	var id string
	var idx, token int64
	err = s.queryRow(ctx, s.q.lock, []any{l.Key, l.Owner, l.Value, l.Type, guid, l.TTL, l.TTL, l.TTL, bound}, &id, &idx, &token)
	if errors.Is(err, sql.ErrNoRows) {
		return LockResult{}, ErrCollision
	}
	if err != nil {
		return LockResult{}, err
	}
	return LockResult{Acquired: id == guid, ModifiedIndex: idx, FencingToken: token}, nil
}

// Release deletes key if owner holds it and returns the deleted row. A
// missing key is not an error (upstream answers success): it returns a zero
// Lock. Another owner's key gives ErrCollision.
func (s *Store) Release(ctx context.Context, key, owner string) (Lock, error) {
	return s.ReleaseAs(ctx, Release{Key: key, Owner: owner})
}

// Release is a release request with what history records about it.
type Release struct {
	Key, Owner string
	// Identity is the caller's client identity, recorded in history.
	Identity  string
	RequestID string
	// CheckIdentity refuses (ErrForbidden) a release by another identity
	// than the acquirer's, when the acquirer's is known.
	CheckIdentity bool
}

// ReleaseAs is Release with an identity check and history data. The delete
// and its history row are one transaction (releases are rare).
func (s *Store) ReleaseAs(ctx context.Context, rel Release) (Lock, error) {
	var l Lock
	err := retry(ctx, func() error {
		leave, err := s.admit.enter(ctx)
		if err != nil {
			return err
		}
		defer leave()
		l, err = s.releaseTx(ctx, rel)
		return err
	})
	if err != nil && !errors.Is(err, ErrCollision) && !errors.Is(err, ErrForbidden) {
		return Lock{}, fmt.Errorf("release %q: %w", rel.Key, err)
	}
	if err == nil && l.Owner != "" {
		s.hints.forget(rel.Key, "")
		s.notify()
	}
	return l, err
}

// releaseTx reads the row under a row lock, checks owner (and identity),
// deletes it and records the release.
func (s *Store) releaseTx(ctx context.Context, rel Release) (Lock, error) {
	var l Lock
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		l, err = scanLock(tx.QueryRowContext(ctx, s.q.releaseRead, rel.Key))
		if errors.Is(err, sql.ErrNoRows) {
			l = Lock{}
			return nil
		}
		if err != nil {
			return err
		}
		if l.Owner != rel.Owner {
			return ErrCollision
		}
		if rel.CheckIdentity && l.AcquiredBy != "" && l.AcquiredBy != rel.Identity {
			return ErrForbidden
		}
		if _, err := tx.ExecContext(ctx, s.q.releaseDelete, l.Key, l.Owner); err != nil {
			return err
		}
		return s.insertEvent(ctx, tx, Event{
			Type: EventReleased, Key: l.Key, LockType: l.Type, Owner: l.Owner, FencingToken: l.FencingToken,
			RequestID: rel.RequestID, Identity: rel.Identity,
		})
	})
	if err != nil {
		return Lock{}, err
	}
	return l, nil
}

// Fetch returns the lock stored under key, without taking a row lock.
// ErrNotFound when it is missing or unowned.
func (s *Store) Fetch(ctx context.Context, key string) (Lock, error) {
	done := s.stats.begin()
	l, err := scanLock(s.db.QueryRowContext(ctx, s.q.fetch, key))
	done(err)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && l.Owner == "") {
		return Lock{}, ErrNotFound
	}
	if err != nil {
		return Lock{}, fmt.Errorf("fetch %q: %w", key, err)
	}
	return l, nil
}

// FetchAll returns every owned lock of type typ ("" for all types), in no
// particular order, with the fields a Resource carries: Key, Owner, Value,
// Type, FencingToken, AcquiredAt and ExpiresIn (the others are zero).
// The server answers FetchAll from EachLock; this copy is for callers that
// want the rows themselves (tests, tools).
func (s *Store) FetchAll(ctx context.Context, typ string) ([]Lock, error) {
	var out []Lock
	err := s.EachLock(ctx, typ, func(r RawLock) error {
		out = append(out, Lock{
			Key: string(r.Key), Owner: string(r.Owner), Value: string(r.Value), Type: string(r.Type),
			FencingToken: r.FencingToken, AcquiredAt: r.AcquiredAt, ExpiresIn: r.ExpiresIn,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Count returns how many owned locks and presences are stored.
func (s *Store) Count(ctx context.Context) (locks, presences int, err error) {
	err = s.query(ctx, s.q.count, nil, func(r *sql.Rows) error {
		var typ string
		var n int
		if err := r.Scan(&typ, &n); err != nil {
			return err
		}
		switch typ {
		case "lock":
			locks = n
		case "presence":
			presences = n
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count locks: %w", err)
	}
	return locks, presences, nil
}

type scanner interface{ Scan(dest ...any) error }

// scanLock reads the lockColumns.
func scanLock(r scanner) (Lock, error) {
	var l Lock
	err := r.Scan(&l.Key, &l.Owner, &l.Value, &l.Type, &l.TTL, &l.ModifiedIndex, &l.ModifiedID,
		&l.FencingToken, &l.AcquiredAt, &l.AcquiredBy, &l.ExpiresIn)
	return l, err
}

// newGUID returns a random (version 4) UUID, the form upstream uses for
// modified_id.
func newGUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate modified_id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	// Hex by hand: Postgres renewals take one per row, and Sprintf's
	// five slices cost five allocations more.
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:]), nil
}
