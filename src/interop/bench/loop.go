package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
)

// LoopResult is what a closed loop measured in its window.
type LoopResult struct {
	Calls      int // completed in the window
	Window     time.Duration
	Lat        Latencies // calls that started and ended in the window
	Errors     map[string]int
	CPU        time.Duration // server CPU used in the window (0 for the bare loop)
	SelfCPU    time.Duration // this program's CPU in the window (the client side)
	ErrorLines int           // the server's error-level log lines (contention)
	Steal      float64       // % of the machine's CPU time the host took for others in the window
	DBCPU      time.Duration // the database server's CPU in the window (all its processes)
	Busy       float64       // % of the machine's CPU time busy in the window (all processes)
}

// Rate is completed calls per second.
func (r LoopResult) Rate() float64 { return float64(r.Calls) / r.Window.Seconds() }

// ErrorCount is the number of failed calls, optionally leaving some out.
func (r LoopResult) ErrorCount(except ...string) int {
	n := 0
	for k, v := range r.Errors {
		if !slices.Contains(except, k) {
			n += v
		}
	}
	return n
}

// closedLoop runs n callers, each calling op back to back, for warmup then
// window. The server s, if not nil (the bare loop has none), has its CPU read
// at the window's edges and is profiled over the window when profiling.
func closedLoop(ctx context.Context, n int, warmup, window time.Duration, s *Server,
	op func(ctx context.Context, caller int) error) (LoopResult, error) {
	const (
		warming = iota
		measuring
		done
	)
	var phase atomic.Int32
	var completed atomic.Int64
	lats := make([]Latencies, n)
	errs := make([]map[string]int, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for i := range n {
		errs[i] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				before := phase.Load()
				if before == done {
					return
				}
				t0 := time.Now()
				err := op(ctx, i)
				d := time.Since(t0)
				after := phase.Load()
				if after != measuring {
					continue
				}
				completed.Add(1)
				if err != nil {
					errs[i][errorKey(err)]++
				}
				if before == measuring {
					lats[i] = append(lats[i], d)
				}
			}
		}()
	}
	var res LoopResult
	var cpu0 time.Duration
	var err error
	sleep(ctx, warmup)
	profiled := func() {}
	if s != nil {
		if cpu0, err = s.CPU(); err != nil {
			phase.Store(done)
			cancel()
			wg.Wait()
			return res, err
		}
	}
	self0, _ := procCPU("self")
	machine0, machineOK := readCPUTimes()
	db0 := testenv.DatabaseCPU()
	start := time.Now()
	phase.Store(measuring)
	if s != nil {
		profiled = s.Profile(window)
	}
	sleep(ctx, window)
	phase.Store(done)
	res.Window = time.Since(start)
	res.Calls = int(completed.Load())
	self1, _ := procCPU("self")
	res.SelfCPU = self1 - self0
	res.DBCPU = testenv.DatabaseCPU() - db0
	if machine1, ok := readCPUTimes(); ok && machineOK {
		res.Busy, res.Steal, _ = machine1.since(machine0)
	}
	if s != nil {
		cpu1, err := s.CPU()
		if err != nil {
			cancel()
			wg.Wait()
			return res, err
		}
		res.CPU = cpu1 - cpu0
	}
	wg.Wait()
	profiled()
	res.Errors = map[string]int{}
	for i := range n {
		res.Lat = append(res.Lat, lats[i]...)
		for k, v := range errs[i] {
			res.Errors[k] += v
		}
	}
	return res, ctx.Err()
}

// errorKey names an error by its gRPC status: "AlreadyExists lock-collision".
func errorKey(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("%s %s", s.Code(), s.Message())
	}
	return err.Error()
}

// collisionKey is the error key of upstream's lock-collision.
const collisionKey = "AlreadyExists lock-collision"

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
