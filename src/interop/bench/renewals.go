package bench

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"code.cloudfoundry.org/locket/models"

	"github.com/locket-release/locket/internal/testenv"
)

const callTimeout = 10 * time.Second

// Renewals: RenewCallers callers, each renewing its own key in a closed loop,
// alternating ours and upstream, then the database's own limit: a bare
// one-row conditional UPDATE loop at the same concurrency, no gRPC.
func (b *Bench) Renewals(ctx context.Context, driver string) error {
	dbs, cleanup, err := b.databases(ctx, driver, string(Ours), string(Upstream), "bare")
	if err != nil {
		return err
	}
	defer cleanup()
	n := b.Sizes.RenewCallers
	opts := b.Env.Opts
	results := map[string][]LoopResult{}
	for r := range opts.Rounds {
		for _, kind := range Kinds {
			err := b.withServer(ctx, kind, dbs[string(kind)], func(s *Server) error {
				res, err := b.renewRound(ctx, s, n)
				if err != nil {
					return err
				}
				results[string(kind)] = append(results[string(kind)], res)
				b.Env.logf("   round %d %-8s %8.0f renewals/s p50 %6.2f ms p99 %6.2f ms server cpu %.2fs client cpu %.2fs db cpu %.2fs busy %.0f%% steal %.1f%% load %s errors %v",
					r+1, kind, res.Rate(), ms(Percentile(res.Lat, 50)), ms(Percentile(res.Lat, 99)), res.CPU.Seconds(), res.SelfCPU.Seconds(), res.DBCPU.Seconds(), res.Busy, res.Steal, loadAvg(), res.Errors)
				return nil
			})
			if err != nil {
				return err
			}
		}
		res, err := bareUpdates(ctx, dbs["bare"], n, opts.Window)
		if err != nil {
			return fmt.Errorf("bare UPDATE loop: %w", err)
		}
		results["bare"] = append(results["bare"], res)
		b.Env.logf("   round %d %-8s %8.0f updates/s  p50 %6.2f ms p99 %6.2f ms client cpu %.2fs db cpu %.2fs busy %.0f%% steal %.1f%% load %s errors %v",
			r+1, "bare", res.Rate(), ms(Percentile(res.Lat, 50)), ms(Percentile(res.Lat, 99)), res.SelfCPU.Seconds(), res.DBCPU.Seconds(), res.Busy, res.Steal, loadAvg(), res.Errors)
	}
	b.Report.Renewals(driver, n, results)
	return nil
}

func (b *Bench) renewRound(ctx context.Context, s *Server, n int) (LoopResult, error) {
	clients, err := b.Env.Clients(s.Address, n)
	if err != nil {
		return LoopResult{}, err
	}
	reqs := make([]*models.LockRequest, n)
	for i := range n {
		key := fmt.Sprintf("bench-renew-%02d", i)
		reqs[i] = &models.LockRequest{
			Resource:     &models.Resource{Key: key, Owner: "owner-" + key, Value: cellValue(key), TypeCode: models.PRESENCE},
			TtlInSeconds: 15,
		}
	}
	// Each caller's first Lock, in the warm-up, acquires its key (or renews
	// what the previous round left); the window sees only renewals.
	return closedLoop(ctx, n, b.Env.Opts.Window/4, b.Env.Opts.Window, s, func(ctx context.Context, i int) error {
		_, err := lockCall(ctx, clients[i], reqs[i])
		return err
	})
}

func lockCall(ctx context.Context, c models.LocketClient, req *models.LockRequest) (*models.LockResponse, error) {
	ctx, cancel := context.WithTimeout(requestContext(ctx), callTimeout)
	defer cancel()
	return c.Lock(ctx, req)
}

// bareUpdates measures the database's own limit: n connections, each running
// a one-row conditional UPDATE of its own row (the shape of a renewal) back
// to back through a prepared statement, one round trip each.
func bareUpdates(ctx context.Context, db testenv.Database, n int, window time.Duration) (LoopResult, error) {
	h, err := openSQL(db, n)
	if err != nil {
		return LoopResult{}, err
	}
	defer h.Close()
	// The columns of upstream's locks table.
	create := `CREATE TABLE IF NOT EXISTS bench_updates (
		path VARCHAR(255) PRIMARY KEY, owner VARCHAR(255), value VARCHAR(4096), type VARCHAR(255) DEFAULT '',
		modified_index BIGINT DEFAULT 0, modified_id VARCHAR(255) DEFAULT '', ttl BIGINT DEFAULT 0)`
	if _, err := h.ExecContext(ctx, create); err != nil {
		return LoopResult{}, fmt.Errorf("create table: %w", err)
	}
	for i := range n {
		key := fmt.Sprintf("bench-renew-%02d", i)
		_, err := h.ExecContext(ctx, rebind(db.Driver, `INSERT INTO bench_updates (path, owner, value, type, modified_index, modified_id, ttl)
			SELECT ?, ?, ?, 'presence', 1, 'id', 15 WHERE NOT EXISTS (SELECT 1 FROM bench_updates WHERE path = ?)`),
			key, "owner-"+key, cellValue(key), key)
		if err != nil {
			return LoopResult{}, fmt.Errorf("insert row: %w", err)
		}
	}
	stmt, err := h.PrepareContext(ctx, rebind(db.Driver,
		`UPDATE bench_updates SET modified_index = modified_index + 1, value = ?, ttl = ? WHERE path = ? AND owner = ?`))
	if err != nil {
		return LoopResult{}, fmt.Errorf("prepare: %w", err)
	}
	defer stmt.Close()
	keys := make([]string, n)
	values := make([]string, n)
	for i := range n {
		keys[i] = fmt.Sprintf("bench-renew-%02d", i)
		values[i] = cellValue(keys[i])
	}
	return closedLoop(ctx, n, window/4, window, nil, func(ctx context.Context, i int) error {
		ctx, cancel := context.WithTimeout(ctx, callTimeout)
		defer cancel()
		res, err := stmt.ExecContext(ctx, values[i], 15, keys[i], "owner-"+keys[i])
		return checkOneRow(res, err)
	})
}

func checkOneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("%d rows updated, want 1", n)
	}
	return nil
}
