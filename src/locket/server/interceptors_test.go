package server

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/metrics"
)

// TestInterceptors: a panicking handler becomes Internal, is logged with
// the request id and counted as failed; in-flight goes back to zero.
func TestInterceptors(t *testing.T) {
	var buf bytes.Buffer
	logger := lager.NewLogger("locket")
	logger.RegisterSink(lager.NewWriterSink(&buf, lager.DEBUG))
	m := metrics.NewLocket(metrics.NewRegistry())
	chain := func(ctx context.Context, h grpc.UnaryHandler) (any, error) {
		info := &grpc.UnaryServerInfo{FullMethod: "/models.Locket/Lock"}
		return metricsInterceptor(logger, m)(ctx, nil, info, func(ctx context.Context, req any) (any, error) {
			return recoverInterceptor(logger)(ctx, req, info, h)
		})
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("uuid", "req-42"))

	_, err := chain(ctx, func(context.Context, any) (any, error) { panic("boom") })
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic gave %v", err)
	}
	if !strings.Contains(buf.String(), "locket.request-panicked") || !strings.Contains(buf.String(), "req-42") {
		t.Fatalf("log: %s", buf.String())
	}
	_, _ = chain(ctx, func(context.Context, any) (any, error) {
		return nil, status.Error(codes.AlreadyExists, "lock-collision")
	})
	_, _ = chain(ctx, func(context.Context, any) (any, error) { return "ok", nil })

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = chain(cctx, func(context.Context, any) (any, error) { return nil, status.Error(codes.Canceled, "gone") })

	q := m.Requests("Lock")
	for name, c := range map[string]struct{ got, want float64 }{
		"started":   {q.Started.Value(), 4},
		"succeeded": {q.Succeeded.Value(), 2},
		"failed":    {q.Failed.Value(), 2},
		"cancelled": {q.Cancelled.Value(), 1},
		"in flight": {q.InFlight.Value(), 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", name, c.got, c.want)
		}
	}
	if !strings.Contains(buf.String(), "locket.context-cancelled") {
		t.Errorf("no context-cancelled line: %s", buf.String())
	}
}
