// Command locket is the Locket server: `locket -config=locket.json`, or
// `locket -dev` for a throwaway server on this machine (SQLite, generated
// certificates, connection instructions on stdout).
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"code.cloudfoundry.org/lager/v3"

	"github.com/locket-release/locket/config"
	"github.com/locket-release/locket/debugserver"
	"github.com/locket-release/locket/expiry"
	"github.com/locket-release/locket/metrics"
	"github.com/locket-release/locket/server"
	"github.com/locket-release/locket/store"
	"github.com/locket-release/locket/tlsconfig"
)

// Bounds of the shutdown: in-flight requests get stopGrace to finish.
const (
	stopGrace       = 10 * time.Second
	migrateRetry    = time.Second
	migrateDeadline = time.Minute
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	go func() {
		// After the first signal, a second one kills at once (the default
		// action) instead of waiting for the graceful stop.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("locket", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "path to the locket.json configuration file")
	dev := fs.Bool("dev", false, "run a throwaway dev server: temporary certificates and SQLite database, removed on exit")
	listen := fs.String("listen", "", "with -dev: the address to listen on (default "+DefaultDevListen+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "locket: unexpected arguments %q\n", fs.Args())
		return 2
	}

	var cfg config.Config
	switch {
	case *dev && *configPath != "":
		fmt.Fprintln(stderr, "locket: -dev and -config exclude each other")
		return 2
	case *dev:
		c, cleanup, err := devSetup(*listen, stdout)
		if err != nil {
			fmt.Fprintf(stderr, "locket: dev setup: %v\n", err)
			return 1
		}
		defer cleanup()
		cfg = c
	case *listen != "":
		fmt.Fprintln(stderr, "locket: -listen is for -dev; set listen_address in the config file")
		return 2
	case *configPath == "":
		fmt.Fprintln(stderr, "locket: -config=FILE is required (or -dev)")
		fs.Usage()
		return 2
	default:
		c, err := config.Load(*configPath)
		if err != nil {
			fmt.Fprintf(stderr, "locket: invalid-config-file: %v\n", err)
			return 1
		}
		cfg = c
	}

	logger, sink := newLogger(cfg, stdout)
	if err := serve(ctx, cfg, logger, sink); err != nil {
		logger.Error("exited-with-failure", err)
		return 1
	}
	logger.Info("exited")
	return 0
}

