package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"code.cloudfoundry.org/locket/models"
)

// FetchAll: FetchAllCallers callers calling FetchAll(PRESENCE) back to back
// with Presences presences stored, alternating ours and upstream.
func (b *Bench) FetchAll(ctx context.Context, driver string) error {
	dbs, cleanup, err := b.databases(ctx, driver, string(Ours), string(Upstream))
	if err != nil {
		return err
	}
	defer cleanup()
	n, callers := b.Sizes.Presences, b.Sizes.FetchAllCallers
	results := map[string][]LoopResult{}
	rss := map[string][]float64{}
	populated := map[Kind]bool{}
	for r := range b.Env.Opts.Rounds {
		for _, kind := range Kinds {
			err := b.withServer(ctx, kind, dbs[string(kind)], func(s *Server) error {
				if !populated[kind] {
					if err := b.populate(ctx, driver, s, n); err != nil {
						return err
					}
					populated[kind] = true
				}
				clients, err := b.Env.Clients(s.Address, callers)
				if err != nil {
					return err
				}
				req := &models.FetchAllRequest{TypeCode: models.PRESENCE}
				res, err := closedLoop(ctx, callers, b.Env.Opts.Window/4, b.Env.Opts.Window, s.CPU, func(ctx context.Context, i int) error {
					ctx, cancel := context.WithTimeout(ctx, callTimeout)
					defer cancel()
					resp, err := clients[i].FetchAll(ctx, req)
					if err != nil {
						return err
					}
					if len(resp.Resources) != n {
						return fmt.Errorf("FetchAll returned %d presences, want %d", len(resp.Resources), n)
					}
					return nil
				})
				if err != nil {
					return err
				}
				m, err := s.RSS()
				if err != nil {
					return err
				}
				results[string(kind)] = append(results[string(kind)], res)
				rss[string(kind)] = append(rss[string(kind)], float64(m)/(1<<20))
				b.Env.logf("   round %d %-8s %7.1f calls/s p50 %7.2f ms p99 %7.2f ms rss %.0f MB errors %v",
					r+1, kind, res.Rate(), ms(Percentile(res.Lat, 50)), ms(Percentile(res.Lat, 99)), float64(m)/(1<<20), res.Errors)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	b.Report.FetchAll(driver, n, callers, results, rss)
	return nil
}

// populate stores n presences (TTL one hour) through the server, 64 at a
// time, as that many reps would.
func (b *Bench) populate(ctx context.Context, driver string, s *Server, total int) error {
	const workers = 64
	clients, err := b.Env.Clients(s.Address, workers)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var retries atomic.Int64
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				key := fmt.Sprintf("cell-%05d", i)
				req := &models.LockRequest{
					Resource:     &models.Resource{Key: key, Owner: newUUID(), Value: cellValue(key), TypeCode: models.PRESENCE},
					TtlInSeconds: 3600,
				}
				// Upstream's SELECT ... FOR UPDATE of a missing row deadlocks
				// with concurrent inserts on MySQL; a rep would retry.
				var err error
				for attempt := 0; attempt < 10; attempt++ {
					if _, err = lockCall(ctx, clients[w], req); err == nil {
						break
					}
					retries.Add(1)
					sleep(ctx, 10*time.Millisecond)
				}
				if err != nil {
					errs[w] = fmt.Errorf("store presence %s: %w", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if n := retries.Load(); n > 0 {
		b.Report.Note("FetchAll (%s): storing %d presences through the %s server took %d retries (failed Locks)", driver, total, s.Kind, n)
	}
	return nil
}
