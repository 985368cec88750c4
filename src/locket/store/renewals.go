package store

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"sync"
	"time"
)

// Renewals are nearly all of a lock service's writes: every cell renews its
// presence every few seconds. A renewal that finds fewer than
// renewalStatements renewal statements running is written at once, alone.
// Renewals that arrive while that many are running wait for the next free
// one and are written together, up to maxRenewalBatch rows per statement:
// one round trip, one commit and one log flush for all of them. So batching
// never delays a renewal on an idle database, and under load the database
// does a fraction of the statements. (BenchmarkRenewalStatements compares 1,
// 2, 4 and 8 statements; docs/benchmarks.md has the figures.)
//
// A statement still running after renewalStall (waiting for a row lock
// someone holds, say) gives up its slot: it keeps its own batch waiting, but
// not every renewal behind it.
const (
	renewalStatements = 2
	maxRenewalBatch   = 32
	renewalStall      = 100 * time.Millisecond
)

// renewal is one hinted renewal (the store saw owner's previous Lock of the
// key succeed) waiting to be written, and its outcome.
type renewal struct {
	ctx   context.Context
	l     Lock
	token int64 // the hinted holding's fencing token

	res     LockResult
	renewed bool
	err     error
	// alone: the batch could not tell this renewal's outcome (or failed as
	// a whole); the caller writes it with the one-row statement.
	alone bool
}

// renewalBatch is a set of renewals of distinct keys waiting for a statement.
type renewalBatch struct {
	items []*renewal
	start chan struct{} // closed when the batch may run
	done  chan struct{} // closed when every item has its outcome
}

func (b *renewalBatch) fits(key string) bool {
	return len(b.items) < maxRenewalBatch && !slices.ContainsFunc(b.items, func(r *renewal) bool { return r.l.Key == key })
}

// renewalQueue hands out renewalStatements slots and queues the renewals
// that find none free.
type renewalQueue struct {
	slots  int // renewalStatements; a benchmark sets others
	mu     sync.Mutex
	active int             // statements running
	queue  []*renewalBatch // waiting for a slot, oldest first
}

// renewHinted writes a hinted renewal, alone or in a batch. renewed is
// false when the row is gone or someone else's (as for renew).
func (s *Store) renewHinted(ctx context.Context, l Lock, token int64) (LockResult, bool, error) {
	r := &renewal{ctx: ctx, l: l, token: token}
	q := &s.renewals
	q.mu.Lock()
	if len(q.queue) == 0 && q.active < q.slots {
		q.active++
		q.mu.Unlock()
		s.runRenewals([]*renewal{r})
		return r.outcome(ctx, s)
	}
	var b *renewalBatch
	if n := len(q.queue); n > 0 && q.queue[n-1].fits(l.Key) {
		b = q.queue[n-1]
		b.items = append(b.items, r)
		q.mu.Unlock()
		// The batch's first renewal runs it. The wait is bounded: a stalled
		// statement passes its slot on, and the batch's statement ends by
		// the latest of its renewals' deadlines.
		<-b.done
		return r.outcome(ctx, s)
	}
	b = &renewalBatch{items: []*renewal{r}, start: make(chan struct{}), done: make(chan struct{})}
	q.queue = append(q.queue, b)
	q.mu.Unlock()
	// This renewal leads the batch: the others wait on it, so it runs the
	// batch even if its own context ends meanwhile (the batch skips the
	// renewals whose contexts ended, see writeRenewals).
	<-b.start
	s.runRenewals(b.items)
	close(b.done)
	return r.outcome(ctx, s)
}

// runRenewals writes rs in a slot and passes the slot on when done, or
// once the statement has run for the store's renewalStall.
func (s *Store) runRenewals(rs []*renewal) {
	var once sync.Once
	pass := func() { once.Do(s.nextRenewals) }
	stalled := time.AfterFunc(s.renewalStall, pass)
	s.writeRenewals(rs)
	stalled.Stop()
	pass()
}

// nextRenewals passes the slot of a finished (or stalled) statement to the
// oldest queued batch.
func (s *Store) nextRenewals() {
	q := &s.renewals
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.active--
		return
	}
	b := q.queue[0]
	q.queue[0] = nil
	q.queue = q.queue[1:]
	close(b.start) // the batch leaves the queue before it starts: no more joiners
}

func (r *renewal) outcome(ctx context.Context, s *Store) (LockResult, bool, error) {
	if r.alone {
		// The batch ran and may have renewed it: started work is finished.
		return s.renew(ctx, r.l)
	}
	return r.res, r.renewed, r.err
}

// writeRenewals writes rs and records each outcome. A renewal whose caller
// gave up while it queued is not written (caller.go).
func (s *Store) writeRenewals(rs []*renewal) {
	live := rs[:0:0]
	for _, r := range rs {
		if err := startable(r.ctx); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		r := live[0]
		r.res, r.renewed, r.err = s.renew(r.ctx, r.l)
		return
	}
	// One caller giving up must not fail the others' renewals: the
	// statement runs until the latest of their deadlines.
	ctx, cancel := batchContext(live)
	defer cancel()
	// Keys in one order on every server: two statements renewing some of
	// the same rows lock them in the same order and do not deadlock.
	slices.SortFunc(live, func(a, b *renewal) int { return strings.Compare(a.l.Key, b.l.Key) })
	var err error
	if s.dialect.mysql {
		err = s.renewBatchMySQL(ctx, live)
	} else {
		err = s.renewBatchUpsert(ctx, live)
	}
	if err != nil {
		// Perhaps one renewal's fault (a value the column refuses): each is
		// written alone and gets its own answer.
		for _, r := range live {
			r.alone = true
		}
	}
}

