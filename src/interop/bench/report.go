package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Row is one line of the results table. Ratio is always ours / upstream.
type Row struct {
	Workload, Metric string
	Ours, Upstream   string
	Ratio            string
	Target           string
	Met              string // "yes", "no" or "" when the target is informational
}

// Report is what a run measured, with the machine it ran on.
type Report struct {
	mu       sync.Mutex
	Command  string
	System   []string // "key: value" lines
	Started  time.Time
	Ended    time.Time
	Rows     []Row
	Notes    []string
	Failures []string
	Timings  []string
	busy     []float64
}

// Busy records the machine's CPU use sampled before a workload.
func (r *Report) Busy(pct float64) {
	r.mu.Lock()
	r.busy = append(r.busy, pct)
	r.mu.Unlock()
}

// NewReport starts an empty report.
func NewReport() *Report { return &Report{Command: strings.Join(os.Args, " ")} }

// Start records the machine and the settings.
func (r *Report) Start(o Options, s Sizes, version func(driver string) string) {
	r.Started = time.Now().UTC()
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	mode := "full"
	if o.Quick {
		mode = "quick"
	}
	r.System = []string{
		"date: " + r.Started.Format(time.RFC3339),
		fmt.Sprintf("nproc: %d", runtime.NumCPU()),
		"CPU: " + model,
		"kernel: " + strings.TrimSpace(string(kernel)),
		"Go: " + runtime.Version(),
		"MariaDB: " + version("mysql"),
		"Postgres: " + version("postgres"),
		"load average at start: " + loadAvg(),
		fmt.Sprintf("mode: %s; rounds %d x %s window; drivers %s; fleet/handoffs on %s; server pool %d connections",
			mode, o.Rounds, o.Window, strings.Join(o.Drivers, ","), o.FleetDriver, o.DBConns),
		fmt.Sprintf("sizes: %d renewal callers, %d presences, %d FetchAll callers, %d contenders, fleet %s, "+
			"%d graceful handoffs (%d chains), %d crash handoffs (TTL %d s), %d expiring locks",
			s.RenewCallers, s.Presences, s.FetchAllCallers, s.Contenders, s.FleetDuration,
			s.Handoffs, s.HandoffChains, s.Crashes, s.CrashTTL, s.ExpiryLocks),
	}
}

// Finish records the end.
func (r *Report) Finish() {
	r.Ended = time.Now().UTC()
	r.System = append(r.System, "load average at end: "+loadAvg(),
		"duration: "+r.Ended.Sub(r.Started).Round(time.Second).String())
	if len(r.busy) > 0 {
		lo, hi := slices.Min(r.busy), slices.Max(r.busy)
		r.System = append(r.System, fmt.Sprintf("machine CPU busy (all processes, sampled for 0.5 s before each workload, "+
			"when none of the benchmark's run): median %.0f%%, min %.0f%%, max %.0f%%", Median(r.busy), lo, hi))
	}
}

func (r *Report) add(rows ...Row) {
	r.mu.Lock()
	r.Rows = append(r.Rows, rows...)
	r.mu.Unlock()
}

