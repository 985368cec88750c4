package metrics

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// SetTotal sets a counter that mirrors a cumulative count kept elsewhere
// (database/sql's wait count, the store's query totals). A value below the
// current one is ignored: counters do not go down.
func (c *Counter) SetTotal(v float64) {
	for {
		old := c.s.bits.Load()
		if v <= math.Float64frombits(old) {
			return
		}
		if c.s.bits.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// RPCs are the request types upstream labels its request metrics with.
var RPCs = []string{"Lock", "Release", "Fetch", "FetchAll"}

// Locket is the set of metrics upstream Locket reports, under its names.
// Durations are in seconds (upstream sent nanoseconds to loggregator;
// Prometheus' convention is seconds). Request metrics carry the label
// request_type (upstream's envelope tag "request-type").
type Locket struct {
	ActiveLocks     *Gauge
	ActivePresences *Gauge
	LocksExpired    *Counter
	PresenceExpired *Counter

	DBOpenConnections  *Gauge
	DBWaitDuration     *Counter
	DBWaitCount        *Counter
	DBQueriesTotal     *Counter
	DBQueriesSucceeded *Counter
	DBQueriesFailed    *Counter
	DBQueriesInFlight  *Gauge
	DBQueryDurationMax *Gauge
	DBQueryDuration    *Histogram

	mu       sync.Mutex
	requests map[string]*Requests
	reg      *Registry
}

// Requests are the request metrics of one RPC.
type Requests struct {
	Started    *Counter
	Succeeded  *Counter
	Failed     *Counter
	Cancelled  *Counter
	InFlight   *Gauge
	LatencyMax *Gauge
	Latency    *Histogram

	maxNanos atomic.Int64 // max latency since the last Roll
}

// latencyBuckets are RequestLatency's and DBQueryDuration's bucket bounds
// (s): fine where a healthy server's answers are (a renewal takes a few
// milliseconds) and up to a request's default timeout.
var latencyBuckets = []float64{
	0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075,
	0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10,
}

// NewLocket registers upstream's metrics in r.
func NewLocket(r *Registry) *Locket {
	m := &Locket{
		ActiveLocks:     r.Gauge("ActiveLocks", "Locks (type lock) with an owner, counted every report_interval."),
		ActivePresences: r.Gauge("ActivePresences", "Presences (type presence) with an owner, counted every report_interval."),
		LocksExpired:    r.Counter("LocksExpired", "Locks this server removed because their TTL passed."),
		PresenceExpired: r.Counter("PresenceExpired", "Presences this server removed because their TTL passed."),

		DBOpenConnections:  r.Gauge("DBOpenConnections", "Open database connections."),
		DBWaitDuration:     r.Counter("DBWaitDuration", "Total time (s) requests waited for a database connection."),
		DBWaitCount:        r.Counter("DBWaitCount", "Times a request waited for a database connection."),
		DBQueriesTotal:     r.Counter("DBQueriesTotal", "Database queries started."),
		DBQueriesSucceeded: r.Counter("DBQueriesSucceeded", "Database queries that succeeded."),
		DBQueriesFailed:    r.Counter("DBQueriesFailed", "Database queries that failed."),
		DBQueriesInFlight:  r.Gauge("DBQueriesInFlight", "Database queries running now."),
		DBQueryDurationMax: r.Gauge("DBQueryDurationMax", "Longest database query (s) in the last report_interval."),
		DBQueryDuration: r.Histogram("DBQueryDuration", "Database round trips (s), a wait for a pooled connection included: "+
			"the database's share of what RequestLatency measures.", latencyBuckets),

		requests: map[string]*Requests{},
		reg:      r,
	}
	for _, rpc := range RPCs {
		m.Requests(rpc)
	}
	return m
}

// Requests returns the request metrics of rpc (Lock, Release, ...).
func (m *Locket) Requests(rpc string) *Requests {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q := m.requests[rpc]; q != nil {
		return q
	}
	l := []string{"request_type", rpc}
	q := &Requests{
		Started:    m.reg.Counter("RequestsStarted", "Requests received.", l...),
		Succeeded:  m.reg.Counter("RequestsSucceeded", "Requests answered with success (a lock collision counts as success, as upstream).", l...),
		Failed:     m.reg.Counter("RequestsFailed", "Requests answered with an error other than a lock collision.", l...),
		InFlight:   m.reg.Gauge("RequestsInFlight", "Requests being handled now.", l...),
		Cancelled:  m.reg.Counter("RequestsCancelled", "Requests the client cancelled.", l...),
		LatencyMax: m.reg.Gauge("RequestLatencyMax", "Longest request latency (s) in the last report_interval.", l...),
		Latency: m.reg.Histogram("RequestLatency", "Request latency (s): from the handler's start to its answer, "+
			"the server's own share of what a client waits.", latencyBuckets, l...),
	}
	m.requests[rpc] = q
	return q
}

// ObserveLatency records one request's latency for RequestLatencyMax and
// RequestLatency.
func (q *Requests) ObserveLatency(d time.Duration) {
	q.Latency.Observe(d.Seconds())
	for {
		old := q.maxNanos.Load()
		if int64(d) <= old || q.maxNanos.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// Roll publishes the maximum latencies of the interval that ends now and
// starts a new interval (upstream resets its maximum at each report).
func (m *Locket) Roll() {
	m.mu.Lock()
	qs := make([]*Requests, 0, len(m.requests))
	for _, q := range m.requests {
		qs = append(qs, q)
	}
	m.mu.Unlock()
	for _, q := range qs {
		q.LatencyMax.Set(time.Duration(q.maxNanos.Swap(0)).Seconds())
	}
}

// DBStats are the database figures reported as DB* metrics.
type DBStats struct {
	OpenConnections  int
	WaitCount        int64
	WaitDuration     time.Duration
	QueriesTotal     int64
	QueriesSucceeded int64
	QueriesFailed    int64
	QueriesInFlight  int64
	QueryDurationMax time.Duration
}

// SetDB publishes database figures.
func (m *Locket) SetDB(s DBStats) {
	m.DBOpenConnections.Set(float64(s.OpenConnections))
	m.DBWaitDuration.SetTotal(s.WaitDuration.Seconds())
	m.DBWaitCount.SetTotal(float64(s.WaitCount))
	m.DBQueriesTotal.SetTotal(float64(s.QueriesTotal))
	m.DBQueriesSucceeded.SetTotal(float64(s.QueriesSucceeded))
	m.DBQueriesFailed.SetTotal(float64(s.QueriesFailed))
	m.DBQueriesInFlight.Set(float64(s.QueriesInFlight))
	m.DBQueryDurationMax.Set(s.QueryDurationMax.Seconds())
}