// serve runs the server until ctx is done (a signal); it returns nil after a
// clean stop.
func serve(ctx context.Context, cfg config.Config, logger lager.Logger, sink *lager.ReconfigurableSink) error {
	gcPercent := applyGCPercent()
	logger.Info("starting", lager.Data{
		"listen-address":  cfg.ListenAddress,
		"database-driver": cfg.DatabaseDriver,
		"debug-address":   cfg.DebugAddress,
		"metrics-address": cfg.MetricsAddress,
		// Ours (docs/features.md).
		"authorization-rules": len(cfg.Authorization.Rules),
		"history-retention":   cfg.HistoryRetention.D().String(),
		"gc-percent":          gcPercent,
	})
	tlsCfg, err := tlsconfig.Server(cfg.CertFile, cfg.KeyFile, cfg.CAFile)
	if err != nil {
		return fmt.Errorf("invalid-tls-config: %w", err)
	}

	var wg sync.WaitGroup
	defer wg.Wait()
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()

	registry := metrics.NewRegistry()
	m := metrics.NewLocket(registry)

	// The debug and metrics endpoints come up first, so that an operator
	// can raise the log level while the server waits for its database.
	if cfg.DebugAddress != "" {
		srv, err := startHTTP(logger.Session("debug-server"), cfg.DebugAddress, debugserver.Handler(sink), &wg)
		if err != nil {
			return fmt.Errorf("debug server: %w", err)
		}
		defer srv.Close()
	}
	if cfg.MetricsAddress != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", registry.Handler())
		srv, err := startHTTP(logger.Session("metrics-server"), cfg.MetricsAddress, mux, &wg)
		if err != nil {
			return fmt.Errorf("metrics server: %w", err)
		}
		defer srv.Close()
	}

	serverID := newServerID()
	st, err := store.Open(store.Config{
		Driver:                     cfg.DatabaseDriver,
		DSN:                        cfg.DatabaseConnectionString,
		CACertFile:                 cfg.SQLCACertFile,
		EnableIdentityVerification: cfg.SQLEnableIdentityVerification,
		MaxOpenConns:               cfg.MaxOpenDatabaseConnections,
		MaxConnLifetime:            cfg.MaxDatabaseConnectionLifetime.D(),
		ConnectTimeout:             cfg.DBConnectionTimeout.D(),
		ReadTimeout:                cfg.DBReadTimeout.D(),
		WriteTimeout:               cfg.DBWriteTimeout.D(),
		ServerName:                 serverID,
		ObserveQuery:               func(d time.Duration) { m.DBQueryDuration.Observe(d.Seconds()) },
	})
	if err != nil {
		return fmt.Errorf("failed-to-open-sql: %w", err)
	}
	defer st.Close()

	// The database may come up after us (a fresh deployment): keep trying.
	if !migrate(ctx, logger, st) {
		logger.Info("signalled-before-start")
		return nil
	}

	sweeper := expiry.New(st, logger, expiry.Options{
		ServerID:         serverID,
		Address:          cfg.ListenAddress,
		HistoryRetention: cfg.HistoryRetention.D(),
	}, func(l store.Lock) {
		switch l.Type {
		case "presence":
			m.PresenceExpired.Inc()
		default:
			m.LocksExpired.Inc()
		}
	})
	sweepCtx, stopSweeper := context.WithCancel(context.Background())
	sweepDone := make(chan struct{})
	go func() {
		defer close(sweepDone)
		if err := sweeper.Run(sweepCtx); err != nil && sweepCtx.Err() == nil {
			logger.Error("expiry-sweeper-failed", err)
		}
	}()
	// Runs before st.Close (deferred earlier): nothing may use the store
	// after it is closed.
	defer func() {
		stopSweeper()
		<-sweepDone
	}()

	// The change feed behind Watch; it reads the database only while
	// someone watches.
	feed := server.NewFeed(st, logger)
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); feed.Run(feedCtx) }()
	defer func() {
		stopFeed()
		<-feedDone
	}()

	grpcServer, err := server.New(server.Options{
		Logger:             logger,
		Store:              st,
		TLS:                tlsCfg,
		DBOperationTimeout: cfg.DBOperationTimeout.D(),
		Metrics:            m,
		Authorization:      cfg.Authorization,
		Feed:               feed,
	})
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("failed-to-listen: %w", err)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- grpcServer.Serve(lis) }()

	checker := &server.HealthChecker{
		DB:               st,
		Logger:           logger,
		SetServing:       grpcServer.SetServing,
		Interval:         cfg.HealthCheckInterval.D(),
		Timeout:          cfg.HealthCheckTimeout.D(),
		FailureThreshold: cfg.HealthCheckFailureThreshold,
	}
	reporter := &server.Reporter{
		Source:   st,
		Metrics:  m,
		Logger:   logger,
		Interval: cfg.ReportInterval.D(),
		Timeout:  cfg.DBOperationTimeout.D(),
	}
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); checker.Run(bgCtx) }()
	go func() { defer bg.Done(); reporter.Run(bgCtx) }()
	defer func() {
		stopBackground()
		bg.Wait()
	}()

	logger.Info("started", lager.Data{"listen-address": lis.Addr().String()})

	var result error
	select {
	case <-ctx.Done():
		logger.Info("signalled")
	case err := <-serveErr:
		result = fmt.Errorf("failed-to-serve: %w", err)
	}

	// Stop taking requests and let the in-flight ones finish; the deferred
	// calls then stop the checker, the reporter and the sweeper (other
	// servers take over expiry) before the database is closed.
	grpcServer.Stop(stopGrace)
	return result
}

// migrate creates or upgrades the schema, retrying every second until it
// works; it returns false when ctx ends first.
func migrate(ctx context.Context, logger lager.Logger, st *store.Store) bool {
	for attempt := 1; ; attempt++ {
		mctx, cancel := context.WithTimeout(ctx, migrateDeadline)
		err := st.Migrate(mctx)
		cancel()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		logger.Error("failed-to-migrate", err, lager.Data{"attempt": attempt, "retry-in": migrateRetry.String()})
		select {
		case <-ctx.Done():
			return false
		case <-time.After(migrateRetry):
		}
	}
}

// startHTTP listens on addr and serves h in the background.
func startHTTP(logger lager.Logger, addr string, h http.Handler, wg *sync.WaitGroup) (*http.Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("failed-to-serve", err)
		}
	}()
	logger.Info("started", lager.Data{"address": lis.Addr().String()})
	return srv, nil
}

// newServerID returns a random UUID (version 4) naming this server process
// in the database's heartbeat table.
func newServerID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
