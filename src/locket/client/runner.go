package client

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
)

// Defaults of BBS and rep.
const (
	DefaultTTLInSeconds  = 15
	DefaultRetryInterval = 5 * time.Second
)

// RunnerConfig says what a runner holds and how.
type RunnerConfig struct {
	Key   string
	Owner string
	Value string

	TTLInSeconds  int64         // 0: DefaultTTLInSeconds
	RetryInterval time.Duration // 0: DefaultRetryInterval; must be under the TTL

	// OnAcquired is called (from the runner's goroutine) each time the runner
	// gets the lock: once for a lock runner, after every loss and
	// re-acquisition for a presence runner.
	OnAcquired func()
	// OnLost is called when a presence runner loses its presence (a lock
	// runner returns a *LostLockError instead).
	OnLost func(error)
}

// Runner holds one lock or presence: it acquires it, renews it every retry
// interval, and releases it when its context ends.
type Runner struct {
	logger     lager.Logger
	client     models.LocketClient
	resource   *models.Resource
	ttl        int64
	interval   time.Duration
	exitOnLost bool
	onAcquired func()
	onLost     func(error)

	// watch: wait on a Watch stream between attempts (watch.go).
	watch bool
	token atomic.Int64
}

// NewLockRunner returns the runner of a lock (type "lock"), as BBS and
// auctioneer hold theirs: Run returns a *LostLockError when the lock is lost.
func NewLockRunner(logger lager.Logger, c models.LocketClient, cfg RunnerConfig) (*Runner, error) {
	r, err := newRunner(logger, c, cfg, models.TypeCode_LOCK, true)
	if err == nil {
		r.watch = true // a standby takes over as soon as the lock is free
	}
	return r, err
}

// NewPresenceRunner returns the runner of a presence (type "presence"), as a
// rep holds its cell's: it never gives up, and after a loss keeps trying to
// get the presence back.
func NewPresenceRunner(logger lager.Logger, c models.LocketClient, cfg RunnerConfig) (*Runner, error) {
	return newRunner(logger, c, cfg, models.TypeCode_PRESENCE, false)
}

