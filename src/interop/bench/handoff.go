package bench

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// handoffTTL is the TTL of the graceful handoffs' lock, BBS's.
const handoffTTL = 15

// phaseSpread is the longest random wait before a holder is stopped, so that
// the stop lands anywhere in the runners' 5 s retry cycle, as in the field.
const phaseSpread = 5 * time.Second

// pairing is a server and the runner that drives it.
type pairing struct {
	Server Kind
	Client string // "upstream" or "ours"
}

func (p pairing) String() string { return fmt.Sprintf("%s runner on %s server", p.Client, p.Server) }

var pairings = []pairing{{Upstream, "upstream"}, {Ours, "upstream"}, {Ours, "ours"}}

// HandoffResult is the takeover times of one pairing.
type HandoffResult struct {
	Times Latencies
	Err   error
}

// holder is a running holder process.
type holder struct {
	cmd    *exec.Cmd
	events chan holderEvent
	done   chan struct{}
	stderr *strings.Builder
}

type holderEvent struct {
	name string
	at   time.Time
}

func (b *Bench) startHolder(addr, clientKind, key, owner string, ttl int64) (*holder, error) {
	e := b.Env
	cmd := exec.Command(e.Opts.Self, "holder", "-client", clientKind, "-address", addr,
		"-ca", e.Certs.CAFile, "-cert", e.Certs.ClientCertFile, "-key", e.Certs.ClientKey,
		"-lock-key", key, "-owner", owner, "-ttl", strconv.FormatInt(ttl, 10))
	if clientKind == "ours" && e.Opts.OurRetry > 0 {
		cmd.Args = append(cmd.Args, "-retry", e.Opts.OurRetry.String())
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no holder outlives the benchmark
	h := &holder{cmd: cmd, events: make(chan holderEvent, 8), done: make(chan struct{}), stderr: &strings.Builder{}}
	cmd.Stderr = &syncWriter{b: h.stderr}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start holder: %w", err)
	}
	go func() {
		defer close(h.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 2 {
				continue
			}
			ns, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				h.events <- holderEvent{f[0], time.Unix(0, ns)}
			}
		}
		_ = cmd.Wait()
	}()
	return h, nil
}