// batchContext is the context of a batch's statement: the values of the
// first renewal's, no cancellation, the latest of their deadlines.
func batchContext(rs []*renewal) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, r := range rs {
		d, ok := r.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(rs[0].ctx))
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(context.WithoutCancel(rs[0].ctx), latest)
}

// renewBatchMySQL renews rs with one UPDATE of the callers' own rows, the
// holdings the hints name (owner and fencing token). MySQL's UPDATE returns
// no rows, only how many it changed: all of them means every renewal
// succeeded with its hinted token; fewer, and each is written alone to learn
// which (a hint gone stale: rare).
func (s *Store) renewBatchMySQL(ctx context.Context, rs []*renewal) error {
	args := make([]any, 0, 14*len(rs))
	for _, column := range []func(Lock) any{
		func(l Lock) any { return l.Value },
		func(l Lock) any { return l.Type },
		func(l Lock) any { return l.TTL },
		func(l Lock) any { return l.TTL },
	} {
		for _, r := range rs {
			args = append(args, r.l.Key, column(r.l))
		}
	}
	for _, r := range rs {
		args = append(args, r.l.Key)
	}
	for _, r := range rs {
		bound := boundIdentity(r.l)
		args = append(args, r.l.Key, r.l.Owner, r.token, bound, bound)
	}
	res, err := s.exec(ctx, s.renewalSQL(len(rs)), args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != int64(len(rs)) {
		for _, r := range rs {
			r.alone = true
		}
		return nil
	}
	for _, r := range rs {
		r.res, r.renewed = LockResult{FencingToken: r.token}, true
	}
	return nil
}

// renewBatchUpsert renews rs with the upsert (Postgres, SQLite) over many
// rows: RETURNING names each row renewed or acquired; a key it leaves out is
// someone else's.
func (s *Store) renewBatchUpsert(ctx context.Context, rs []*renewal) error {
	args := make([]any, 0, 9*len(rs))
	guids := make(map[string]string, len(rs))
	for _, r := range rs {
		guid, err := newGUID()
		if err != nil {
			return err
		}
		guids[r.l.Key] = guid
		l := r.l
		args = append(args, l.Key, l.Owner, l.Value, l.Type, guid, l.TTL, l.TTL, l.TTL, boundIdentity(l))
	}
	written := make(map[string]LockResult, len(rs))
	err := s.query(ctx, s.renewalSQL(len(rs)), args, func(rows *sql.Rows) error {
		var key, id string
		var res LockResult
		if err := rows.Scan(&key, &id, &res.ModifiedIndex, &res.FencingToken); err != nil {
			return err
		}
		res.Acquired = id == guids[key]
		written[key] = res
		return nil
	})
	if err != nil {
		return err
	}
	for _, r := range rs {
		r.res, r.renewed = written[r.l.Key]
	}
	return nil
}

// renewalSQL is the batch statement for n renewals, built once per size.
func (s *Store) renewalSQL(n int) string {
	s.renewalStmts.mu.Lock()
	defer s.renewalStmts.mu.Unlock()
	if q, ok := s.renewalStmts.byRows[n]; ok {
		return q
	}
	var q string
	if s.dialect.mysql {
		q = mysqlRenewalSQL(n)
	} else {
		q = upsertSQL(n, "RETURNING locks.path, modified_id, modified_index, COALESCE(locks.fencing_token, 0)")
	}
	q = s.dialect.sql(q)
	if s.renewalStmts.byRows == nil {
		s.renewalStmts.byRows = map[int]string{}
	}
	s.renewalStmts.byRows[n] = q
	return q
}

type renewalStmts struct {
	mu     sync.Mutex
	byRows map[int]string
}

// mysqlRenewalSQL is q.renew over n rows: each row's new values are picked
// by key with CASE (a single-table UPDATE, whose assignments run left to
// right, like q.renew's; a multi-table one promises no order). The rows are
// locked in key order whatever the order of the list. FORCE INDEX: on a
// small table the optimizer would rather scan it all, and the scan would
// wait for rows of other keys that someone holds (TestStalledRenewals).
func mysqlRenewalSQL(n int) string {
	cases := func(expr string) string {
		return "CASE path" + strings.Repeat(" WHEN ? THEN "+expr, n) + " END"
	}
	return `UPDATE locks FORCE INDEX (PRIMARY) SET value = ` + cases("?") + `, type = ` + cases("?") + `, ttl = ` + cases("?") + `,
		expires_at = {written} + ` + cases("?") + ` * 1000000,
		sweep_at = LEAST(sweep_at, expires_at),
		expires_index = modified_index + 1,
		modified_index = modified_index + 1
		WHERE path IN (?` + strings.Repeat(", ?", n-1) + `) AND ` + cases(`(CAST(owner AS BINARY) = CAST(? AS BINARY)
			AND COALESCE(fencing_token, 0) = ?
			AND (COALESCE(acquired_by, '') = '' OR ? = '' OR CAST(acquired_by AS BINARY) = CAST(? AS BINARY)))`)
}
