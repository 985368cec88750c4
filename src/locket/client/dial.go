// Package client connects to Locket from the upstream client config keys and
// holds locks and presences with the upstream runners' semantics and log
// lines (lock runner: BBS, auctioneer; presence runner: rep).
package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

// Client is a Locket client over one gRPC channel to every server the
// address resolves to. Its calls go to another server when one fails or
// does not answer in time (see failoverInterceptor and the failover
// balancer).
type Client struct {
	models.LocketClient
	conn    *grpc.ClientConn
	address string
}

// Option changes how Dial connects.
type Option func(*dialSettings)

type dialSettings struct {
	failoverDelay time.Duration
	grpcOpts      []grpc.DialOption
}

// WithFailoverDelay sets how long a call waits for an answer before it also
// asks the next server (default DefaultFailoverDelay); see
// failoverInterceptor.
func WithFailoverDelay(d time.Duration) Option {
	return func(s *dialSettings) { s.failoverDelay = d }
}

// WithDialOptions adds gRPC dial options (tests, tracing).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(s *dialSettings) { s.grpcOpts = append(s.grpcOpts, opts...) }
}

// serviceConfig selects the failover policy. DNS TXT service configs are
// ignored (WithDisableServiceConfig), so the policy cannot be changed from
// the outside, and no TXT lookup delays resolution.
const serviceConfig = `{"loadBalancingConfig":[{"` + balancerName + `":{}}]}`

// Dial checks cfg, loads the certificates and sets up the channel. It does
// not wait for a connection: calls wait for one (within their deadline), and
// WaitReady waits explicitly.
//
// The address is resolved with gRPC's DNS resolver, every address it returns
// is connected, and the name is resolved again whenever a connection is lost.
// The host part of the address is the name the server certificate must have.
func Dial(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := dialSettings{failoverDelay: DefaultFailoverDelay}
	for _, o := range opts {
		o(&s)
	}
	host, _, _ := splitAddress(cfg.LocketAddress)
	tlsCfg, err := tlsconfig.Client(cfg.LocketClientCertFile, cfg.LocketClientKeyFile, cfg.LocketCACertFile, host, cfg.SkipCertVerify)
	if err != nil {
		return nil, fmt.Errorf("locket client TLS: %w", err)
	}
	kaTime, kaTimeout := cfg.keepAlive()
	grpcOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)),
		// Pings only while a call is in flight: upstream servers (and any
		// grpc-go server with the default enforcement policy) answer pings
		// on idle connections with GOAWAY too_many_pings. grpc-go also sets
		// TCP_USER_TIMEOUT to kaTimeout, which bounds unacknowledged writes.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: kaTime, Timeout: kaTimeout}),
		grpc.WithDisableServiceConfig(),
		grpc.WithDefaultServiceConfig(serviceConfig),
		// Reconnect to a restarted server within seconds, not minutes (the
		// default backoff grows to 120 s).
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 500 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithChainUnaryInterceptor(failoverInterceptor(s.failoverDelay)),
	}
	grpcOpts = append(grpcOpts, s.grpcOpts...)
	target := "dns:///" + cfg.LocketAddress
	conn, err := grpc.NewClient(target, grpcOpts...)
	if err != nil {
		return nil, fmt.Errorf("locket client for %s: %w", cfg.LocketAddress, err)
	}
	return &Client{LocketClient: models.NewLocketClient(conn), conn: conn, address: cfg.LocketAddress}, nil
}

// Address is the locket_address the client was dialled with.
func (c *Client) Address() string { return c.address }

// Close closes the connections.
func (c *Client) Close() error { return c.conn.Close() }

// WaitReady connects and waits until at least one server is ready or ctx
// ends (upstream components wait up to 10 s at start).
func (c *Client) WaitReady(ctx context.Context) error {
	c.conn.Connect()
	for {
		s := c.conn.GetState()
		if s == connectivity.Ready {
			return nil
		}
		if !c.conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("no Locket server ready at %s (state %s): %w", c.address, s, ctx.Err())
		}
	}
}
