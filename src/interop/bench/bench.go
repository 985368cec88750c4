// Package bench measures our Locket server against upstream Locket v1.5.0 in
// the same run, on the same machine and databases, driven by upstream's Go
// client and runners (as BBS and rep use them). Repeated workloads alternate
// ours, upstream, ours, upstream... and report medians and ratios. It asserts
// nothing about speed: a run fails only when something is broken.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/locket-release/locket/internal/testenv"
)

// Options choose what a run does.
type Options struct {
	OursBin, UpstreamBin string
	Self                 string // this program, re-run as a holder process for the handoffs

	Quick       bool
	Drivers     []string // databases of the per-driver workloads
	FleetDriver string   // database of the fleet and handoff workloads
	Workloads   []string // subset to run; empty: all
	Rounds      int      // alternating rounds of the repeated workloads
	Window      time.Duration
	DBConns     int           // max_open_database_connections of both servers
	OurRetry    time.Duration // retry interval of our client's runner in the handoffs (0: its default)
	LogDir      string        // keep the tail of every server's log here ("" : nowhere)
	ProfileDir  string        // write each server's CPU and allocation profiles of every measurement window here ("": none)
	Progress    io.Writer
}

// Sizes are the workload parameters; Quick shrinks them.
type Sizes struct {
	RenewCallers    int
	Presences       int // FetchAll data set and fleet size
	FetchAllCallers int
	Contenders      int
	FleetDuration   time.Duration
	Handoffs        int // graceful handoffs per runner
	HandoffChains   int // run in parallel on as many keys
	Crashes         int
	CrashTTL        int64
	ExpiryLocks     int
}

// Workload names, in the order a run takes them.
var Workloads = []string{"renewals", "fetchall", "contention", "expiry", "handoff", "crash", "fleet"}

// Bench runs workloads and collects the report.
type Bench struct {
	Env    *Env
	Sizes  Sizes
	Report *Report
}

// New prepares a run.
func New(opts Options) (*Bench, error) {
	if opts.Rounds <= 0 {
		opts.Rounds = 3
	}
	if opts.Window <= 0 {
		opts.Window = 3 * time.Second
	}
	if opts.DBConns <= 0 {
		opts.DBConns = 64
	}
	sizes := Sizes{
		RenewCallers: 64, Presences: 10000, FetchAllCallers: 4, Contenders: 32,
		FleetDuration: 2 * time.Minute, Handoffs: 20, HandoffChains: 4,
		Crashes: 4, CrashTTL: 15, ExpiryLocks: 40,
	}
	if opts.Quick {
		// Each workload runs once, briefly. The crash handoff's TTL stays
		// above the runners' 5 s retry interval, or the holder's lock would
		// expire between its own renewals.
		opts.Rounds = 1
		opts.Window = time.Second
		sizes.Presences = 500
		sizes.FleetDuration = 5 * time.Second
		sizes.Handoffs, sizes.HandoffChains = 2, 2
		sizes.Crashes, sizes.CrashTTL = 1, 6
		sizes.ExpiryLocks = 6
	}
	env, err := NewEnv(opts)
	if err != nil {
		return nil, err
	}
	return &Bench{Env: env, Sizes: sizes, Report: NewReport()}, nil
}

// Close releases what the run holds.
func (b *Bench) Close() { b.Env.Close() }

func (b *Bench) want(w string) bool {
	return len(b.Env.Opts.Workloads) == 0 || slices.Contains(b.Env.Opts.Workloads, w)
}

