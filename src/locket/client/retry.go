package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// RequestIDKey is the gRPC metadata key under which upstream clients send a
// request's UUID; servers log it as request-uuid.
const RequestIDKey = "uuid"

// DefaultAttemptTimeout bounds one attempt of a call; see retryInterceptor.
const DefaultAttemptTimeout = 2 * time.Second

// minAttempt is the shortest attempt worth making: below it a call is more
// likely to be cut off by its own deadline than to find a server dead.
const minAttempt = 250 * time.Millisecond

// NewRequestID returns a random (version 4) UUID.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails on Linux (crypto/rand panics otherwise)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// WithRequestID returns ctx carrying id as the request UUID of the calls made
// with it.
func WithRequestID(ctx context.Context, id string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, RequestIDKey, id)
}

// RequestID returns the request UUID ctx carries, or "".
func RequestID(ctx context.Context) string {
	md, _ := metadata.FromOutgoingContext(ctx)
	if v := md.Get(RequestIDKey); len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

// retryInterceptor makes each call a series of attempts until one gets an
// answer from a server or the caller's context ends. An attempt that fails
// with Unavailable (no connection, server going away, database down) or runs
// out of its own deadline is repeated; the failover balancer has by then
// moved on to the next server. Every Locket RPC may be repeated: a Lock of the
// same owner is a renewal, a second Release of a released lock succeeds, and
// Fetch/FetchAll only read.
//
// Each attempt gets min(attemptTimeout, half the time left), but at least
// minAttempt, so that within one retry interval a call that hangs on a dead
// server still has time for a second attempt on a live one. A Lock without a
// request UUID gets one; all attempts of a call carry the same UUID, so the
// servers' logs of one logical request can be matched up.
func retryInterceptor(attemptTimeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == lockMethod && RequestID(ctx) == "" {
			ctx = WithRequestID(ctx, NewRequestID())
		}
		backoff := 50 * time.Millisecond
		for {
			actx, cancel := attemptContext(ctx, attemptTimeout)
			start := time.Now()
			err := invoker(actx, method, req, reply, cc, opts...)
			cancel()
			if err == nil || ctx.Err() != nil || !retryable(err) {
				return err
			}
			// An attempt that failed at once (no server ready yet) waits a
			// little before the next; one that timed out goes on at once.
			if time.Since(start) < backoff {
				t := time.NewTimer(backoff)
				select {
				case <-ctx.Done():
					t.Stop()
					return err
				case <-t.C:
				}
				backoff = min(2*backoff, time.Second)
			}
		}
	}
}

const lockMethod = "/models.Locket/Lock"

func attemptContext(ctx context.Context, attemptTimeout time.Duration) (context.Context, context.CancelFunc) {
	d := attemptTimeout
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		if half := left / 2; half < d {
			d = max(half, minAttempt)
		}
		if d >= left {
			return context.WithCancel(ctx) // the last attempt gets what is left
		}
	}
	return context.WithTimeout(ctx, d)
}

func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}
