package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"code.cloudfoundry.org/clock"
	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/locket"
	"code.cloudfoundry.org/locket/lock"
	"code.cloudfoundry.org/locket/models"
	"github.com/tedsuo/ifrit"
	"google.golang.org/grpc"

	"github.com/locket-release/locket/internal/testenv"
)

const (
	fleetConns    = 100 // client connections the presences share
	fleetTTL      = 15  // rep's and BBS's TTL (s)
	fleetCheckGap = 5 * time.Second
	// fleetSettleLimit bounds the wait for every presence to be acquired.
	fleetSettleLimit = time.Minute
	// fleetLatencyPeriod: the progress log shows renewal latency per period.
	fleetLatencyPeriod = 10 * time.Second
)

// FleetResult is what one server did under the fleet.
type FleetResult struct {
	Lat          Latencies // renewals in the window
	Failed       int       // failed Lock calls in the window
	Window       time.Duration
	NeverSeen    int // presences never seen in the table
	Lost         int // presences seen in the table and later missing
	Expired      int // the server's lock-expired lines in the window
	LostLogs     int // runners' lost-lock lines in the window
	LocksExited  []string
	CPU          time.Duration
	ClientCPU    time.Duration // this program's CPU in the window
	Steal        float64       // % of the machine's CPU time the host took for others in the window
	RSS          int64
	ErrorLines   []string
	Presences    int
	LockPresence map[string]bool // bbs, auctioneer present at the end
	// SettleTime: from the ramp's end until every presence was in the
	// table; Settled is false when that did not happen within the limit.
	SettleTime time.Duration
	Settled    bool
	// ServerLat: the server's own latency of the window's Locks, and DBLat
	// its database round trips (ours only: its RequestLatency and
	// DBQueryDuration histograms); empty when unknown.
	ServerLat, DBLat LatencyHistogram
}

// Fleet: Presences presences (upstream's presence runner, as rep runs it:
// TTL 15 s, renewed every 5 s), plus the bbs and auctioneer locks (upstream's
// lock runner), for FleetDuration after a ramp, once per server.
func (b *Bench) Fleet(ctx context.Context, driver string) error {
	dbs, cleanup, err := b.databases(ctx, driver, string(Ours), string(Upstream))
	if err != nil {
		return err
	}
	defer cleanup()
	results := map[Kind]FleetResult{}
	for _, kind := range Kinds {
		res, err := b.fleetRun(ctx, kind, dbs[string(kind)])
		if err != nil {
			return fmt.Errorf("%s server: %w", kind, err)
		}
		results[kind] = res
		inside := ""
		if p99, ok := res.ServerLat.Quantile(0.99); ok {
			db99, _ := res.DBLat.Quantile(0.99)
			inside = fmt.Sprintf(" (inside the server %.1f ms; database round trips p99 %.1f ms)", ms(p99), ms(db99))
		}
		b.Env.logf("   %-8s %d renewals in %s (%.0f/s) p50 %.1f ms p99 %.1f ms%s max %.0f ms, %d failed, lost %d, never seen %d, expired %d, server cpu %.1fs, client cpu %.1fs, rss %.0f MB, %d error lines, steal %.1f%%, load %s",
			kind, len(res.Lat), res.Window.Round(time.Second), float64(len(res.Lat))/res.Window.Seconds(),
			ms(Percentile(res.Lat, 50)), ms(Percentile(res.Lat, 99)), inside, ms(Percentile(res.Lat, 100)), res.Failed,
			res.Lost, res.NeverSeen, res.Expired, res.CPU.Seconds(), res.ClientCPU.Seconds(), float64(res.RSS)/(1<<20), len(res.ErrorLines), res.Steal, loadAvg())
	}
	b.Report.Fleet(driver, b.Sizes.Presences, b.Sizes.FleetDuration, results)
	return nil
}

