package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"code.cloudfoundry.org/locket/models"

	"github.com/locket-release/locket/internal/testenv"
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
					if err := populate(ctx, dbs[string(kind)], n); err != nil {
						return err
					}
					populated[kind] = true
				}
				// Let the server finish what it does at start and with rows
				// it has not seen yet (upstream arms a timer per lock, ours
				// adopts rows written by upstream-style writers).
				sleep(ctx, time.Second)
				clients, err := b.Env.Clients(s.Address, callers)
				if err != nil {
					return err
				}
				req := &models.FetchAllRequest{TypeCode: models.PRESENCE}
				res, err := closedLoop(ctx, callers, b.Env.Opts.Window/4, b.Env.Opts.Window, s, func(ctx context.Context, i int) error {
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
				b.Env.logf("   round %d %-8s %7.1f calls/s p50 %7.2f ms p99 %7.2f ms server cpu %.2fs client cpu %.2fs db cpu %.2fs busy %.0f%% rss %.0f MB steal %.1f%% errors %v",
					r+1, kind, res.Rate(), ms(Percentile(res.Lat, 50)), ms(Percentile(res.Lat, 99)), res.CPU.Seconds(), res.SelfCPU.Seconds(), res.DBCPU.Seconds(), res.Busy,
					float64(m)/(1<<20), res.Steal, res.Errors)
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

// populate stores total presences (TTL one hour) directly in the table of
// a running server, written as upstream writes them, in batches: storing
// them through the servers would take most of the run.
func populate(ctx context.Context, db testenv.Database, total int) error {
	h, err := openSQL(db, 1)
	if err != nil {
		return err
	}
	defer h.Close()
	const batch = 250
	for start := 0; start < total; start += batch {
		var (
			q    strings.Builder
			args []any
		)
		q.WriteString("INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl) VALUES ")
		for i := start; i < min(start+batch, total); i++ {
			if i > start {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, 'presence', 1, ?, 3600)")
			key := fmt.Sprintf("cell-%05d", i)
			args = append(args, key, newUUID(), cellValue(key), newUUID())
		}
		if _, err := h.ExecContext(ctx, rebind(db.Driver, q.String()), args...); err != nil {
			return fmt.Errorf("store presences: %w", err)
		}
	}
	return nil
}
