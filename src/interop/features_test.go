package interop

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/client"
	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/interop/upstream"
)

// syncBuffer is a log sink the test can read while runners write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Our lock runner against upstream's server, which has no Watch: it falls
// back to polling every retry interval, as upstream's runner does.
func TestOurRunnerFallsBackToPollingOnUpstream(t *testing.T) {
	forEachSQLDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		up := upstream.Start(t, db, certs)
		c, err := client.Dial(client.Config{
			LocketAddress: up.Address, LocketCACertFile: certs.CAFile,
			LocketClientCertFile: certs.ClientCertFile, LocketClientKeyFile: certs.ClientKey,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()

		run := func(owner string, buf *syncBuffer) (func(), chan time.Time, *client.Runner) {
			logger := lager.NewLogger("bbs")
			logger.RegisterSink(lager.NewWriterSink(buf, lager.DEBUG))
			acquired := make(chan time.Time, 1)
			r, err := client.NewLockRunner(logger, c, client.RunnerConfig{
				Key: "bbs", Owner: owner, TTLInSeconds: 5, RetryInterval: time.Second,
				OnAcquired: func() { acquired <- time.Now() },
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = r.Run(ctx) }()
			stop := func() { cancel(); <-done }
			t.Cleanup(stop)
			return stop, acquired, r
		}
		var logA, logB syncBuffer
		stopA, acqA, a := run("a", &logA)
		<-acqA
		_, acqB, _ := run("b", &logB)
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logB.String(), "watch-unsupported-polling") {
			if time.Now().After(deadline) {
				t.Fatalf("runner b did not fall back to polling; log:\n%s", logB.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		released := time.Now()
		stopA()
		select {
		case at := <-acqB:
			t.Logf("%s: takeover by polling after %s (retry interval 1 s); upstream's token %d (none)", driver, at.Sub(released), a.FencingToken())
		case <-time.After(5 * time.Second):
			t.Fatal("runner b never took over")
		}
		if a.FencingToken() != 0 {
			t.Fatalf("a token from an upstream server: %d", a.FencingToken())
		}
	})
}
