package client_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/internal/testenv"
)

// A standby lock runner waits on Watch: it takes over right after the
// holder's release, not at its next retry. The retry interval is 10 s here,
// so a runner that polled would take seconds; the figures are logged.
func TestHandoffWithWatch(t *testing.T) {
	for _, driver := range []string{"mysql", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			certs := testenv.NewCerts(t)
			srv := testenv.StartServer(t, testenv.NewDatabase(t, driver), certs)
			e := &env{certs: certs, srv: srv}
			c := e.dial(t, srv.Address)

			type holder struct {
				runner   *client.Runner
				cancel   context.CancelFunc
				done     chan struct{} // closed when Run returned
				err      error
				acquired chan time.Time
				logs     *logSink
			}
			start := func(i int) *holder {
				logger, sink := newLogger("bbs")
				h := &holder{done: make(chan struct{}), acquired: make(chan time.Time, 1), logs: sink}
				r, err := client.NewLockRunner(logger, c, client.RunnerConfig{
					Key: "bbs", Owner: fmt.Sprintf("bbs-%d", i), TTLInSeconds: 15, RetryInterval: 10 * time.Second,
					OnAcquired: func() { h.acquired <- time.Now() },
				})
				if err != nil {
					t.Fatal(err)
				}
				h.runner = r
				ctx, cancel := context.WithCancel(context.Background())
				h.cancel = cancel
				go func() { h.err = r.Run(ctx); close(h.done) }()
				t.Cleanup(func() { cancel(); <-h.done })
				return h
			}

			cur := start(0)
			select {
			case <-cur.acquired:
			case <-time.After(10 * time.Second):
				t.Fatal("first runner never acquired")
			}
			var lat []time.Duration
			tokens := []int64{cur.runner.FencingToken()}
			for i := 1; i <= 20; i++ {
				next := start(i)
				next.logs.waitFor(t, 10*time.Second, "bbs.locket-lock.failed-to-acquire-lock", 1)
				time.Sleep(300 * time.Millisecond) // its Watch stream is open by now
				t0 := time.Now()
				cur.cancel()
				var t1 time.Time
				select {
				case t1 = <-next.acquired:
				case <-time.After(8 * time.Second):
					t.Fatalf("handoff %d: the standby did not take over within 8 s (retry interval 10 s)", i)
				}
				if <-cur.done; cur.err != nil {
					t.Fatalf("holder %d: %v", i-1, cur.err)
				}
				lat = append(lat, t1.Sub(t0))
				tokens = append(tokens, next.runner.FencingToken())
				cur = next
			}
			for i := 1; i < len(tokens); i++ {
				if tokens[i] <= tokens[i-1] {
					t.Fatalf("fencing tokens not increasing: %v", tokens)
				}
			}
			slices.Sort(lat)
			p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
			t.Logf("%s: takeover after release (release start to standby's acquisition), %d handoffs: min %s p50 %s p90 %s p99 %s max %s; tokens %d..%d",
				driver, len(lat), lat[0], p(0.5), p(0.9), p(0.99), lat[len(lat)-1], tokens[0], tokens[len(tokens)-1])
			if p(0.99) > 2*time.Second {
				t.Errorf("p99 takeover %s: the standby did not use Watch", p(0.99))
			}
		})
	}
}