// Note adds a remark printed under the table.
func (r *Report) Note(format string, args ...any) {
	r.mu.Lock()
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// Fail records a workload that broke.
func (r *Report) Fail(msg string) {
	r.mu.Lock()
	r.Failures = append(r.Failures, msg)
	r.mu.Unlock()
}

// Timing records how long a workload took.
func (r *Report) Timing(name, driver string, d time.Duration) {
	r.mu.Lock()
	r.Timings = append(r.Timings, fmt.Sprintf("%s/%s %s", name, driver, d.Round(100*time.Millisecond)))
	r.mu.Unlock()
}

// compare makes a row of two figures with their ratio; met, if not nil,
// judges the ratio against the target.
func compare(workload, metric, format string, ours, up float64, target string, met func(ratio float64) bool) Row {
	row := Row{Workload: workload, Metric: metric, Ours: fmt.Sprintf(format, ours), Upstream: fmt.Sprintf(format, up), Target: target}
	if up != 0 {
		ratio := ours / up
		row.Ratio = fmt.Sprintf("%.2fx", ratio)
		if ratio != 0 && ratio < 0.1 {
			row.Ratio = fmt.Sprintf("%.3fx", ratio)
		}
		if met != nil {
			row.Met = yesNo(met(ratio))
		}
	}
	return row
}

// count makes a row of two counts (failures, log lines): no ratio.
func count(workload, metric string, ours, up float64, target string, _ func(float64) bool) Row {
	return Row{Workload: workload, Metric: metric, Ours: fmt.Sprintf("%.0f", ours), Upstream: fmt.Sprintf("%.0f", up), Target: target}
}

// stealRow reports how much of the machine's CPU time the host gave to
// others (steal) during each server's windows, median and highest round: a
// CPU-bound figure drops with it, and the ratio is only as fair as the
// steal is even.
func stealRow(workload string, o, u []LoopResult) Row {
	f := func(rs []LoopResult) string {
		if len(rs) == 0 {
			return ""
		}
		highest := 0.0
		for _, r := range rs {
			highest = max(highest, r.Steal)
		}
		return fmt.Sprintf("%.1f%% (max %.1f%%)", medianOf(rs, func(r LoopResult) float64 { return r.Steal }), highest)
	}
	return Row{Workload: workload, Metric: "host CPU steal in the window, % of the machine's CPU time", Ours: f(o), Upstream: f(u), Target: "report"}
}

// failureNotes notes the kinds of failed calls of each server, summed over
// the rounds; except names expected outcomes (lock-collision).
func (r *Report) failureNotes(what string, res map[string][]LoopResult, except ...string) {
	for _, k := range Kinds {
		sum := map[string]int{}
		for _, x := range res[string(k)] {
			for e, n := range x.Errors {
				if !slices.Contains(except, e) {
					sum[e] += n
				}
			}
		}
		if len(sum) == 0 {
			continue
		}
		var parts []string
		for e, n := range sum {
			parts = append(parts, fmt.Sprintf("`%s` x %d", e, n))
		}
		slices.Sort(parts)
		r.Note("%s, %s server failed calls: %s", what, k, strings.Join(parts, ", "))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Markdown writes the report.
func (r *Report) Markdown(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "Command: `%s`\n\n", r.Command)
	for _, s := range r.System {
		fmt.Fprintf(w, "- %s\n", s)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | metric | ours | upstream | ours/upstream | target | met |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---|---|")
	for _, row := range r.Rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n",
			row.Workload, row.Metric, row.Ours, row.Upstream, row.Ratio, row.Target, row.Met)
	}
	fmt.Fprint(w, legend)
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
	if len(r.Timings) > 0 {
		fmt.Fprintf(w, "\nWorkload durations: %s\n", strings.Join(r.Timings, ", "))
	}
	if len(r.Failures) > 0 {
		fmt.Fprintln(w, "\nFAILURES (something broke; these are not speed verdicts):")
		for _, f := range r.Failures {
			fmt.Fprintf(w, "- %s\n", f)
		}
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func medianOf(rs []LoopResult, f func(LoopResult) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return Median(xs)
}

func p50ms(r LoopResult) float64 { return ms(Percentile(r.Lat, 50)) }
func p99ms(r LoopResult) float64 { return ms(Percentile(r.Lat, 99)) }
func rate(r LoopResult) float64  { return r.Rate() }

// dbCPUPer10k is the database's CPU seconds per 10,000 calls.
func dbCPUPer10k(r LoopResult) float64 {
	if r.Calls == 0 {
		return 0
	}
	return r.DBCPU.Seconds() / float64(r.Calls) * 10000
}

// clientCPUPer10k is the benchmark program's CPU seconds per 10,000 calls.
func clientCPUPer10k(r LoopResult) float64 {
	if r.Calls == 0 {
		return 0
	}
	return r.SelfCPU.Seconds() / float64(r.Calls) * 10000
}

// fetchAllCeiling bounds the FetchAll calls/s ratio any server could reach
// on this machine with this client. The client, the database and the server
// share the machine's cores, and a FetchAll window keeps them busy, so
// calls/s is about the cores divided by the CPU a call costs all three.
// Upstream's call costs its server, the client and the database; a server
// of ours that cost nothing would still leave the client's decoding and the
// database's read of our calls. Their quotient is the ratio such a server
// would reach: where it is below a target, no server change meets it.
func fetchAllCeiling(driver string, o, u []LoopResult) Row {
	perCall := func(rs []LoopResult, withServer bool) float64 {
		return medianOf(rs, func(r LoopResult) float64 {
			x := clientCPUPer10k(r) + dbCPUPer10k(r)
			if withServer {
				x += cpuPer10k(r)
			}
			return x / 10
		})
	}
	row := Row{
		Workload: fmt.Sprintf("FetchAll ceiling (%s)", driver),
		Metric: "calls/s ratio a server of ours costing no CPU would reach: upstream's server + client + " +
			"database CPU per call over ours' client + database",
		Target: "report",
	}
	if ours := perCall(o, false); ours > 0 {
		row.Ours = fmt.Sprintf("%.2fx", perCall(u, true)/ours)
	}
	return row
}

// cpuPer10k is server CPU seconds per 10,000 calls.
func cpuPer10k(r LoopResult) float64 {
	if r.Calls == 0 {
		return 0
	}
	return r.CPU.Seconds() / float64(r.Calls) * 10000
}

func errorsOf(rs []LoopResult, except ...string) int {
	n := 0
	for _, r := range rs {
		n += r.ErrorCount(except...)
	}
	return n
}

// Renewals reports the renewal and bare UPDATE rounds.
func (r *Report) Renewals(driver string, callers int, res map[string][]LoopResult) {
	o, u, bare := res[string(Ours)], res[string(Upstream)], res["bare"]
	w := fmt.Sprintf("renewals, %d callers (%s)", callers, driver)
	bareRate := medianOf(bare, rate)
	r.add(
		compare(w, "renewals/s", "%.0f", medianOf(o, rate), medianOf(u, rate), ">= 3x", func(x float64) bool { return x >= 3 }),
		compare(w, "p50 ms", "%.2f", medianOf(o, p50ms), medianOf(u, p50ms), "", nil),
		compare(w, "p99 ms", "%.2f", medianOf(o, p99ms), medianOf(u, p99ms), "<= 0.33x", func(x float64) bool { return x <= 1.0/3 }),
		count(w, "failed calls", float64(errorsOf(o)), float64(errorsOf(u)), "", nil),
		stealRow(w, o, u),
	)
	if bareRate > 0 {
		row := Row{
			Workload: fmt.Sprintf("database limit, %d callers (%s)", callers, driver),
			Metric:   fmt.Sprintf("renewals/s as %% of bare UPDATE/s (%.0f/s)", bareRate),
			Ours:     fmt.Sprintf("%.0f%%", 100*medianOf(o, rate)/bareRate),
			Upstream: fmt.Sprintf("%.0f%%", 100*medianOf(u, rate)/bareRate),
			Target:   "ours >= 50%",
			Met:      yesNo(medianOf(o, rate) >= bareRate/2),
		}
		r.add(row)
	}
	r.add(compare(fmt.Sprintf("cost (%s)", driver), "server CPU s per 10,000 renewals (closed loop)", "%.3f",
		medianOf(o, cpuPer10k), medianOf(u, cpuPer10k), "report", nil),
		compare(fmt.Sprintf("cost (%s)", driver), "database CPU s per 10,000 renewals (closed loop; bare UPDATE loop: "+
			fmt.Sprintf("%.3f", medianOf(bare, dbCPUPer10k))+")", "%.3f",
			medianOf(o, dbCPUPer10k), medianOf(u, dbCPUPer10k), "report", nil))
	r.failureNotes(fmt.Sprintf("renewals (%s)", driver), res)
}

// FetchAll reports the FetchAll rounds.
func (r *Report) FetchAll(driver string, presences, callers int, res map[string][]LoopResult, rss map[string][]float64) {
	o, u := res[string(Ours)], res[string(Upstream)]
	w := fmt.Sprintf("FetchAll, %d presences, %d callers (%s)", presences, callers, driver)
	r.add(
		compare(w, "calls/s", "%.1f", medianOf(o, rate), medianOf(u, rate), ">= 3x", func(x float64) bool { return x >= 3 }),
		compare(w, "p50 ms", "%.2f", medianOf(o, p50ms), medianOf(u, p50ms), "<= 0.33x", func(x float64) bool { return x <= 1.0/3 }),
		compare(w, "p99 ms", "%.2f", medianOf(o, p99ms), medianOf(u, p99ms), "", nil),
		count(w, "failed calls", float64(errorsOf(o)), float64(errorsOf(u)), "", nil),
		stealRow(w, o, u),
		compare(fmt.Sprintf("cost (%s)", driver), "server CPU ms per FetchAll call", "%.2f",
			medianOf(o, cpuPer10k)/10, medianOf(u, cpuPer10k)/10, "report", nil),
		compare(fmt.Sprintf("cost (%s)", driver), "benchmark client CPU ms per FetchAll call (upstream's client decoding the answer)", "%.2f",
			medianOf(o, clientCPUPer10k)/10, medianOf(u, clientCPUPer10k)/10, "report", nil),
		compare(fmt.Sprintf("cost (%s)", driver), "database CPU ms per FetchAll call", "%.2f",
			medianOf(o, dbCPUPer10k)/10, medianOf(u, dbCPUPer10k)/10, "report", nil),
		fetchAllCeiling(driver, o, u),
		compare(fmt.Sprintf("cost (%s)", driver), fmt.Sprintf("server RSS MB with %d presences (after FetchAll rounds)", presences),
			"%.0f", Median(rss[string(Ours)]), Median(rss[string(Upstream)]), "report", nil),
	)
	r.failureNotes(fmt.Sprintf("FetchAll (%s)", driver), res)
}

// Contention reports the contention rounds.
func (r *Report) Contention(driver string, owners int, res map[string][]LoopResult, errLines map[string][]string) {
	o, u := res[string(Ours)], res[string(Upstream)]
	w := fmt.Sprintf("contention, %d owners (%s)", owners, driver)
	lines := func(rs []LoopResult) float64 {
		n := 0
		for _, x := range rs {
			n += x.ErrorLines
		}
		return float64(n)
	}
	errRow := count(w, "server error-level lines", lines(o), lines(u), "ours: none", nil)
	errRow.Met = yesNo(lines(o) == 0)
	r.add(
		compare(w, "calls/s (Lock + Release)", "%.0f", medianOf(o, rate), medianOf(u, rate), ">= 2x", func(x float64) bool { return x >= 2 }),
		compare(w, "p50 ms", "%.2f", medianOf(o, p50ms), medianOf(u, p50ms), "", nil),
		compare(w, "p99 ms", "%.2f", medianOf(o, p99ms), medianOf(u, p99ms), "", nil),
		errRow,
		count(w, "failed calls other than lock-collision", float64(errorsOf(o, collisionKey)), float64(errorsOf(u, collisionKey)), "", nil),
		stealRow(w, o, u),
	)
	for _, k := range Kinds {
		if l := errLines[string(k)]; len(l) > 0 {
			r.Note("contention (%s), %s server error lines: %s", driver, k, messageCounts(l))
		}
	}
	r.failureNotes(fmt.Sprintf("contention (%s)", driver), res, collisionKey)
}

// Expiry reports the expiry lags.
func (r *Report) Expiry(driver, variant string, locks int, res map[Kind]ExpiryResult) {
	o, u := res[Ours], res[Upstream]
	w := fmt.Sprintf("expiry lag, %s, %d locks (%s)", variant, locks, driver)
	pct := func(p float64) Row {
		name := fmt.Sprintf("removal minus TTL, p%g ms", p)
		if p == 100 {
			name = "removal minus TTL, max ms"
		}
		return compare(w, name, "%.0f", ms(Percentile(o.Lags, p)), ms(Percentile(u.Lags, p)), "", nil)
	}
	p99 := pct(99)
	p99.Target = "ours <= 250 ms"
	p99.Met = yesNo(len(o.Lags) > 0 && o.Missing == 0 && Percentile(o.Lags, 99) <= 250*time.Millisecond)
	minRow := compare(w, "min ms (negative: removed before TTL)", "%.0f", ms(Percentile(o.Lags, 0.0001)), ms(Percentile(u.Lags, 0.0001)), "ours >= 0", nil)
	minRow.Ratio, minRow.Met = "", yesNo(len(o.Lags) > 0 && Percentile(o.Lags, 0.0001) >= 0)
	errRow := count(w, "server error-level lines", float64(len(o.ErrorLines)), float64(len(u.ErrorLines)), "", nil)
	r.add(pct(50), p99, pct(100), minRow, errRow)
	for _, k := range Kinds {
		if m := res[k].Missing; m > 0 {
			r.Note("expiry (%s, %s): %d locks of the %s servers were never removed", driver, variant, m, k)
		}
	}
	for _, k := range Kinds {
		if l := res[k].ErrorLines; len(l) > 0 {
			r.Note("expiry (%s, %s), %s server error lines: %s", driver, variant, k, messageCounts(l))
		}
	}
}

// Handoff reports handoff takeover times: our runner on our server against
// upstream's runner on upstream's server, and upstream's runner on our
// server against the same.
func (r *Report) Handoff(what, driver string, ttl int64, res map[pairing]HandoffResult, crash bool) {
	up := res[pairing{Upstream, "upstream"}]
	for _, ours := range []pairing{{Ours, "ours"}, {Ours, "upstream"}} {
		o := res[ours]
		w := fmt.Sprintf("%s, %s runner, TTL %d s, %d+%d takeovers (%s)", what, ours.Client, ttl, len(o.Times), len(up.Times), driver)
		if o.Err != nil {
			r.Note("%s: %s failed: %s", what, ours, oneLine(o.Err))
		}
		if len(o.Times) == 0 {
			r.add(Row{Workload: w, Metric: "takeover", Ours: "n/a", Upstream: fmt.Sprintf("p50 %.0f ms", ms(Percentile(up.Times, 50)))})
			continue
		}
		rows := []Row{
			compare(w, "takeover p50 ms", "%.0f", ms(Percentile(o.Times, 50)), ms(Percentile(up.Times, 50)), "", nil),
			compare(w, "takeover p99 ms", "%.0f", ms(Percentile(o.Times, 99)), ms(Percentile(up.Times, 99)), "", nil),
			compare(w, "takeover max ms", "%.0f", ms(Percentile(o.Times, 100)), ms(Percentile(up.Times, 100)), "", nil),
		}
		if ours.Client == "ours" {
			if crash {
				limit := time.Duration(ttl)*time.Second + time.Second
				rows[2].Target = fmt.Sprintf("ours <= TTL + 1 s (%d ms)", limit.Milliseconds())
				rows[2].Met = yesNo(o.Err == nil && Percentile(o.Times, 100) <= limit)
			} else {
				rows[1].Target = "ours well under 1 s"
				rows[1].Met = yesNo(o.Err == nil && Percentile(o.Times, 99) < time.Second)
			}
		}
		r.add(rows...)
	}
	if up.Err != nil {
		r.Note("%s: upstream runner on upstream server failed: %s", what, oneLine(up.Err))
	}
}

// Fleet reports the fleet runs.
func (r *Report) Fleet(driver string, presences int, d time.Duration, res map[Kind]FleetResult) {
	o, u := res[Ours], res[Upstream]
	w := fmt.Sprintf("fleet, %d presences, %s (%s)", presences, d, driver)
	p99 := compare(w, "renewal p99 ms", "%.1f", ms(Percentile(o.Lat, 99)), ms(Percentile(u.Lat, 99)), "ours < 50 ms", nil)
	p99.Met = yesNo(len(o.Lat) > 0 && Percentile(o.Lat, 99) < 50*time.Millisecond)
	lost := compare(w, "presences lost (seen, then gone from the table)", "%.0f", float64(o.Lost), float64(u.Lost), "ours: zero", nil)
	lost.Ratio, lost.Met = "", yesNo(o.Lost == 0 && o.NeverSeen == 0 && len(o.Lat) > 0)
	perSec := func(x FleetResult) float64 {
		if x.Window == 0 {
			return 0
		}
		return float64(len(x.Lat)) / x.Window.Seconds()
	}
	per10k := func(x FleetResult) float64 {
		if len(x.Lat) == 0 {
			return 0
		}
		return x.CPU.Seconds() / float64(len(x.Lat)) * 10000
	}
	r.add(
		compare(w, "renewals/s", "%.0f", perSec(o), perSec(u), "", nil),
		compare(w, "renewal p50 ms", "%.1f", ms(Percentile(o.Lat, 50)), ms(Percentile(u.Lat, 50)), "", nil),
		p99,
		serverLatency(w, "renewal", 50, o.ServerLat),
		serverLatency(w, "renewal", 99, o.ServerLat),
		serverLatency(w, "database round trip", 50, o.DBLat),
		serverLatency(w, "database round trip", 99, o.DBLat),
		compare(w, "renewal max ms", "%.0f", ms(Percentile(o.Lat, 100)), ms(Percentile(u.Lat, 100)), "", nil),
		count(w, "failed renewals", float64(o.Failed), float64(u.Failed), "", nil),
		lost,
		count(w, "presences never acquired", float64(o.NeverSeen), float64(u.NeverSeen), "", nil),
		compare(w, "seconds from the ramp's end until every presence was in the table (window starts 5 s later)", "%.1f",
			o.SettleTime.Seconds(), u.SettleTime.Seconds(), "", nil),
		count(w, "server lock-expired lines", float64(o.Expired), float64(u.Expired), "", nil),
		count(w, "server error-level lines", float64(len(o.ErrorLines)), float64(len(u.ErrorLines)), "", nil),
		compare(w, "benchmark client's own CPU s in the window (same machine)", "%.1f", o.ClientCPU.Seconds(), u.ClientCPU.Seconds(), "", nil),
		Row{Workload: w, Metric: "host CPU steal in the window, % of the machine's CPU time", Ours: fmt.Sprintf("%.1f%%", o.Steal),
			Upstream: fmt.Sprintf("%.1f%%", u.Steal), Target: "report"},
		compare(fmt.Sprintf("cost (%s)", driver), "server CPU s per 10,000 renewals (fleet)", "%.3f", per10k(o), per10k(u), "report", nil),
		compare(fmt.Sprintf("cost (%s)", driver), fmt.Sprintf("server RSS MB with %d presences (end of fleet)", presences), "%.0f",
			float64(o.RSS)/(1<<20), float64(u.RSS)/(1<<20), "report", nil),
	)
	for _, k := range Kinds {
		x := res[k]
		if !x.Settled {
			r.Note("fleet: on the %s server, not every presence was in the table %s after the ramp; the window started then", k, fleetSettleLimit)
		}
		if len(x.LocksExited) > 0 {
			r.Note("fleet: on the %s server, lock runners exited (lost their lock): %s", k, strings.Join(x.LocksExited, "; "))
		}
		for key, ok := range x.LockPresence {
			if !ok {
				r.Note("fleet: on the %s server, lock %s was not in the table at the end", k, key)
			}
		}
		if len(x.ErrorLines) > 0 {
			r.Note("fleet, %s server error lines: %s", k, messageCounts(x.ErrorLines))
		}
	}
}

// serverLatency is a row of what our server measured of the window: its
// own latency of the Locks (handler start to answer: RequestLatency) or
// its database round trips (DBQueryDuration). The rest of what the client
// measured is gRPC, TLS and the client itself, on the same cores. Upstream
// has no such histograms.
func serverLatency(workload, what string, q float64, h LatencyHistogram) Row {
	v := "n/a"
	if d, ok := h.Quantile(q / 100); ok {
		v = fmt.Sprintf("%.1f", ms(d))
	}
	source := "RequestLatency"
	if what != "renewal" {
		source = "DBQueryDuration"
	}
	return Row{Workload: workload, Metric: fmt.Sprintf("%s p%.0f ms inside the server (its %s histogram, interpolated within buckets)", what, q, source),
		Ours: v, Upstream: "n/a"}
}

// oneLine flattens a multi-line error for a note.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

const legend = `
Ratios are ours / upstream. Repeated workloads alternate ours, upstream (and the bare UPDATE loop)
each round, each server started fresh on its own database; figures are medians over the rounds.
- renewals: each caller renews its own presence (Lock, TTL 15 s) back to back on its own connection.
- database limit: the same number of connections running a prepared one-row conditional UPDATE of a
  locks-shaped table back to back, no gRPC.
- FetchAll: FetchAll(PRESENCE) back to back; every answer is checked to hold all presences. The
  server, the benchmark client and the database share the machine's cores and keep them busy, so calls/s
  follow the CPU a call costs the three together; the ceiling is the ratio ours would reach if our
  server's share were zero.
- contention: every owner runs Lock on one key (TTL 1 s) and, when it got it, Release; calls are both.
  Error-level lines are counted until 1.5 s after the window (upstream's expiry timers fire late).
- expiry lag: abandoned locks (TTL 1 s); the table is polled every 10 ms; lag = first poll without the
  row minus (renewal sent + TTL).
- handoffs: holder and passive runner are separate processes (upstream's lock.NewLockRunner, retry 5 s,
  or our client's runner); the holder is stopped at a random point of the 5 s retry cycle. Graceful:
  from the holder's Release to the passive runner's successful Lock. Crash: from SIGKILL to that Lock.
  "upstream runner" rows put upstream's runner on our server in the ours column.
- fleet: upstream's presence runners (rep) and lock runners (bbs, auctioneer) over 100 shared
  connections, started evenly over 5 s; latency of every Lock in the window; presences lost = seen in
  the table and later missing (checked every 5 s). "Inside the server": our server's RequestLatency
  histogram (metrics endpoint) over the window, from the handler's start to its answer, and its
  DBQueryDuration (each database round trip, a renewal batch's included); the rest of what the client
  measures is gRPC, TLS and the client itself, on the same cores.
- cost: server CPU from /proc/<pid>/stat (utime+stime) over the window; database CPU the same over every
  mariadbd or postgres process, reaped children included; RSS is VmRSS. Steal: from /proc/stat.
`

// cpuTimes are the machine's CPU times since boot (all processes, in
// clock ticks), from the first line of /proc/stat.
type cpuTimes struct {
	busy, steal, total float64
}

func readCPUTimes() (cpuTimes, bool) {
	var t cpuTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return t, false
	}
	// user nice system idle iowait irq softirq steal guest guest_nice; guest
	// time is already counted in user and nice.
	for i, v := range f[1:min(len(f), 9)] {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return t, false
		}
		t.total += x
		if i != 3 && i != 4 { // idle, iowait
			t.busy += x
		}
		if i == 7 {
			t.steal = x
		}
	}
	return t, true
}

// since returns the shares (%) of the machine's CPU time from t0 to t that
// were busy and that the host took for others (steal), or ok false.
func (t cpuTimes) since(t0 cpuTimes) (busy, steal float64, ok bool) {
	d := t.total - t0.total
	if d <= 0 {
		return 0, 0, false
	}
	return 100 * (t.busy - t0.busy) / d, 100 * (t.steal - t0.steal) / d, true
}

// cpuBusy is the share (%) of the machine's CPU time, all processes, that
// was not idle during d.
func cpuBusy(d time.Duration) float64 {
	t0, ok0 := readCPUTimes()
	time.Sleep(d)
	t1, ok1 := readCPUTimes()
	if !ok0 || !ok1 {
		return 0
	}
	busy, _, _ := t1.since(t0)
	return busy
}