// Run runs the chosen workloads; a workload that breaks is recorded and the
// run goes on with the next one.
func (b *Bench) Run(ctx context.Context) {
	opts := b.Env.Opts
	b.Report.Start(opts, b.Sizes, func(d string) string { return b.Env.DBVersion(ctx, d) })
	perDriver := []struct {
		name string
		f    func(context.Context, string) error
	}{
		{"renewals", b.Renewals},
		{"fetchall", b.FetchAll},
		{"contention", b.Contention},
		{"expiry", b.Expiry},
	}
	for _, driver := range opts.Drivers {
		for _, w := range perDriver {
			if b.want(w.name) && ctx.Err() == nil {
				b.run(ctx, w.name, driver, w.f)
			}
		}
	}
	// The handoffs wait on timers (TTLs, retry intervals) far more than they
	// work, so the graceful and crash handoffs run side by side.
	var wg sync.WaitGroup
	for _, w := range []struct {
		name string
		f    func(context.Context, string) error
	}{{"handoff", b.Handoff}, {"crash", b.Crash}} {
		if b.want(w.name) && ctx.Err() == nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.run(ctx, w.name, opts.FleetDriver, w.f)
			}()
		}
	}
	wg.Wait()
	if b.want("fleet") && ctx.Err() == nil {
		b.run(ctx, "fleet", opts.FleetDriver, b.Fleet)
	}
	b.Report.Finish()
}

func (b *Bench) run(ctx context.Context, name, driver string, f func(context.Context, string) error) {
	// What the machine does while none of this run's processes work: other
	// people's builds and tests share the cores.
	busy := cpuBusy(500 * time.Millisecond)
	b.Report.Busy(busy)
	start := time.Now()
	b.Env.logf("== %s on %s (load %s, machine CPU busy before it %.0f%%)", name, driver, loadAvg(), busy)
	if err := f(ctx, driver); err != nil {
		b.Env.logf("!! %s on %s failed: %v", name, driver, err)
		b.Report.Fail(fmt.Sprintf("%s on %s: %v", name, driver, err))
	}
	b.Env.logf("   %s on %s took %s (load %s)", name, driver, time.Since(start).Round(100*time.Millisecond), loadAvg())
	b.Report.Timing(name, driver, time.Since(start))
}

// withServer starts a server of kind on db, runs f, and stops the server.
func (b *Bench) withServer(ctx context.Context, kind Kind, db testenv.Database, f func(*Server) error) error {
	s, err := b.Env.StartServer(ctx, kind, db)
	if err != nil {
		return err
	}
	defer s.Stop()
	if err := f(s); err != nil {
		return fmt.Errorf("%s server: %w", kind, err)
	}
	if s.Exited() {
		return fmt.Errorf("%s server exited during the workload:\n%s", kind, s.tail(20))
	}
	return nil
}

// databases creates one database per name on driver.
func (b *Bench) databases(ctx context.Context, driver string, names ...string) (map[string]testenv.Database, func(), error) {
	dbs := map[string]testenv.Database{}
	cleanup := func() {
		for _, db := range dbs {
			b.Env.DropDatabase(db.Name)
		}
	}
	for _, n := range names {
		db, err := b.Env.NewDatabase(ctx, driver)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		dbs[n] = db
	}
	return dbs, cleanup, nil
}

// requestContext carries a fresh request id in metadata key "uuid", as
// upstream's runners send with every Lock.
func requestContext(ctx context.Context) context.Context {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
	return metadata.AppendToOutgoingContext(ctx, "uuid", id)
}

func newUUID() string {
	ctx := requestContext(context.Background())
	md, _ := metadata.FromOutgoingContext(ctx)
	return md.Get("uuid")[0]
}

// cellValue is a rep's presence value: a JSON cell description.
func cellValue(id string) string {
	return fmt.Sprintf(`{"cell_id":%q,"rep_address":"http://10.0.16.12:1800","rep_url":"https://%s.cell.service.cf.internal:1801",`+
		`"zone":"z1","capacity":{"memory_mb":16000,"disk_mb":64000,"containers":250},`+
		`"rootfs_provider_list":[{"name":"preloaded","properties":["cflinuxfs4"]},{"name":"docker"}],`+
		`"placement_tags":[],"optional_placement_tags":[]}`, id, id)
}