func newRunner(logger lager.Logger, c models.LocketClient, cfg RunnerConfig, tc models.TypeCode, exitOnLost bool) (*Runner, error) {
	if cfg.TTLInSeconds == 0 {
		cfg.TTLInSeconds = DefaultTTLInSeconds
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	switch {
	case cfg.Owner == "":
		return nil, errors.New("lock owner is empty")
	case cfg.TTLInSeconds < 0:
		return nil, fmt.Errorf("ttl %d s is not positive", cfg.TTLInSeconds)
	case cfg.RetryInterval < 0:
		return nil, fmt.Errorf("retry interval %s is not positive", cfg.RetryInterval)
	case cfg.RetryInterval >= time.Duration(cfg.TTLInSeconds)*time.Second:
		// The lock would expire between two renewals.
		return nil, fmt.Errorf("retry interval %s is not shorter than the ttl (%d s)", cfg.RetryInterval, cfg.TTLInSeconds)
	}
	return &Runner{
		logger: logger,
		client: c,
		resource: &models.Resource{
			Key:      cfg.Key,
			Owner:    cfg.Owner,
			Value:    cfg.Value,
			Type:     models.TypeString(tc), // deprecated, but upstream clients still send it
			TypeCode: tc,
		},
		ttl:        cfg.TTLInSeconds,
		interval:   cfg.RetryInterval,
		exitOnLost: exitOnLost,
		onAcquired: cfg.OnAcquired,
		onLost:     cfg.OnLost,
	}, nil
}

// LostLockError is what a lock runner returns when it loses its lock.
type LostLockError struct {
	RequestID string // request-uuid of the Lock that failed
	Err       error
}

func (e *LostLockError) Error() string {
	why := "request failed"
	if status.Code(e.Err) == codes.DeadlineExceeded {
		why = "request timed out"
	}
	return fmt.Sprintf("lost lock (%s), request-uuid %s: %v", why, e.RequestID, e.Err)
}

func (e *LostLockError) Unwrap() error { return e.Err }

// ResourceJSON is a Resource in the JSON shape upstream's Go types give it
// (empty fields left out): the "lock" of the runners' log lines and the
// output of cfdot's locks/presences commands.
type ResourceJSON struct {
	Key      string          `json:"key,omitempty"`
	Owner    string          `json:"owner,omitempty"`
	Value    string          `json:"value,omitempty"`
	Type     string          `json:"type,omitempty"`
	TypeCode models.TypeCode `json:"type_code,omitempty"`
}

// NewResourceJSON copies r.
func NewResourceJSON(r *models.Resource) ResourceJSON {
	return ResourceJSON{
		Key:      r.GetKey(),
		Owner:    r.GetOwner(),
		Value:    r.GetValue(),
		Type:     r.GetType(),
		TypeCode: r.GetTypeCode(),
	}
}

// Run holds the lock until ctx ends, then releases it and returns nil. A lock
// runner returns a *LostLockError as soon as it loses the lock (and does not
// release it: its owner may come back, as a restarted BBS does).
//
// Every retry interval (counted from the end of the previous attempt) it
// sends a Lock with a fresh request UUID and a deadline of one interval,
// within which the client retries on another server. It logs as upstream's
// runner does, under the session "locket-lock": started, acquired-lock,
// failed-to-acquire-lock (a collision only on the first attempt), lost-lock,
// released-lock, completed.
func (r *Runner) Run(ctx context.Context) error {
	return r.run(ctx, nil)
}

func (r *Runner) run(ctx context.Context, firstAcquired func()) error {
	logger := r.logger.Session("locket-lock", lager.Data{
		"lock":           NewResourceJSON(r.resource),
		"ttl_in_seconds": r.ttl,
	})
	logger.Info("started")
	defer logger.Info("completed")

	var (
		held bool
		// mayHold is true unless the last answer proved the lock is not
		// ours: a Lock that failed without an answer may have been applied.
		mayHold bool
		first   = true
		timer   = time.NewTimer(0)
		freed   <-chan struct{} // nil (never ready) without a watcher
	)
	defer timer.Stop()
	if r.watch {
		wctx, stopWatch := context.WithCancel(ctx)
		defer stopWatch()
		w := newKeyWatcher(logger, r.client, r.resource.Key, r.resource.TypeCode)
		freed = w.freed
		go w.run(wctx)
	}
	for {
		select {
		case <-ctx.Done():
			if held || mayHold {
				r.release(logger, ctx)
			}
			return nil
		case <-timer.C:
		case <-freed:
			// Released or expired: try now rather than at the next retry.
		}

		start := time.Now()
		id, err := r.lock(ctx)
		if ctx.Err() != nil {
			// Signalled during the attempt: its outcome is unknown.
			r.release(logger, ctx)
			return nil
		}
		switch {
		case err == nil:
			mayHold = true
			if !held {
				held = true
				logger.Info("acquired-lock")
				if f := firstAcquired; f != nil {
					firstAcquired = nil
					f()
				}
				if r.onAcquired != nil {
					r.onAcquired()
				}
			}
		case held:
			logger.Error("lost-lock", err, lager.Data{"request-uuid": id, "duration": time.Since(start)})
			lost := &LostLockError{RequestID: id, Err: err}
			if r.exitOnLost {
				return lost
			}
			held = false
			mayHold = !isCollision(err)
			if r.onLost != nil {
				r.onLost(lost)
			}
		case isCollision(err):
			mayHold = false
			if first {
				data := lager.Data{"request-uuid": id}
				if owner, ferr := r.owner(ctx); ferr != nil {
					logger.Error("failed-fetching-lock-owner", ferr)
				} else {
					data["lock-owner"] = owner
				}
				logger.Error("failed-to-acquire-lock", err, data)
			}
		default:
			mayHold = true
			logger.Error("failed-to-acquire-lock", err, lager.Data{"request-uuid": id, "duration": time.Since(start)})
		}
		first = false
		timer.Reset(r.interval)
	}
}

// lock sends one Lock (retried within one interval) and returns its request
// UUID.
func (r *Runner) lock(ctx context.Context) (string, error) {
	id := NewRequestID()
	ctx, cancel := context.WithTimeout(WithRequestID(ctx, id), r.interval)
	defer cancel()
	resp, err := r.client.Lock(ctx, &models.LockRequest{Resource: r.resource, TtlInSeconds: r.ttl})
	if err == nil {
		r.token.Store(resp.GetFencingToken())
	} else if isCollision(err) {
		r.token.Store(0)
	}
	return id, err
}

// owner fetches who holds the lock, for the log line of a collision.
func (r *Runner) owner(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.interval)
	defer cancel()
	resp, err := r.client.Fetch(ctx, &models.FetchRequest{Key: r.resource.Key})
	if err != nil {
		return "", err
	}
	return resp.GetResource().GetOwner(), nil
}

// release sends one Release on a context of its own (ctx has ended). A
// collision means the lock was not ours after all: nothing to say.
func (r *Runner) release(logger lager.Logger, ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.interval)
	defer cancel()
	_, err := r.client.Release(ctx, &models.ReleaseRequest{Resource: r.resource})
	switch {
	case err == nil:
		logger.Info("released-lock")
	case isCollision(err):
	default:
		logger.Error("failed-to-release-lock", err)
	}
}

func isCollision(err error) bool {
	return status.Code(err) == codes.AlreadyExists
}
