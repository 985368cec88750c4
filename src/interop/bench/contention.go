package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"code.cloudfoundry.org/locket/models"
)

// contentionTTL is short so that upstream's expiry timers of released locks
// fire within the round (they log errors when they find another owner).
const contentionTTL = 1

// Contention: Contenders owners on one key, each in a closed loop: Lock, and
// Release right after it got the lock, so the lock changes hands all the
// time. Counts every call and the server's error-level log lines.
func (b *Bench) Contention(ctx context.Context, driver string) error {
	dbs, cleanup, err := b.databases(ctx, driver, string(Ours), string(Upstream))
	if err != nil {
		return err
	}
	defer cleanup()
	n := b.Sizes.Contenders
	results := map[string][]LoopResult{}
	errLines := map[string][]string{}
	for r := range b.Env.Opts.Rounds {
		for _, kind := range Kinds {
			err := b.withServer(ctx, kind, dbs[string(kind)], func(s *Server) error {
				clients, err := b.Env.Clients(s.Address, n)
				if err != nil {
					return err
				}
				holding := make([]bool, n)
				res := make([]*models.Resource, n)
				for i := range n {
					res[i] = &models.Resource{Key: "bench-contention", Owner: fmt.Sprintf("owner-%02d", i), TypeCode: models.LOCK}
				}
				mark := s.LineCount()
				lr, err := closedLoop(ctx, n, b.Env.Opts.Window/4, b.Env.Opts.Window, s, func(ctx context.Context, i int) error {
					if holding[i] {
						ctx, cancel := context.WithTimeout(ctx, callTimeout)
						defer cancel()
						_, err := clients[i].Release(ctx, &models.ReleaseRequest{Resource: res[i]})
						holding[i] = false
						return err
					}
					_, err := lockCall(ctx, clients[i], &models.LockRequest{Resource: res[i], TtlInSeconds: contentionTTL})
					holding[i] = err == nil
					return err
				})
				if err != nil {
					return err
				}
				// Let the expiry timers of the last acquisitions fire.
				sleep(ctx, contentionTTL*time.Second+500*time.Millisecond)
				lines := s.ErrorLines(mark)
				lr.ErrorLines = len(lines)
				errLines[string(kind)] = append(errLines[string(kind)], lines...)
				results[string(kind)] = append(results[string(kind)], lr)
				b.Env.logf("   round %d %-8s %8.0f calls/s p50 %6.2f ms p99 %6.2f ms, %d error lines, steal %.1f%%, outcomes %v",
					r+1, kind, lr.Rate(), ms(Percentile(lr.Lat, 50)), ms(Percentile(lr.Lat, 99)), len(lines), lr.Steal, lr.Errors)
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	b.Report.Contention(driver, n, results, errLines)
	return nil
}

// messageCounts summarises log lines by message: "msg x N, ...".
func messageCounts(lines []string) string {
	counts := map[string]int{}
	for _, line := range lines {
		var l struct {
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &l) != nil || l.Message == "" {
			l.Message = "(not JSON)"
		}
		counts[l.Message]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	out := ""
	for i, k := range keys {
		if i == 6 {
			out += ", ..."
			break
		}
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("`%s` x %d", k, counts[k])
	}
	return out
}
