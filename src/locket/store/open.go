package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/locket-release/locket/tlsconfig"
)

// Store is the locks table on one database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	dialect dialect
	q       queries
	stats   queryStats
	// server is recorded in history rows; changed is signalled after every
	// committed history write, so this server's change feed polls at once.
	server  string
	changed chan struct{}
	// hints choose a Lock's first statement (holders.go).
	hints    holderHints
	prepared preparedStmts
	// renewals batches hinted renewals (renewals.go).
	renewals     renewalQueue
	renewalStmts renewalStmts
	renewalStall time.Duration
	// admit bounds acquisitions and releases (admission.go).
	admit admission
}

// Defaults where the Config leaves a field zero.
const (
	defaultConnectTimeout = 5 * time.Second
	// Without enough idle connections database/sql closes and reopens
	// connections under load, which costs more than the queries.
	defaultMaxIdleConns = 100
)

// Open parses cfg and builds the connection pool. It does no network I/O:
// the first query (or Ping) connects.
func Open(cfg Config) (*Store, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	switch cfg.Driver {
	case "mysql":
		db, err = openMySQL(cfg)
		d = mysqlDialect
	case "postgres":
		db, err = openPostgres(cfg)
		d = postgresDialect
	case "sqlite":
		db, err = openSQLite(cfg)
		d = sqliteDialect
	default:
		return nil, fmt.Errorf("unsupported database driver %q (want mysql, postgres or sqlite)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	if cfg.Driver != "sqlite" {
		if cfg.MaxOpenConns > 0 {
			db.SetMaxOpenConns(cfg.MaxOpenConns)
			db.SetMaxIdleConns(cfg.MaxOpenConns)
		} else {
			db.SetMaxIdleConns(defaultMaxIdleConns)
		}
	}
	if cfg.MaxConnLifetime > 0 {
		db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	}
	st := &Store{db: db, dialect: d, q: newQueries(d), server: cfg.ServerName, changed: make(chan struct{}, 1),
		stats:    queryStats{observe: cfg.ObserveQuery},
		renewals: renewalQueue{slots: renewalStatements}, renewalStall: renewalStall}
	if cfg.Driver != "sqlite" {
		st.admit = newAdmission(cfg.MaxOpenConns)
	}
	if d.mysql {
		st.prepared.queries = []string{st.q.renew, st.q.holder}
	}
	return st, nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	s.prepared.close()
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	done := s.stats.begin()
	err := s.db.PingContext(ctx)
	done(err)
	if err != nil {
		return fmt.Errorf("ping %s database: %w", s.dialect.name, err)
	}
	return nil
}

func openMySQL(cfg Config) (*sql.DB, error) {
	mc, err := mysql.ParseDSN(cfg.DSN)
	if err != nil {
		return nil, dsnError("mysql", cfg.DSN, err)
	}
	// The renewal tells acquired (1), renewed (2) and collision (0) apart by
	// the number of changed rows, which clientFoundRows would blur.
	mc.ClientFoundRows = false
	// One round trip per statement instead of prepare/execute/close.
	mc.InterpolateParams = true
	if mc.Params == nil {
		mc.Params = map[string]string{}
	}
	// UNIX_TIMESTAMP(NOW(6)) is exact only in a time zone without DST.
	mc.Params["time_zone"] = "'+00:00'"
	// Overlong values must fail, never be truncated, whatever the server's
	// (or the DSN's) mode; the other modes are kept.
	mode := "@@sql_mode"
	if v, ok := mc.Params["sql_mode"]; ok {
		mode = v
	}
	mc.Params["sql_mode"] = "CONCAT_WS(',',NULLIF(" + mode + ",''),'STRICT_ALL_TABLES')"
	if cfg.ConnectTimeout > 0 {
		mc.Timeout = cfg.ConnectTimeout
	} else if mc.Timeout == 0 {
		mc.Timeout = defaultConnectTimeout
	}
	if cfg.ReadTimeout > 0 {
		mc.ReadTimeout = cfg.ReadTimeout
	}
	if cfg.WriteTimeout > 0 {
		mc.WriteTimeout = cfg.WriteTimeout
	}
	if cfg.CACertFile != "" {
		if mc.Net == "unix" {
			return nil, errors.New("mysql: a CA certificate file is set but the connection string names a unix socket (TLS needs tcp)")
		}
		host, _, err := net.SplitHostPort(mc.Addr)
		if err != nil {
			host = mc.Addr
		}
		tc, err := databaseTLS(cfg.CACertFile, host, cfg.EnableIdentityVerification)
		if err != nil {
			return nil, err
		}
		mc.TLS = tc
		mc.TLSConfig = ""
		mc.AllowFallbackToPlaintext = false
	}
	mc.DialFunc = dialMySQL
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, dsnError("mysql", cfg.DSN, err)
	}
	return sql.OpenDB(conn), nil
}