func (b *Bench) fleetRun(ctx context.Context, kind Kind, db testenv.Database) (FleetResult, error) {
	n := b.Sizes.Presences
	res := FleetResult{Presences: n}
	s, err := b.Env.StartServer(ctx, kind, db)
	if err != nil {
		return res, err
	}
	defer s.Stop()
	conns, err := b.Env.Clients(s.Address, fleetConns)
	if err != nil {
		return res, err
	}
	rec := &Recorder{}
	sink := &countingSink{}
	logger := lager.NewLogger("fleet")
	logger.RegisterSink(sink)

	// Start the runners evenly over one retry interval, as cells that came
	// up at different times, so the renewals are spread out.
	var procs []ifrit.Process
	var procsMu sync.Mutex
	addProc := func(r ifrit.Runner) {
		p := ifrit.Background(r)
		procsMu.Lock()
		procs = append(procs, p)
		procsMu.Unlock()
	}
	clk := clock.NewClock()
	lockExits := map[string]<-chan error{}
	for _, key := range []string{"bbs", "auctioneer"} {
		r := lock.NewLockRunner(logger, timedClient{conns[0], rec}, &models.Resource{Key: key, Owner: newUUID(), TypeCode: models.LOCK},
			fleetTTL, clk, locket.RetryInterval)
		p := ifrit.Background(r)
		lockExits[key] = p.Wait()
		procsMu.Lock()
		procs = append(procs, p)
		procsMu.Unlock()
	}
	ramp := locket.RetryInterval
	rampStart := time.Now()
	rampDone := make(chan struct{})
	go func() {
		defer close(rampDone)
		for i := range n {
			if ctx.Err() != nil {
				return
			}
			if d := time.Until(rampStart.Add(time.Duration(i) * ramp / time.Duration(n))); d > 0 {
				time.Sleep(d)
			}
			key := fmt.Sprintf("cell-%05d", i)
			addProc(lock.NewPresenceRunner(logger, timedClient{conns[i%fleetConns], rec},
				&models.Resource{Key: key, Owner: newUUID(), Value: cellValue(key), TypeCode: models.PRESENCE},
				fleetTTL, clk, locket.RetryInterval))
		}
	}()
	stopAll := func() {
		<-rampDone
		procsMu.Lock()
		ps := append([]ifrit.Process(nil), procs...)
		procsMu.Unlock()
		// With the server gone the Releases fail at once; a runner blocked
		// in a renewal gives up within its 5 s deadline and then exits on
		// its own: no need to wait for it. The server has nothing left to
		// do well: kill it rather than wait for its graceful stop.
		s.Kill()
		for _, p := range ps {
			p.Signal(os.Interrupt)
		}
	}
	defer stopAll()

	<-rampDone

	h, err := openSQL(db, 1)
	if err != nil {
		return res, err
	}
	defer h.Close()
	seen := map[string]bool{}
	lost := map[string]bool{}
	present := map[string]bool{}
	check := func() error {
		rows, err := h.QueryContext(ctx, "SELECT path FROM locks")
		if err != nil {
			return fmt.Errorf("read the table: %w", err)
		}
		defer rows.Close()
		now := map[string]bool{}
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			now[p] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		for k := range seen {
			if !now[k] {
				lost[k] = true
			}
		}
		for k := range now {
			seen[k] = true
		}
		present = now
		return nil
	}
	// The window starts once the ramp has settled: every presence is in
	// the table (or fleetSettleLimit has passed: an overloaded server may
	// never get there), then one retry interval, so that every runner has
	// renewed since. A server that falls behind during the ramp (10,000
	// acquisitions in 5 s) has a backlog of calls; measuring from the ramp's
	// end would report that backlog, not the fleet's steady state. How long
	// settling took is reported as a figure of its own.
	settleStart := time.Now()
	for {
		if err := check(); err != nil {
			return res, err
		}
		acquired := 0
		for k := range present {
			if strings.HasPrefix(k, "cell-") {
				acquired++
			}
		}
		if acquired >= n {
			res.Settled = true
			break
		}
		if time.Since(settleStart) >= fleetSettleLimit || ctx.Err() != nil {
			break
		}
		sleep(ctx, 500*time.Millisecond)
	}
	res.SettleTime = time.Since(settleStart)
	sleep(ctx, locket.RetryInterval)

	b.Env.logf("   %s: %d presences started; all in the table %s after the ramp (settled: %v); measuring for %s",
		kind, n, res.SettleTime.Round(100*time.Millisecond), res.Settled, b.Sizes.FleetDuration)
	mark := s.LineCount()
	lostLogs0 := sink.count("lost-lock")
	cpu0, err := s.CPU()
	if err != nil {
		return res, err
	}
	self0, _ := procCPU("self")
	machine0, machineOK := readCPUTimes()
	var lat0, db0 LatencyHistogram
	if kind == Ours {
		if lat0, db0, err = s.Latencies(ctx, "Lock"); err != nil {
			return res, err
		}
	}
	start := time.Now()
	rec.Start()
	profiled := s.Profile(b.Sizes.FleetDuration)
	defer profiled()
	end := start.Add(b.Sizes.FleetDuration)
	for time.Now().Before(end) && ctx.Err() == nil {
		sleep(ctx, min(fleetCheckGap, time.Until(end)))
		if err := check(); err != nil {
			return res, err
		}
	}
	rec.Stop()
	res.Window = time.Since(start)
	if res.CPU, err = s.CPU(); err != nil {
		return res, err
	}
	if kind == Ours {
		lat1, db1, err := s.Latencies(ctx, "Lock")
		if err != nil {
			return res, err
		}
		if res.ServerLat, err = lat1.Since(lat0); err != nil {
			return res, err
		}
		if res.DBLat, err = db1.Since(db0); err != nil {
			return res, err
		}
	}
	res.CPU -= cpu0
	self1, _ := procCPU("self")
	res.ClientCPU = self1 - self0
	if machine1, ok := readCPUTimes(); ok && machineOK {
		_, res.Steal, _ = machine1.since(machine0)
	}
	if res.RSS, err = s.RSS(); err != nil {
		return res, err
	}
	if s.Exited() {
		return res, fmt.Errorf("server exited during the fleet:\n%s", s.tail(20))
	}
	var perPeriod []string
	for i, l := range rec.Buckets(fleetLatencyPeriod) {
		perPeriod = append(perPeriod, fmt.Sprintf("%ds: %.0f/%.0f", int(fleetLatencyPeriod.Seconds())*i,
			ms(Percentile(l, 50)), ms(Percentile(l, 99))))
	}
	b.Env.logf("   %s: renewal p50/p99 ms per %s of the window: %s", kind, fleetLatencyPeriod, strings.Join(perPeriod, ", "))
	all, failed := rec.Snapshot()
	res.Lat, res.Failed = all, failed
	res.LostLogs = sink.count("lost-lock") - lostLogs0
	res.Expired = s.CountMessages(mark, "lock-expired")
	res.ErrorLines = s.ErrorLines(mark)
	res.Lost = len(lost)
	for i := range n {
		if !seen[fmt.Sprintf("cell-%05d", i)] {
			res.NeverSeen++
		}
	}
	res.LockPresence = map[string]bool{}
	for key, ch := range lockExits {
		res.LockPresence[key] = present[key]
		select {
		case err := <-ch:
			res.LocksExited = append(res.LocksExited, fmt.Sprintf("%s: %v", key, err))
		default:
		}
	}
	return res, ctx.Err()
}

// timedClient is upstream's client recording the duration of every Lock.
type timedClient struct {
	models.LocketClient
	rec *Recorder
}

func (c timedClient) Lock(ctx context.Context, in *models.LockRequest, opts ...grpc.CallOption) (*models.LockResponse, error) {
	t0 := time.Now()
	resp, err := c.LocketClient.Lock(ctx, in, opts...)
	c.rec.Add(time.Since(t0), err != nil)
	return resp, err
}

// countingSink counts the runners' log messages by name.
type countingSink struct {
	mu sync.Mutex
	n  map[string]*atomic.Int64
}

func (s *countingSink) Log(l lager.LogFormat) {
	msg := l.Message
	if i := strings.LastIndexByte(msg, '.'); i >= 0 {
		msg = msg[i+1:]
	}
	s.mu.Lock()
	if s.n == nil {
		s.n = map[string]*atomic.Int64{}
	}
	c := s.n[msg]
	if c == nil {
		c = &atomic.Int64{}
		s.n[msg] = c
	}
	s.mu.Unlock()
	c.Add(1)
}

func (s *countingSink) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.n[msg]; c != nil {
		return int(c.Load())
	}
	return 0
}
