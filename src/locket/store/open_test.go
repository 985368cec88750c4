package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/store"
)

const secret = "s3cr3tPW"

func TestOpenErrorsHideThePassword(t *testing.T) {
	bad := []store.Config{
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306/db"},
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/db?timeout=soon"},
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/db?tls=nosuchconfig"},
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/d%zzb"},
		{Driver: "mysql", DSN: "root:" + secret},
		{Driver: "postgres", DSN: "postgres://root:" + secret + "@127.0.0.1:notaport/db"},
		{Driver: "postgres", DSN: "postgres://root:" + secret + "@127.0.0.1:5432/db%zz"},
		{Driver: "postgres", DSN: "host=127.0.0.1 password=" + secret + " port=abc"},
		{Driver: "postgres", DSN: "host=127.0.0.1 password='" + secret + "' sslmode=sometimes"},
		{Driver: "oracle", DSN: "scott:" + secret + "@db"},
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/db", CACertFile: "/nonexistent/ca.pem"},
	}
	for _, cfg := range bad {
		_, err := store.Open(cfg)
		if err == nil {
			t.Errorf("%s %q: no error", cfg.Driver, cfg.DSN)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", cfg.Driver, err)
		}
		t.Logf("%s: %v", cfg.Driver, err)
	}
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	port := closedPort(t)
	for _, cfg := range []store.Config{
		{Driver: "mysql", DSN: fmt.Sprintf("root:%s@tcp(127.0.0.1:%d)/db", secret, port)},
		{Driver: "mysql", DSN: "root:" + secret + "@tcp(127.0.0.1:3306)/mysql"}, // access denied
		{Driver: "postgres", DSN: fmt.Sprintf("postgres://root:%s@127.0.0.1:%d/db", secret, port)},
	} {
		st, err := store.Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = st.Ping(ctx(t))
		st.Close()
		if err == nil {
			t.Errorf("%s: ping succeeded", cfg.Driver)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", cfg.Driver, err)
		}
		t.Logf("%s: %v", cfg.Driver, err)
	}
}

// closedPort returns a port nothing listens on.
func closedPort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentServer accepts connections and never answers, like a database host
// that hangs.
func silentServer(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// TestUnreachableDatabase: every method returns a wrapped error promptly,
// whether the port refuses connections or the host hangs (then within the
// caller's deadline).
func TestUnreachableDatabase(t *testing.T) {
	refused, silent := closedPort(t), silentServer(t)
	for _, tc := range []struct {
		name, driver, dsn string
	}{
		{"mysql refused", "mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/db", refused)},
		{"mysql hangs", "mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/db", silent)},
		{"postgres refused", "postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/db?sslmode=disable", refused)},
		{"postgres hangs", "postgres", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/db?sslmode=disable", silent)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(store.Config{Driver: tc.driver, DSN: tc.dsn})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			calls := map[string]func(context.Context) error{
				"ping":    st.Ping,
				"migrate": st.Migrate,
				"lock": func(c context.Context) error {
					_, err := st.Lock(c, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 5})
					return err
				},
				"release":   func(c context.Context) error { _, err := st.Release(c, "k", "o"); return err },
				"fetch":     func(c context.Context) error { _, err := st.Fetch(c, "k"); return err },
				"fetch-all": func(c context.Context) error { _, err := st.FetchAll(c, "lock"); return err },
				"count":     func(c context.Context) error { _, _, err := st.Count(c); return err },
				"sweep":     func(c context.Context) error { _, err := st.Sweep(c); return err },
				"heartbeat": func(c context.Context) error { return st.Heartbeat(c, "id", "addr") },
			}
			for name, call := range calls {
				c, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				start := time.Now()
				err := call(c)
				took := time.Since(start)
				cancel()
				if err == nil || errors.Is(err, store.ErrCollision) || errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: got %v, want a database error", name, err)
				}
				if took > 2*time.Second {
					t.Errorf("%s: took %v", name, took)
				}
				t.Logf("%s: %v after %v", name, err, took.Round(time.Millisecond))
			}
		})
	}
}

// TestSQLiteDSN: the sqlite connection string is a plain path.
func TestSQLiteDSN(t *testing.T) {
	for _, dsn := range []string{"", "file:x.db", "x.db?mode=ro"} {
		if _, err := store.Open(store.Config{Driver: "sqlite", DSN: dsn}); err == nil {
			t.Errorf("%q: no error", dsn)
		}
	}
	db := testenv.NewDatabase(t, "sqlite")
	st := openStore(t, db)
	mustLock(t, st, store.Lock{Key: "k", Owner: "o", Type: "lock", TTL: 5})
}
