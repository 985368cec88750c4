package store

import (
	"context"
	"errors"
	"fmt"
)

// A request's statements run under a context the client's cancellation does
// not reach (Service.dbContext): a client that gives up must not abort a
// statement halfway, which on MySQL also costs the connection. But a write
// that has not started by then must not start later: it could take effect
// after the client's next request. A Release overtaken by its owner's next
// renewal (renewals do not queue where releases do) would delete a lock the
// owner had just been told it holds, and another owner would take it.
//
// WithCaller carries the client's context to the places where a Lock or a
// Release waits before it writes: for a pool place (admission), in the
// renewal queue, between retries.

// ErrAbandoned: the caller gave up while the write waited (for admission,
// in the renewal queue, before a retry), so it was not started, or not
// tried again.
var ErrAbandoned = errors.New("caller gave up before the write started")

type callerKey struct{}

// WithCaller returns ctx carrying caller: a Lock or Release on the result
// that is still waiting when caller is done is not started, and fails with
// ErrAbandoned.
func WithCaller(ctx, caller context.Context) context.Context {
	return context.WithValue(ctx, callerKey{}, caller)
}

// callerDone is the Done channel of ctx's caller; nil (never ready) if ctx
// has none.
func callerDone(ctx context.Context) <-chan struct{} {
	if c, ok := ctx.Value(callerKey{}).(context.Context); ok {
		return c.Done()
	}
	return nil
}

// startable returns why a write on ctx must not start now: ctx ended, or
// its caller gave up.
func startable(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c, ok := ctx.Value(callerKey{}).(context.Context); ok {
		if err := c.Err(); err != nil {
			return fmt.Errorf("%w: %w", ErrAbandoned, err)
		}
	}
	return nil
}
