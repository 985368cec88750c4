package client

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// RequestIDKey is the gRPC metadata key under which upstream clients send a
// request's UUID; servers log it as request-uuid.
const RequestIDKey = "uuid"

// DefaultFailoverDelay is how long a call waits for an answer before it
// also asks the next server; see failoverInterceptor.
const DefaultFailoverDelay = 2 * time.Second

// minFailoverDelay is the shortest wait before asking another server.
const minFailoverDelay = 250 * time.Millisecond

// maxInFlight bounds the attempts of one call waiting at the same time (a
// call without deadline to servers that all hang must not pile up).
const maxInFlight = 3

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

const lockMethod = "/models.Locket/Lock"

// callState is what the balancer's picker knows about one call: the
// servers its attempts went to, so that another attempt goes elsewhere.
type callState struct {
	mu    sync.Mutex
	tried map[string]bool
}

type callStateKey struct{}

func callStateFrom(ctx context.Context) *callState {
	cs, _ := ctx.Value(callStateKey{}).(*callState)
	return cs
}

func (cs *callState) wasTried(addr string) bool {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.tried[addr]
}

func (cs *callState) markTried(addr string) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.tried[addr] = true
}

// failoverInterceptor makes each call a race of attempts that ends with the
// first answer from a server, or when the caller's context ends:
//
//   - The first attempt goes to the server in use, with the whole deadline
//     (a slow answer is still an answer, as with upstream's client).
//   - If no answer came within the failover delay (min(delay, half the time
//     left), at least minFailoverDelay), another attempt goes to a server
//     this call has not tried yet, while the first one keeps waiting. This is
//     what makes a hung server cost one delay instead of the call.
//   - An attempt that fails with Unavailable or DeadlineExceeded (no
//     connection, server going away, database down) is repeated at once on
//     another server, or after a short backoff when none is left.
//   - Any other answer (success, lock-collision, ...) ends the call.
//
// Every Locket RPC may be repeated or raced: a Lock of the same owner is a
// renewal, a second Release of a released lock succeeds, and Fetch/FetchAll
// only read. A Lock without a request UUID gets one; all attempts of a call
// carry the same UUID, so the servers' logs of one logical request match up.
func failoverInterceptor(delay time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if method == lockMethod && RequestID(ctx) == "" {
			ctx = WithRequestID(ctx, NewRequestID())
		}
		out, ok := reply.(proto.Message)
		if !ok || !raceable(opts) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		ctx = context.WithValue(ctx, callStateKey{}, &callState{tried: map[string]bool{}})
		callCtx, cancel := context.WithCancel(ctx)
		defer cancel() // ends the attempts still waiting

		type result struct {
			reply proto.Message
			err   error
		}
		results := make(chan result)
		inFlight := 0
		launch := func() {
			inFlight++
			go func() {
				r := proto.Clone(out)
				proto.Reset(r)
				err := invoker(callCtx, method, req, r, cc, opts...)
				select {
				case results <- result{r, err}:
				case <-callCtx.Done():
				}
			}()
		}

		wait := failoverDelay(ctx, delay)
		hedge := time.NewTimer(wait)
		defer hedge.Stop()
		var retry <-chan time.Time
		backoff := 50 * time.Millisecond
		var lastErr error
		launch()
		for {
			select {
			case r := <-results:
				inFlight--
				if r.err == nil {
					proto.Reset(out)
					proto.Merge(out, r.reply)
					return nil
				}
				if !retryable(r.err) || ctx.Err() != nil {
					return r.err
				}
				lastErr = r.err
				if inFlight == 0 && retry == nil {
					// The picker has moved on; wait a little only if this
					// failure came at once (no server ready yet).
					retry = time.After(backoff)
					backoff = min(2*backoff, time.Second)
				}
			case <-hedge.C:
				if inFlight < maxInFlight {
					launch()
				}
				hedge.Reset(failoverDelay(ctx, delay))
			case <-retry:
				retry = nil
				launch()
				hedge.Reset(failoverDelay(ctx, delay))
			case <-ctx.Done():
				// The caller's deadline or cancellation. A connection error
				// says more than "deadline exceeded".
				if lastErr != nil && status.Code(lastErr) == codes.Unavailable {
					return lastErr
				}
				return status.FromContextError(ctx.Err()).Err()
			}
		}
	}
}

// failoverDelay is how long to wait for an answer before asking another
// server: delay, or half the time left if that is shorter, but at least
// minFailoverDelay.
func failoverDelay(ctx context.Context, delay time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		if half := time.Until(deadline) / 2; half < delay {
			return max(half, minFailoverDelay)
		}
	}
	return delay
}

// raceable reports whether attempts with these call options may run at the
// same time: not when an option writes into the caller's variables (the
// generated code always adds StaticMethod, which is fine).
func raceable(opts []grpc.CallOption) bool {
	for _, o := range opts {
		switch o.(type) {
		case grpc.HeaderCallOption, *grpc.HeaderCallOption, grpc.TrailerCallOption, *grpc.TrailerCallOption,
			grpc.PeerCallOption, *grpc.PeerCallOption, grpc.OnFinishCallOption, *grpc.OnFinishCallOption:
			return false
		}
	}
	return true
}

func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}
