package client

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/models"
)

// TestFailoverInterceptorHedges: the first attempt hangs; after the failover
// delay a second one is made and its answer is the call's.
func TestFailoverInterceptorHedges(t *testing.T) {
	var n atomic.Int32
	invoker := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		if n.Add(1) == 1 {
			<-ctx.Done() // a hung server
			return status.FromContextError(ctx.Err()).Err()
		}
		reply.(*models.FetchResponse).Resource = &models.Resource{Key: "k", Owner: "o"}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	reply := &models.FetchResponse{}
	start := time.Now()
	// The generated client always passes StaticMethod.
	err := failoverInterceptor(2*time.Second)(ctx, "/models.Locket/Fetch", &models.FetchRequest{Key: "k"}, reply, nil, invoker, grpc.StaticMethod())
	if err != nil {
		t.Fatal(err)
	}
	if reply.GetResource().GetOwner() != "o" || n.Load() != 2 {
		t.Fatalf("reply %v after %d attempts", reply, n.Load())
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("second attempt after %s, want after the failover delay (500 ms for a 1 s budget)", d)
	}
}

// TestFailoverInterceptorRetriesAndGivesUp: attempts failing with
// Unavailable are repeated until the deadline, and the last connection error
// is returned; an answer such as lock-collision ends the call at once.
func TestFailoverInterceptorRetriesAndGivesUp(t *testing.T) {
	var n atomic.Int32
	unavailable := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		n.Add(1)
		return status.Error(codes.Unavailable, "connection refused")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	err := failoverInterceptor(2*time.Second)(ctx, lockMethod, &models.LockRequest{}, &models.LockResponse{}, nil, unavailable)
	if status.Code(err) != codes.Unavailable || n.Load() < 3 {
		t.Errorf("err %v after %d attempts; want Unavailable after several", err, n.Load())
	}

	n.Store(0)
	collide := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		n.Add(1)
		if RequestID(ctx) == "" {
			t.Errorf("a Lock without request id")
		}
		return models.ErrLockCollision
	}
	err = failoverInterceptor(2*time.Second)(context.Background(), lockMethod, &models.LockRequest{}, &models.LockResponse{}, nil, collide)
	if status.Code(err) != codes.AlreadyExists || n.Load() != 1 {
		t.Errorf("err %v after %d attempts; want the collision after one", err, n.Load())
	}
}

func TestRaceable(t *testing.T) {
	var md metadata.MD
	if !raceable([]grpc.CallOption{grpc.StaticMethod(), grpc.WaitForReady(true)}) {
		t.Error("StaticMethod and WaitForReady must not stop racing attempts")
	}
	if raceable([]grpc.CallOption{grpc.StaticMethod(), grpc.Header(&md)}) {
		t.Error("Header writes into the caller's variable: no racing attempts")
	}
}
