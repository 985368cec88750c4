// Package expiry runs each server's expiry loop: heartbeat, grace after a
// full outage, adoption of rows renewed by upstream servers, and deletion of
// expired locks (docs/architecture.md, "Storage design").
//
// Every decision is taken on the database's clock, so any number of servers
// can run the loop against one database: exactly one of them deletes (and
// logs) each expired lock.
package expiry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/store"
)

// Options of a Sweeper; zero values take the defaults.
type Options struct {
	// ServerID names this server's heartbeat row (unique per server, stable
	// across restarts is not needed); default: random. Address is recorded
	// with it for operators.
	ServerID, Address string
	Interval          time.Duration // between sweeps; default 100ms
	AdoptInterval     time.Duration // between scans for upstream-written rows; default 1s
	// OutageThreshold: no heartbeat of any server newer than this means no
	// server was serving, and locks get one TTL of grace. Default 2s.
	OutageThreshold time.Duration
	// HistoryRetention: ownership changes older than this are pruned (every
	// minute); 0 keeps them forever.
	HistoryRetention time.Duration
}

// Defaults of Options.
const (
	DefaultInterval        = 100 * time.Millisecond
	DefaultAdoptInterval   = time.Second
	DefaultOutageThreshold = 2 * time.Second

	// Heartbeats of servers gone this long are deleted.
	pruneAge = time.Hour

	historyPruneInterval = time.Minute
)

// pruneHistory deletes ownership changes past the retention. Every server
// does it; the deletes are idempotent.
func (s *Sweeper) pruneHistory(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := s.st.PruneHistory(ctx, s.o.HistoryRetention)
	if err != nil {
		s.logger.Error("prune-history-failed", err)
		return
	}
	if n > 0 {
		s.logger.Info("pruned-history", lager.Data{"events": n, "retention": s.o.HistoryRetention.String()})
	}
}

// Sweeper is one server's expiry loop.
type Sweeper struct {
	st        *store.Store
	logger    lager.Logger
	o         Options
	onExpired func(store.Lock)
}

// New returns a Sweeper. onExpired, if not nil, is called for each lock this
// server removed, from the loop itself: it must not block.
func New(st *store.Store, logger lager.Logger, o Options, onExpired func(store.Lock)) *Sweeper {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.AdoptInterval <= 0 {
		o.AdoptInterval = DefaultAdoptInterval
	}
	if o.OutageThreshold <= 0 {
		o.OutageThreshold = DefaultOutageThreshold
	}
	if o.ServerID == "" {
		// Heartbeats need an id per server; without one, a random one.
		var b [8]byte
		rand.Read(b[:])
		o.ServerID = "locket-" + hex.EncodeToString(b[:])
	}
	if onExpired == nil {
		onExpired = func(store.Lock) {}
	}
	return &Sweeper{st: st, logger: logger.Session("expiry"), o: o, onExpired: onExpired}
}

// Run sweeps every Interval until ctx is done, then removes this server's
// heartbeat and returns nil. Database errors are logged once per outage and
// retried on the next tick.
func (s *Sweeper) Run(ctx context.Context) error {
	var (
		lastPrune time.Time
		lastAdopt time.Time
		failing   bool // since the first failed tick of this outage
		failedAt  time.Time
		failures  int
	)
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		// Half a tick early rather than a whole tick late.
		start := time.Now()
		adopt := start.Sub(lastAdopt) >= s.o.AdoptInterval-s.o.Interval/2
		err := s.tick(ctx, adopt)
		switch {
		case err != nil && ctx.Err() != nil:
			// Stopping; not an outage.
		case err != nil:
			failures++
			if !failing {
				failing, failedAt = true, time.Now()
				s.logger.Error("sweep-failed", err)
			} else {
				s.logger.Debug("sweep-failed-again", lager.Data{"error": err.Error()})
			}
		default:
			if failing {
				s.logger.Info("sweep-recovered", lager.Data{
					"failed-sweeps": failures, "duration": time.Since(failedAt).String(),
				})
				failing, failures = false, 0
			}
			if adopt {
				lastAdopt = start
			}
			if s.o.HistoryRetention > 0 && time.Since(lastPrune) >= historyPruneInterval {
				lastPrune = time.Now()
				s.pruneHistory(ctx)
			}
		}
		select {
		case <-ctx.Done():
			s.stop()
			return nil
		case <-t.C:
		}
	}
}

// tick is one round: grace if no server was serving, heartbeat, adoption
// (every AdoptInterval), sweep. The order matters: grace comes before this
// server's heartbeat, so a server that sees another's fresh heartbeat knows
// the grace (if one was due) is already granted, and before any sweep.
func (s *Sweeper) tick(ctx context.Context, adopt bool) error {
	// A tick slower than the outage threshold is an outage anyway.
	ctx, cancel := context.WithTimeout(ctx, s.o.OutageThreshold)
	defer cancel()

	age, found, err := s.st.NewestHeartbeat(ctx)
	if err != nil {
		return err
	}
	if !found || age > s.o.OutageThreshold {
		n, err := s.st.GrantGrace(ctx)
		if err != nil {
			return err
		}
		data := lager.Data{"locks": n}
		if found {
			data["no-heartbeat-for"] = age.String()
		}
		s.logger.Info("granted-grace-after-outage", data)
	}
	if err := s.st.Heartbeat(ctx, s.o.ServerID, s.o.Address); err != nil {
		return err
	}
	if adopt {
		n, err := s.st.Adopt(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			s.logger.Debug("adopted-rows-renewed-elsewhere", lager.Data{"rows": n})
		}
		if _, err := s.st.PruneServers(ctx, pruneAge); err != nil {
			return err
		}
	}
	gone, err := s.st.Sweep(ctx)
	for _, l := range gone {
		s.logger.Info("lock-expired", lager.Data{
			"key": l.Key, "owner": l.Owner, "type": l.Type, "modified-index": l.ModifiedIndex,
		})
		s.onExpired(l)
	}
	return err
}

// stop removes this server's heartbeat: when it was the last one serving,
// the next server to start then grants grace even if it starts within the
// outage threshold (no server was serving in between).
func (s *Sweeper) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.st.RemoveServer(ctx, s.o.ServerID); err != nil {
		s.logger.Debug("remove-heartbeat-failed", lager.Data{"error": err.Error()})
	}
}
