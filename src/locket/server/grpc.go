package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/authz"
	"github.com/locket-release/locket/metrics"
	"github.com/locket-release/locket/models"
)

// ServiceName is the gRPC service name, also registered in the health service.
const ServiceName = "models.Locket"

// KeepaliveMinTime is the shortest client ping interval the server accepts.
// Upstream clients ping every locket_client_keepalive_time (10 s in a
// foundation); grpc-go's default policy (5 minutes) would answer them with
// GOAWAY too_many_pings.
const KeepaliveMinTime = 5 * time.Second

// streamWorkers is about the number of requests a server has in flight
// under load: as many as the database pool (64 in a foundation) lets work.
const streamWorkers = 64

// receiveWindow is the flow-control window for what clients send. Requests
// are a few hundred bytes; a larger one still arrives, paced by window
// updates.
const receiveWindow = 1 << 20

// Options configure a Server.
type Options struct {
	Logger             lager.Logger
	Store              Store
	TLS                *tls.Config     // tlsconfig.Server: mutual TLS only
	DBOperationTimeout time.Duration   // 0: upstream's 10 s
	Metrics            *metrics.Locket // nil: no request metrics
	// Authorization rules; none: every verified client may do everything.
	Authorization authz.Config
	// Feed serves Watch (run it); nil: Watch answers Unimplemented.
	Feed *Feed
}

// Server is the gRPC server with the Locket and health services.
type Server struct {
	GRPC   *grpc.Server
	Health *health.Server
	logger lager.Logger
	feed   *Feed
}

// New builds the server. It refuses to build without TLS: Locket speaks
// mutual TLS only.
func New(o Options) (*Server, error) {
	if o.TLS == nil || o.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, fmt.Errorf("server: a TLS config requiring client certificates is needed")
	}
	if o.Store == nil {
		return nil, fmt.Errorf("server: no store")
	}
	if err := o.Authorization.Validate(); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	az := &authorizer{rules: o.Authorization, logger: o.Logger.Session("authorization")}
	s := &Server{Health: health.NewServer(), logger: o.Logger, feed: o.Feed}
	s.GRPC = grpc.NewServer(
		// PING ACKs ride with the next answer (pingack.go): upstream's
		// client pings after every answer it reads.
		grpc.Creds(pingAckCreds{identityCreds{credentials.NewTLS(o.TLS)}}),
		// Long-lived workers instead of a goroutine per request: a fresh
		// goroutine grows its stack (copying it) on every request that
		// reaches the database driver, which cost 8% of the server's CPU
		// on the renewal path. A request that finds every worker busy
		// still gets a goroutine of its own.
		grpc.NumStreamWorkers(streamWorkers),
		// Fixed receive windows turn off grpc's bandwidth-delay estimator,
		// which pings the client after every request it reads: on a
		// connection with one small request at a time (a BBS, a rep) that
		// is an extra write and read per request. Requests are far
		// smaller than the windows (receiveWindow).
		grpc.StaticStreamWindowSize(receiveWindow),
		grpc.StaticConnWindowSize(receiveWindow),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
		// Metrics outermost, so that a request whose handler panicked is
		// still counted (as failed) and leaves the in-flight gauge.
		grpc.ChainUnaryInterceptor(
			metricsInterceptor(o.Logger, o.Metrics),
			recoverInterceptor(o.Logger),
			az.unary(),
		),
		grpc.ChainStreamInterceptor(
			recoverStreamInterceptor(o.Logger),
			az.stream(),
		),
	)
	svc := NewService(o.Logger, o.Store, o.DBOperationTimeout)
	svc.feed = o.Feed
	svc.enforce = o.Authorization.Enabled()
	models.RegisterLocketServer(s.GRPC, svc)
	healthpb.RegisterHealthServer(s.GRPC, s.Health)
	s.SetServing(true)
	return s, nil
}

// SetServing sets the health status of the whole server and of the Locket
// service.
func (s *Server) SetServing(ok bool) {
	st := healthpb.HealthCheckResponse_SERVING
	if !ok {
		st = healthpb.HealthCheckResponse_NOT_SERVING
	}
	s.Health.SetServingStatus("", st)
	s.Health.SetServingStatus(ServiceName, st)
}

// Serve serves on lis until Stop.
func (s *Server) Serve(lis net.Listener) error { return s.GRPC.Serve(lis) }

// Stop stops accepting connections, lets in-flight requests finish for up
// to grace, then closes what is left. Health reports NOT_SERVING from the
// start so that load balancers stop sending.
func (s *Server) Stop(grace time.Duration) {
	s.Health.Shutdown()
	if s.feed != nil {
		s.feed.Close() // Watch streams never end by themselves
	}
	done := make(chan struct{})
	go func() {
		s.GRPC.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		s.logger.Info("graceful-stop-timed-out", lager.Data{"grace": grace.String()})
		s.GRPC.Stop()
		<-done
	}
}

// rpcName returns "Lock" for "/models.Locket/Lock", "" for other services.
func rpcName(fullMethod string) string {
	if rest, ok := strings.CutPrefix(fullMethod, "/"+ServiceName+"/"); ok {
		return rest
	}
	return ""
}

// recoverInterceptor turns a panic in a handler into an Internal error so
// that one bad request cannot take the server down.
func recoverInterceptor(logger lager.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("request-panicked", fmt.Errorf("%v", r), lager.Data{
					"method": info.FullMethod, "request-uuid": RequestID(ctx), "stack": string(debug.Stack()),
				})
				err = status.Error(codes.Internal, "internal-error")
			}
		}()
		return handler(ctx, req)
	}
}

// recoverStreamInterceptor is recoverInterceptor for streams (Watch).
func recoverStreamInterceptor(logger lager.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				logger.Error("request-panicked", fmt.Errorf("%v", r), lager.Data{
					"method": info.FullMethod, "stack": string(debug.Stack()),
				})
				err = status.Error(codes.Internal, "internal-error")
			}
		}()
		return handler(srv, ss)
	}
}

// metricsInterceptor counts Locket requests as upstream does: a lock
// collision is a success; everything else that is an error is a failure.
func metricsInterceptor(logger lager.Logger, m *metrics.Locket) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		rpc := rpcName(info.FullMethod)
		if rpc == "" {
			return handler(ctx, req)
		}
		var q *metrics.Requests
		if m != nil {
			q = m.Requests(rpc)
			q.Started.Inc()
			q.InFlight.Add(1)
		}
		start := time.Now()
		resp, err := handler(ctx, req)

		data := func() lager.Data {
			d := lager.Data{"request-type": rpc}
			if id := RequestID(ctx); id != "" {
				d["request-uuid"] = id
			}
			return d
		}
		switch ctx.Err() {
		case context.Canceled:
			logger.Info("context-cancelled", data())
			if q != nil {
				q.Cancelled.Inc()
			}
		case context.DeadlineExceeded:
			logger.Info("context-deadline-exceeded", data())
		}
		if q != nil {
			q.InFlight.Add(-1)
			q.ObserveLatency(time.Since(start))
			if err == nil || status.Code(err) == codes.AlreadyExists {
				q.Succeeded.Inc()
			} else {
				q.Failed.Inc()
			}
		}
		return resp, err
	}
}
