package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"code.cloudfoundry.org/clock"
	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/locket"
	"code.cloudfoundry.org/locket/lock"
	upmodels "code.cloudfoundry.org/locket/models"
	"github.com/tedsuo/ifrit"
	"github.com/tedsuo/ifrit/sigmon"
	"google.golang.org/grpc"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/models"
)

// Holder events, one per stdout line: "<event> <unix nanoseconds>".
const (
	evAttempted = "attempted" // the first Lock came back (passive runners are now in their retry loop)
	evAcquired  = "acquired"  // the first successful Lock came back
	evRelease   = "release"   // Release is being sent
)

// RunHolder is the holder process of the handoff workloads: one lock runner
// (upstream's, as BBS runs it, or ours) holding a lock until SIGTERM. It
// reports its events on stdout.
func RunHolder(args []string) error {
	fs := flag.NewFlagSet("holder", flag.ContinueOnError)
	var (
		impl    = fs.String("client", "upstream", "upstream or ours")
		address = fs.String("address", "", "locket_address")
		ca      = fs.String("ca", "", "CA file")
		cert    = fs.String("cert", "", "client certificate file")
		key     = fs.String("key", "", "client key file")
		lockKey = fs.String("lock-key", "", "lock key")
		owner   = fs.String("owner", "", "lock owner")
		ttl     = fs.Int64("ttl", 15, "TTL in seconds")
		retry   = fs.Duration("retry", 0, "retry interval (0: the runner's default)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	ev := &events{}
	logger := lager.NewLogger("holder")
	logger.RegisterSink(lager.NewWriterSink(os.Stderr, lager.INFO))
	cfg := locket.ClientLocketConfig{
		LocketAddress: *address, LocketCACertFile: *ca, LocketClientCertFile: *cert, LocketClientKeyFile: *key,
		LocketClientKeepAliveTime: 10, LocketClientKeepAliveTimeout: 22,
	}
	switch *impl {
	case "upstream":
		c, err := locket.NewClient(logger, cfg)
		if err != nil {
			return fmt.Errorf("upstream client: %w", err)
		}
		interval := *retry
		if interval == 0 {
			interval = locket.RetryInterval
		}
		runner := lock.NewLockRunner(logger, upstreamEvents{c, ev},
			&upmodels.Resource{Key: *lockKey, Owner: *owner, TypeCode: upmodels.LOCK}, *ttl, clock.NewClock(), interval)
		return <-ifrit.Background(sigmon.New(runner)).Wait()
	case "ours":
		c, err := client.Dial(client.Config{
			LocketAddress: *address, LocketCACertFile: *ca, LocketClientCertFile: *cert, LocketClientKeyFile: *key,
		})
		if err != nil {
			return err
		}
		defer c.Close()
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := c.WaitReady(wctx); err != nil {
			return err
		}
		r, err := client.NewLockRunner(logger, ourEvents{c, ev}, client.RunnerConfig{
			Key: *lockKey, Owner: *owner, TTLInSeconds: *ttl, RetryInterval: *retry,
		})
		if err != nil {
			return err
		}
		return r.Run(ctx)
	}
	return fmt.Errorf("unknown client %q", *impl)
}

// events prints each holder event once.
type events struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (e *events) emit(name string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if !e.seen[name] {
		e.seen[name] = true
		fmt.Printf("%s %d\n", name, at.UnixNano())
	}
}

func (e *events) lockDone(err error) {
	now := time.Now()
	e.emit(evAttempted, now)
	if err == nil {
		e.emit(evAcquired, now)
	}
}

// upstreamEvents is upstream's client with holder events.
type upstreamEvents struct {
	upmodels.LocketClient
	ev *events
}

func (c upstreamEvents) Lock(ctx context.Context, in *upmodels.LockRequest, opts ...grpc.CallOption) (*upmodels.LockResponse, error) {
	resp, err := c.LocketClient.Lock(ctx, in, opts...)
	c.ev.lockDone(err)
	return resp, err
}

func (c upstreamEvents) Release(ctx context.Context, in *upmodels.ReleaseRequest, opts ...grpc.CallOption) (*upmodels.ReleaseResponse, error) {
	c.ev.emit(evRelease, time.Now())
	return c.LocketClient.Release(ctx, in, opts...)
}

// ourEvents is our client with holder events.
type ourEvents struct {
	models.LocketClient
	ev *events
}

func (c ourEvents) Lock(ctx context.Context, in *models.LockRequest, opts ...grpc.CallOption) (*models.LockResponse, error) {
	resp, err := c.LocketClient.Lock(ctx, in, opts...)
	c.ev.lockDone(err)
	return resp, err
}

func (c ourEvents) Release(ctx context.Context, in *models.ReleaseRequest, opts ...grpc.CallOption) (*models.ReleaseResponse, error) {
	c.ev.emit(evRelease, time.Now())
	return c.LocketClient.Release(ctx, in, opts...)
}
