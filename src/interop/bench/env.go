package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/locket"
	"code.cloudfoundry.org/locket/models"
	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/locket-release/locket/internal/testenv"
)

// Env is what every workload shares: the binaries, the PKI, a scratch
// directory, and the databases it created (dropped by Close).
type Env struct {
	Opts  Options
	Certs *testenv.Certs
	Dir   string

	logger lager.Logger // for upstream's client constructor; no sink

	mu     sync.Mutex
	ports  map[int]bool
	drops  map[string]func() error
	serial int
}

// NewEnv makes the scratch directory and the certificates.
func NewEnv(opts Options) (*Env, error) {
	dir, err := os.MkdirTemp("", "locket-bench-")
	if err != nil {
		return nil, fmt.Errorf("scratch dir: %w", err)
	}
	c, err := testenv.WriteCerts(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Env{
		Opts: opts, Certs: c, Dir: dir,
		logger: lager.NewLogger("bench"),
		ports:  map[int]bool{}, drops: map[string]func() error{},
	}, nil
}

// Close drops the databases still there and removes the scratch directory.
func (e *Env) Close() {
	e.mu.Lock()
	names := make([]string, 0, len(e.drops))
	for n := range e.drops {
		names = append(names, n)
	}
	e.mu.Unlock()
	for _, n := range names {
		e.DropDatabase(n)
	}
	os.RemoveAll(e.Dir)
}

func (e *Env) logf(format string, args ...any) {
	if e.Opts.Progress != nil {
		fmt.Fprintf(e.Opts.Progress, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

// NewDatabase creates an empty database locket_bench_<random> on driver's
// server.
func (e *Env) NewDatabase(ctx context.Context, driver string) (testenv.Database, error) {
	db, drop, err := testenv.CreateDatabase(ctx, driver, "locket_bench_")
	if err != nil {
		return testenv.Database{}, err
	}
	e.mu.Lock()
	e.drops[db.Name] = drop
	e.mu.Unlock()
	return db, nil
}

// DropDatabase drops a database NewDatabase created.
func (e *Env) DropDatabase(name string) {
	e.mu.Lock()
	drop := e.drops[name]
	delete(e.drops, name)
	e.mu.Unlock()
	if drop == nil {
		return
	}
	if err := drop(); err != nil {
		e.logf("warning: %v", err)
	}
}

// openSQL opens a database/sql handle on a benchmark database.
func openSQL(db testenv.Database, conns int) (*sql.DB, error) {
	driver := map[string]string{"mysql": "mysql", "postgres": "pgx"}[db.Driver]
	if driver == "" {
		return nil, fmt.Errorf("unsupported driver %q", db.Driver)
	}
	h, err := sql.Open(driver, db.DSN)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", db.Driver, err)
	}
	h.SetMaxOpenConns(conns)
	h.SetMaxIdleConns(conns)
	return h, nil
}

// rebind turns ? placeholders into $n for Postgres.
func rebind(driver, q string) string {
	return testenv.Database{Driver: driver}.Rebind(q)
}

// freeAddress returns a free 127.0.0.1 port that no earlier server of this
// run used: upstream's client cannot be closed, so the connections of a
// finished round keep redialing their old address and must never find a
// later server there.
func (e *Env) freeAddress() (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("find a free port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !e.ports[port] {
			e.ports[port] = true
			return l.Addr().String(), nil
		}
	}
	return "", fmt.Errorf("no unused free port after 100 tries")
}

// ClientConfig is the upstream client configuration of a foundation
// component (BBS, rep) pointed at addr.
func (e *Env) ClientConfig(addr string) locket.ClientLocketConfig {
	return locket.ClientLocketConfig{
		LocketAddress:                addr,
		LocketCACertFile:             e.Certs.CAFile,
		LocketClientCertFile:         e.Certs.ClientCertFile,
		LocketClientKeyFile:          e.Certs.ClientKey,
		LocketClientKeepAliveTime:    10,
		LocketClientKeepAliveTimeout: 22,
	}
}

// Clients opens n upstream clients (each its own connection, as n
// components would have) to addr.
func (e *Env) Clients(addr string, n int) ([]models.LocketClient, error) {
	cs := make([]models.LocketClient, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			cs[i], errs[i] = locket.NewClient(e.logger, e.ClientConfig(addr))
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("upstream client to %s: %w", addr, err)
		}
	}
	return cs, nil
}

// DBVersion asks driver's server for its version.
func (e *Env) DBVersion(ctx context.Context, driver string) string {
	db, err := e.NewDatabase(ctx, driver)
	if err != nil {
		return "unreachable"
	}
	defer e.DropDatabase(db.Name)
	h, err := openSQL(db, 1)
	if err != nil {
		return "unreachable"
	}
	defer h.Close()
	q := "SELECT VERSION()"
	if driver == "postgres" {
		q = "SHOW server_version"
	}
	var v string
	if err := h.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "unreachable"
	}
	return v
}
