package server

import (
	"context"
	"errors"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/metrics"
	"github.com/locket-release/locket/store"
)

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// HealthChecker probes the database and reports the result through the gRPC
// health service. Upstream (enable_db_health_check) exits after
// FailureThreshold failed attempts in a row; ours reports NOT_SERVING, keeps
// serving (requests answer Unavailable while the database is away) and
// reports SERVING again at the first successful probe.
type HealthChecker struct {
	DB               Pinger
	Logger           lager.Logger
	SetServing       func(bool)
	Interval         time.Duration // between probes while healthy
	Timeout          time.Duration // of one attempt
	FailureThreshold int           // attempts in a row before NOT_SERVING
}

// recoveryInterval is the probe period while the database is unreachable,
// so that service comes back quickly.
const recoveryInterval = time.Second

// attemptPause separates the attempts of one probe, so that a blip of a few
// milliseconds does not count as several failures.
const attemptPause = 200 * time.Millisecond

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Run probes until ctx is done.
func (h *HealthChecker) Run(ctx context.Context) {
	logger := h.Logger.Session("db-health-check")
	threshold := max(h.FailureThreshold, 1)
	healthy := true
	for {
		wait := h.Interval
		if !healthy {
			wait = min(h.Interval, recoveryInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		var errs []error
		attempts := threshold
		if !healthy {
			attempts = 1 // while down, one attempt per period
		}
		for attempt := 1; attempt <= attempts && ctx.Err() == nil; attempt++ {
			err := h.ping(ctx)
			if err == nil {
				errs = nil
				break
			}
			errs = append(errs, err)
			if healthy {
				logger.Info("failed-health-check", lager.Data{"attempt": attempt, "error": err.Error()})
				if attempt < attempts {
					sleep(ctx, attemptPause)
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		switch {
		case errs == nil && !healthy:
			healthy = true
			logger.Info("database-reachable")
			h.SetServing(true)
		case errs != nil && healthy:
			healthy = false
			logger.Error("health-check-attempts-exceeded", errors.Join(errs...), lager.Data{"max-attempts": threshold})
			h.SetServing(false)
		}
	}
}

func (h *HealthChecker) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	return h.DB.Ping(ctx)
}

// StatsSource is what the metrics reporter reads from the store.
type StatsSource interface {
	Count(ctx context.Context) (locks, presences int, err error)
	Stats() store.Stats
}

// Reporter refreshes the gauges that need the database (ActiveLocks,
// ActivePresences) and the DB* metrics every Interval, off the request path,
// and closes each RequestLatencyMax interval.
type Reporter struct {
	Source   StatsSource
	Metrics  *metrics.Locket
	Logger   lager.Logger
	Interval time.Duration
	Timeout  time.Duration // of the count query
}

// Run reports once at once, then every Interval until ctx is done.
func (r *Reporter) Run(ctx context.Context) {
	logger := r.Logger.Session("metrics-reporter")
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		r.report(ctx, logger)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Reporter) report(ctx context.Context, logger lager.Logger) {
	r.Metrics.Roll()
	s := r.Source.Stats()
	r.Metrics.SetDB(metrics.DBStats{
		OpenConnections:  s.OpenConnections,
		WaitCount:        s.WaitCount,
		WaitDuration:     s.WaitDuration,
		QueriesTotal:     s.QueriesTotal,
		QueriesSucceeded: s.QueriesSucceeded,
		QueriesFailed:    s.QueriesFailed,
		QueriesInFlight:  s.QueriesInFlight,
		QueryDurationMax: s.QueryDurationMax,
	})
	cctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	locks, presences, err := r.Source.Count(cctx)
	if err != nil {
		if ctx.Err() == nil {
			logger.Error("failed-to-retrieve-lock-count", err)
		}
		return
	}
	r.Metrics.ActiveLocks.Set(float64(locks))
	r.Metrics.ActivePresences.Set(float64(presences))
}