func openPostgres(cfg Config) (*sql.DB, error) {
	pc, err := pgx.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, dsnError("postgres", cfg.DSN, err)
	}
	if cfg.ConnectTimeout > 0 {
		pc.ConnectTimeout = cfg.ConnectTimeout
	} else if pc.ConnectTimeout == 0 {
		pc.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.CACertFile != "" {
		// TLS is required: every host the string names gets our TLS settings
		// and the plaintext fallbacks of sslmode=prefer are dropped.
		tc, err := databaseTLS(cfg.CACertFile, pc.Host, cfg.EnableIdentityVerification)
		if err != nil {
			return nil, err
		}
		pc.TLSConfig = tc
		seen := map[string]bool{fmt.Sprintf("%s:%d", pc.Host, pc.Port): true}
		var fbs []*pgconn.FallbackConfig
		for _, fb := range pc.Fallbacks {
			k := fmt.Sprintf("%s:%d", fb.Host, fb.Port)
			if seen[k] {
				continue
			}
			seen[k] = true
			if fb.TLSConfig, err = databaseTLS(cfg.CACertFile, fb.Host, cfg.EnableIdentityVerification); err != nil {
				return nil, err
			}
			fbs = append(fbs, fb)
		}
		pc.Fallbacks = fbs
	}
	return stdlib.OpenDB(*pc), nil
}

func openSQLite(cfg Config) (*sql.DB, error) {
	if cfg.DSN == "" {
		return nil, errors.New("sqlite: the connection string must be a file path")
	}
	if strings.ContainsAny(cfg.DSN, "?#") || strings.HasPrefix(cfg.DSN, "file:") {
		return nil, errors.New("sqlite: the connection string must be a plain file path")
	}
	db, err := sql.Open("sqlite3", "file:"+cfg.DSN+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=synchronous(normal)")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", cfg.DSN, err)
	}
	// SQLite has one writer at a time; one connection serialises the store's
	// statements in Go instead of in busy-wait loops (dev use, one server).
	db.SetMaxOpenConns(1)
	return db, nil
}

// databaseTLS returns the TLS settings for a connection to host verified
// against caFile. Without identity verification the chain is still verified,
// only the host name is not (sql_enable_identity_verification: false).
func databaseTLS(caFile, host string, verifyIdentity bool) (*tls.Config, error) {
	pool, err := tlsconfig.LoadCAs(caFile)
	if err != nil {
		return nil, fmt.Errorf("database TLS: %w", err)
	}
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: host,
	}
	if verifyIdentity {
		return tc, nil
	}
	// InsecureSkipVerify only turns off Go's built-in check, which always
	// includes the host name; VerifyPeerCertificate redoes the chain check.
	tc.InsecureSkipVerify = true
	tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("database TLS: the server sent no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, r := range raw {
			c, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("database TLS: parse server certificate: %w", err)
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter})
		if err != nil {
			return fmt.Errorf("database TLS: %w", err)
		}
		return nil
	}
	return tc, nil
}

// dsnError reports a connection string that does not parse without echoing
// the string: drivers put (parts of) it, password included, in their errors.
func dsnError(driver, dsn string, err error) error {
	msg := err.Error()
	for _, secret := range dsnSecrets(dsn) {
		if strings.Contains(msg, secret) {
			return fmt.Errorf("%s: invalid database connection string (details withheld: they would show the password)", driver)
		}
	}
	return fmt.Errorf("%s: invalid database connection string: %s", driver, msg)
}

// dsnSecrets guesses the substrings of dsn that may be a password, for
// dsnError: a password= value, or the text between the first ':' and the
// last '@' of the part that holds credentials.
func dsnSecrets(dsn string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 1 {
			out = append(out, s)
		}
	}
	if i := strings.Index(dsn, "password="); i >= 0 {
		v := dsn[i+len("password="):]
		if j := strings.IndexAny(v, " &"); j >= 0 {
			v = v[:j]
		}
		add(strings.Trim(v, "'"))
	}
	rest := dsn
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		cred := rest[:at]
		if c := strings.Index(cred, ":"); c >= 0 {
			add(cred[c+1:])
		}
	}
	return out
}
