package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"code.cloudfoundry.org/locket/models"

	"github.com/locket-release/locket/internal/testenv"
)

const (
	expiryTTL  = 1 // seconds
	expiryPoll = 10 * time.Millisecond
)

// ExpiryResult is one server kind's expiry lags.
type ExpiryResult struct {
	Lags       Latencies // removal time minus (last renewal + TTL); may be negative
	Missing    int       // locks still there at the end
	ErrorLines []string
}

// Expiry variants: where the last renewal went.
const (
	// renewedElsewhere: acquired through one server, renewed once through
	// the other, both keep running.
	renewedElsewhere = "renewed through the other server"
	// renewerStopped: acquired and renewed through one server, which is
	// stopped right after the renewals (a rolling restart); the other
	// server has to expire the locks.
	renewerStopped = "the renewing server stopped after the renewal"
)

// Expiry: two servers of the same kind on one database, abandoned locks
// (TTL 1 s); the table is polled every 10 ms to see when each row goes.
func (b *Bench) Expiry(ctx context.Context, driver string) error {
	for _, variant := range []string{renewedElsewhere, renewerStopped} {
		dbs, cleanup, err := b.databases(ctx, driver, string(Ours), string(Upstream))
		if err != nil {
			return err
		}
		results := map[Kind]ExpiryResult{}
		for _, kind := range Kinds {
			res, err := b.expiryRun(ctx, kind, dbs[string(kind)], variant)
			if err != nil {
				cleanup()
				return fmt.Errorf("%s servers, %s: %w", kind, variant, err)
			}
			results[kind] = res
			b.Env.logf("   %-8s %s: lag p50 %6.0f ms p99 %6.0f ms min %6.0f ms max %6.0f ms, %d not removed, %d error lines",
				kind, variant, ms(Percentile(res.Lags, 50)), ms(Percentile(res.Lags, 99)), ms(Percentile(res.Lags, 0.0001)),
				ms(Percentile(res.Lags, 100)), res.Missing, len(res.ErrorLines))
		}
		cleanup()
		b.Report.Expiry(driver, variant, b.Sizes.ExpiryLocks, results)
	}
	return nil
}

func (b *Bench) expiryRun(ctx context.Context, kind Kind, db testenv.Database, variant string) (ExpiryResult, error) {
	var servers [2]*Server
	for i := range servers {
		s, err := b.Env.StartServer(ctx, kind, db)
		if err != nil {
			return ExpiryResult{}, err
		}
		defer s.Stop()
		servers[i] = s
	}
	var clients [2]models.LocketClient
	for i, s := range servers {
		c, err := b.Env.Clients(s.Address, 1)
		if err != nil {
			return ExpiryResult{}, err
		}
		clients[i] = c[0]
	}
	h, err := openSQL(db, 2)
	if err != nil {
		return ExpiryResult{}, err
	}
	defer h.Close()
	marks := [2]int{servers[0].LineCount(), servers[1].LineCount()}

	n := b.Sizes.ExpiryLocks
	ttl := time.Duration(expiryTTL) * time.Second
	var mu sync.Mutex
	renewSent := map[string]time.Time{} // when the last renewal was sent
	renewDone := map[string]time.Time{} // when its answer came
	removed := map[string]time.Time{}
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Spread the locks over a second so that they meet every phase of
			// the servers' expiry loops.
			sleep(ctx, time.Duration(i)*time.Second/time.Duration(n))
			key := fmt.Sprintf("bench-expiry-%03d", i)
			req := &models.LockRequest{
				Resource:     &models.Resource{Key: key, Owner: "owner-" + key, TypeCode: models.LOCK},
				TtlInSeconds: expiryTTL,
			}
			acquirer := clients[i%2]
			if variant == renewerStopped {
				acquirer = clients[0]
			}
			if _, err := lockCall(ctx, acquirer, req); err != nil {
				errc <- fmt.Errorf("acquire %s: %w", key, err)
				return
			}
			sleep(ctx, 200*time.Millisecond)
			renewer := clients[(i+1)%2]
			if variant == renewerStopped {
				renewer = clients[0]
			}
			sent := time.Now()
			if _, err := lockCall(ctx, renewer, req); err != nil {
				errc <- fmt.Errorf("renew %s: %w", key, err)
				return
			}
			mu.Lock()
			renewSent[key], renewDone[key] = sent, time.Now()
			mu.Unlock()
		}()
	}

	stopped := false
	deadline := time.Now().Add(2*time.Second + ttl + 15*time.Second)
	q := rebind(db.Driver, "SELECT path FROM locks WHERE path LIKE ?")
	for time.Now().Before(deadline) && ctx.Err() == nil {
		start := time.Now()
		rows, err := h.QueryContext(ctx, q, "bench-expiry-%")
		if err != nil {
			return ExpiryResult{}, fmt.Errorf("poll the table: %w", err)
		}
		present := map[string]bool{}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				rows.Close()
				return ExpiryResult{}, err
			}
			present[p] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return ExpiryResult{}, err
		}
		end := time.Now()
		mu.Lock()
		for key, done := range renewDone {
			// Only rows whose renewal was answered before this poll began.
			if _, ok := removed[key]; !ok && done.Before(start) && !present[key] {
				removed[key] = end
			}
		}
		finished := len(removed) == n
		renewed := len(renewDone) == n
		mu.Unlock()
		if variant == renewerStopped && renewed && !stopped {
			servers[0].Stop()
			stopped = true
		}
		if finished {
			break
		}
		sleep(ctx, expiryPoll-time.Since(start))
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		return ExpiryResult{}, err
	}
	var res ExpiryResult
	for key, sent := range renewSent {
		if at, ok := removed[key]; ok {
			res.Lags = append(res.Lags, at.Sub(sent.Add(ttl)))
		} else {
			res.Missing++
		}
	}
	for i, s := range servers {
		res.ErrorLines = append(res.ErrorLines, s.ErrorLines(marks[i])...)
	}
	return res, nil
}