// wait returns the time of the named event.
func (h *holder) wait(ctx context.Context, name string, timeout time.Duration) (time.Time, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case ev := <-h.events:
			if ev.name == name {
				return ev.at, nil
			}
		case <-h.done:
			// Events written before the exit are still in the channel.
			select {
			case ev := <-h.events:
				if ev.name == name {
					return ev.at, nil
				}
				continue
			default:
			}
			return time.Time{}, fmt.Errorf("holder exited (%v) before %q:\n%s", h.cmd.ProcessState, name, h.tail())
		case <-t.C:
			return time.Time{}, fmt.Errorf("no %q from the holder within %s:\n%s", name, timeout, h.tail())
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

func (h *holder) tail() string {
	s := h.stderr.String()
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}

// stop ends the holder: SIGTERM (it releases), SIGKILL after 10 s.
func (h *holder) stop() {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
}

func (h *holder) kill() {
	_ = h.cmd.Process.Kill()
	<-h.done
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// Handoff: graceful handoffs. A holder process holds a lock, a passive
// runner process waits for it; the holder gets SIGTERM (its runner sends
// Release) and the time from that Release to the passive runner's successful
// Lock is the takeover time. Handoffs run in parallel chains on as many keys;
// each pairing of server and runner runs at the same time as the others.
func (b *Bench) Handoff(ctx context.Context, driver string) error {
	res, err := b.handoffs(ctx, driver, false, handoffTTL, b.Sizes.Handoffs, b.Sizes.HandoffChains)
	if err != nil {
		return err
	}
	b.Report.Handoff("graceful handoff (SIGTERM to the holder)", driver, handoffTTL, res, false)
	return nil
}

// Crash: the holder is killed (SIGKILL), so its lock has to expire; the time
// from the kill to the passive runner's successful Lock is the takeover time.
func (b *Bench) Crash(ctx context.Context, driver string) error {
	ttl := b.Sizes.CrashTTL
	res, err := b.handoffs(ctx, driver, true, ttl, b.Sizes.Crashes, b.Sizes.Crashes)
	if err != nil {
		return err
	}
	b.Report.Handoff("crash handoff (SIGKILL to the holder)", driver, ttl, res, true)
	return nil
}

func (b *Bench) handoffs(ctx context.Context, driver string, crash bool, ttl int64, total, chains int) (map[pairing]HandoffResult, error) {
	if b.Env.Opts.Self == "" {
		return nil, fmt.Errorf("the path of this program is unknown: cannot start holder processes")
	}
	results := map[pairing]HandoffResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range pairings {
		wg.Add(1)
		go func() {
			defer wg.Done()
			times, err := b.pairingHandoffs(ctx, driver, p, crash, ttl, total, chains)
			mu.Lock()
			results[p] = HandoffResult{Times: times, Err: err}
			mu.Unlock()
			if err != nil {
				b.Env.logf("   %s: %v", p, err)
				return
			}
			b.Env.logf("   %-32s takeover p50 %6.0f ms p99 %6.0f ms max %6.0f ms (%d)", p,
				ms(Percentile(times, 50)), ms(Percentile(times, 99)), ms(Percentile(times, 100)), len(times))
		}()
	}
	wg.Wait()
	// A pairing that could not hand off at all is a broken workload; one
	// that ran with some errors is reported.
	for _, p := range pairings {
		if r := results[p]; r.Err != nil && len(r.Times) == 0 {
			return nil, fmt.Errorf("%s: %w", p, r.Err)
		}
	}
	return results, nil
}

func (b *Bench) pairingHandoffs(ctx context.Context, driver string, p pairing, crash bool, ttl int64, total, chains int) (Latencies, error) {
	db, err := b.Env.NewDatabase(ctx, driver)
	if err != nil {
		return nil, err
	}
	defer b.Env.DropDatabase(db.Name)
	var times Latencies
	err = b.withServer(ctx, p.Server, db, func(s *Server) error {
		var mu sync.Mutex
		var errs []error
		var wg sync.WaitGroup
		for c := range chains {
			n := total / chains
			if c < total%chains {
				n++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				ts, err := b.chain(ctx, s.Address, p.Client, fmt.Sprintf("bench-handoff-%d", c), n, crash, ttl)
				mu.Lock()
				times = append(times, ts...)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			return errs[0]
		}
		return nil
	})
	return times, err
}

// chain runs n handoffs of one key: each passive runner becomes the next
// holder.
func (b *Bench) chain(ctx context.Context, addr, clientKind, key string, n int, crash bool, ttl int64) (Latencies, error) {
	const startTimeout = 30 * time.Second
	takeoverTimeout := time.Duration(ttl)*time.Second + 20*time.Second
	cur, err := b.startHolder(addr, clientKind, key, key+"-owner-0", ttl)
	if err != nil {
		return nil, err
	}
	defer func() { cur.stop() }()
	if _, err := cur.wait(ctx, evAcquired, startTimeout); err != nil {
		return nil, err
	}
	var times Latencies
	for i := 1; i <= n; i++ {
		next, err := b.startHolder(addr, clientKind, key, fmt.Sprintf("%s-owner-%d", key, i), ttl)
		if err != nil {
			return times, err
		}
		if _, err := next.wait(ctx, evAttempted, startTimeout); err != nil {
			next.kill()
			return times, err
		}
		sleep(ctx, rand.N(phaseSpread))
		var from time.Time
		if crash {
			from = time.Now()
			cur.kill()
		} else {
			cur.cmd.Process.Signal(syscall.SIGTERM)
			from, err = cur.wait(ctx, evRelease, startTimeout)
			if err != nil {
				next.kill()
				return times, err
			}
		}
		at, err := next.wait(ctx, evAcquired, takeoverTimeout)
		cur.stop()
		cur = next
		if err != nil {
			return times, err
		}
		times = append(times, at.Sub(from))
	}
	return times, nil
}
