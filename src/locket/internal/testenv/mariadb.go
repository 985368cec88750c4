package testenv

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// ServerTLS are the files a private database server presents (certificate
// and key) and trusts (CA). They are copied into the server's own directory.
type ServerTLS struct {
	CertFile, KeyFile, CAFile string
	// Require refuses connections without TLS.
	Require bool
}

// MariaDB is a private mariadbd of one test, on its own data directory and
// port, that the test can kill and start again (a database going away). Root
// has no password; it listens on 127.0.0.1 only.
type MariaDB struct {
	Port int
	dir  string
	tls  bool
	args []string

	mu     sync.Mutex
	cmd    *osexec.Cmd
	exited chan struct{}
}

// StartMariaDB installs a fresh data directory (about 3 s) and starts
// mariadbd on a free port; it is killed and removed when the test ends.
// tls may be nil.
func StartMariaDB(t testing.TB, tls *ServerTLS) *MariaDB {
	t.Helper()
	if _, err := osexec.LookPath("mariadbd"); err != nil {
		t.Skip("testenv: mariadbd is not installed")
	}
	dir := serverDir(t, "mysql")
	m := &MariaDB{Port: freePort(t), dir: dir, tls: tls != nil}
	t.Cleanup(func() {
		m.kill()
		os.RemoveAll(dir)
	})
	data := filepath.Join(dir, "data")
	install := []string{"--datadir=" + data, "--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		install = append(install, "--user=mysql")
	}
	if out, err := osexec.Command("mariadb-install-db", install...).CombinedOutput(); err != nil {
		t.Fatalf("testenv: mariadb-install-db: %v\n%s", err, out)
	}
	m.args = []string{
		"--no-defaults",
		"--datadir=" + data,
		"--socket=" + filepath.Join(dir, "mysqld.sock"),
		"--pid-file=" + filepath.Join(dir, "mysqld.pid"),
		"--log-error=" + filepath.Join(dir, "error.log"),
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1",
		"--skip-log-bin",
		"--innodb-buffer-pool-size=32M",
		"--max-connections=500",
	}
	if os.Geteuid() == 0 {
		m.args = append(m.args, "--user=mysql")
	}
	if tls != nil {
		cert, key, ca := copyTLS(t, dir, "mysql", tls)
		m.args = append(m.args, "--ssl-cert="+cert, "--ssl-key="+key, "--ssl-ca="+ca)
		if tls.Require {
			m.args = append(m.args, "--require-secure-transport=ON")
		}
	}
	m.Start(t)
	return m
}

// Addr is host:port of the server.
func (m *MariaDB) Addr() string { return fmt.Sprintf("127.0.0.1:%d", m.Port) }

// DSN is a go-sql-driver DSN for root on database name ("" for none); with
// TLS it asks for TLS without verifying (for admin use).
func (m *MariaDB) DSN(name string) string {
	dsn := fmt.Sprintf("root@tcp(%s)/%s", m.Addr(), name)
	if m.tls {
		dsn += "?tls=skip-verify"
	}
	return dsn
}

// Start starts mariadbd (again) and waits until it answers.
func (m *MariaDB) Start(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd != nil {
		t.Fatal("testenv: mariadbd is already running")
	}
	cmd := osexec.Command("mariadbd", m.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start mariadbd: %v", err)
	}
	m.cmd, m.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(m.exited) //nolint:errcheck // killed on purpose
	waitUp(t, "mysql", m.DSN(""), m.exited, filepath.Join(m.dir, "error.log"))
}

// Kill kills mariadbd with SIGKILL (a crash, or a host that vanished) and
// waits until it is gone: clients get "connection refused" from then on.
func (m *MariaDB) Kill(t testing.TB) {
	t.Helper()
	if !m.kill() {
		t.Fatal("testenv: mariadbd is not running")
	}
}

func (m *MariaDB) kill() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cmd == nil {
		return false
	}
	m.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	<-m.exited
	m.cmd = nil
	return true
}

// NewDatabase creates a database on this server for the test.
func (m *MariaDB) NewDatabase(t testing.TB) Database {
	t.Helper()
	name := "locket_test_" + randomHex(t, 6)
	if err := adminExec(context.Background(), "mysql", m.DSN(""), "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatal(err)
	}
	return Database{Driver: "mysql", DSN: m.DSN(name), Name: name}
}

// serverDir makes a directory the database server's own user can use (the
// test's TempDir is private to root).
func serverDir(t testing.TB, owner string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "locket-"+owner+"-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(owner)
		if err != nil {
			os.RemoveAll(dir)
			t.Fatalf("testenv: user %s: %v", owner, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			t.Fatal(err)
		}
	}
	return dir
}

// copyTLS copies the files into dir, readable by owner only.
func copyTLS(t testing.TB, dir, owner string, tls *ServerTLS) (cert, key, ca string) {
	t.Helper()
	out := []string{}
	for i, src := range []string{tls.CertFile, tls.KeyFile, tls.CAFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		dst := filepath.Join(dir, []string{"server.crt", "server.key", "ca.crt"}[i])
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if os.Geteuid() == 0 {
			u, err := user.Lookup(owner)
			if err != nil {
				t.Fatal(err)
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(dst, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, dst)
	}
	return out[0], out[1], out[2]
}

// waitUp waits up to 60 s until the server at dsn accepts TCP connections
// and answers a ping or refuses it for a reason other than not running yet.
func waitUp(t testing.TB, driver, dsn string, exited <-chan struct{}, logFile string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("testenv: open %s: %v", driver, err)
	}
	defer db.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil || !notUpYet(err) {
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("testenv: %s server exited at start:\n%s", driver, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s server did not come up: %v", driver, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notUpYet tells the errors of a server that is not listening or still
// starting from any answer a running server gives.
func notUpYet(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "57P03" // the database system is starting up
	}
	return errors.Is(err, io.EOF) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, driver.ErrBadConn)
}
