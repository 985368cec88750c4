package server_test

import (
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

// A Watch stream survives the keepalive pings of a foundation's clients
// (every 10 s) and still delivers afterwards.
func TestWatchSurvivesClientKeepalive(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 35 s")
	}
	s := testenv.StartServer(t, testenv.NewDatabase(t, "mysql"), nil)
	conn := s.Dial(t, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 22 * time.Second}))
	c := models.NewLocketClient(conn)
	stream, stop := watch(t, c, &models.WatchRequest{Key: "bbs"})
	defer stop()
	events := collect(stream)
	time.Sleep(35 * time.Second) // grpc-go answers the third too-early ping (30 s) with GOAWAY
	_, err := s.Client(t).Lock(ctxT(t), lockReq("bbs", "o", "", models.TypeCode_LOCK, 15))
	mustOK(t, err)
	if r := next(t, events, 5*time.Second); r.ev.Type != models.EventType_ACQUIRED {
		t.Fatalf("event after 35 s of pings: %+v", r.ev)
	}
}

// Open Watch streams do not hold a server's stop for its grace period: they
// end with Unavailable and the client watches elsewhere.
func TestStopEndsWatchStreams(t *testing.T) {
	s := testenv.StartServer(t, testenv.NewDatabase(t, "mysql"), nil)
	c := s.Client(t)
	stream, stop := watch(t, c, &models.WatchRequest{})
	defer stop()
	errs := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		errs <- err
	}()
	start := time.Now()
	s.Signal(syscall.SIGTERM)
	if err := s.Wait(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took > 5*time.Second {
		t.Fatalf("stop with an open Watch took %s (grace 10 s)", took)
	}
	select {
	case err := <-errs:
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("stream ended with %v, want Unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
	t.Logf("stopped in %s with an open Watch", took)
}
