package store

import "context"

// reservedConns are pool connections no acquisition or release may take:
// with renewalStatements, they keep renewals and the expiry loop (sweep,
// heartbeat) running when thousands of acquisitions arrive at once (every
// rep of a foundation restarting). Renewals of held locks must not queue
// behind them: a BBS whose renewal times out loses its lock and fails over.
const reservedConns = 2

// admission bounds the acquisitions and releases running at once, so that
// they leave renewalStatements+reservedConns connections of the pool free.
// nil: no bound (an unlimited pool, or SQLite's single connection, where
// everything runs in turn anyway).
type admission chan struct{}

func newAdmission(maxOpenConns int) admission {
	n := maxOpenConns - renewalStatements - reservedConns
	if maxOpenConns <= 0 || n < 1 {
		return nil
	}
	return make(admission, n)
}

// enter waits for a place; the returned func gives it back. A caller that
// gave up meanwhile gets ErrAbandoned and no place (caller.go).
func (a admission) enter(ctx context.Context) (func(), error) {
	if a == nil {
		if err := startable(ctx); err != nil {
			return nil, err
		}
		return func() {}, nil
	}
	select {
	case a <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-callerDone(ctx):
		return nil, startable(ctx)
	}
	if err := startable(ctx); err != nil {
		<-a
		return nil, err
	}
	return func() { <-a }, nil
}
