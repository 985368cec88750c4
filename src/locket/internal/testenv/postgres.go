package testenv

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Postgres is a private Postgres cluster of one test, on its own data
// directory and port, that the test can kill and start again. User postgres
// is trusted; it listens on 127.0.0.1 only.
type Postgres struct {
	Port int
	dir  string
	tls  bool
	args []string
	cred *syscall.Credential

	mu     sync.Mutex
	cmd    *osexec.Cmd
	exited chan struct{}
}

// StartPostgres runs initdb (a few seconds) and starts postgres on a free
// port; it is killed and removed when the test ends. tls may be nil.
func StartPostgres(t testing.TB, tls *ServerTLS) *Postgres {
	t.Helper()
	bin, err := postgresBin()
	if err != nil {
		t.Skipf("testenv: %v", err)
	}
	dir := serverDir(t, "postgres")
	p := &Postgres{Port: freePort(t), dir: dir, tls: tls != nil}
	if os.Geteuid() == 0 {
		// Postgres refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("testenv: user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	t.Cleanup(func() {
		p.kill()
		os.RemoveAll(dir)
	})
	data := filepath.Join(dir, "data")
	initdb := osexec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n"
	if tls == nil || !tls.Require {
		hba += "host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n"
	}
	if err := os.WriteFile(filepath.Join(data, "pg_hba.conf"), []byte(hba), 0o644); err != nil {
		t.Fatal(err)
	}
	p.args = []string{
		"-D", data, "-p", strconv.Itoa(p.Port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200",
	}
	if tls != nil {
		cert, key, ca := copyTLS(t, dir, "postgres", tls)
		p.args = append(p.args, "-c", "ssl=on", "-c", "ssl_cert_file="+cert, "-c", "ssl_key_file="+key, "-c", "ssl_ca_file="+ca)
	}
	p.args = append([]string{filepath.Join(bin, "postgres")}, p.args...)
	p.Start(t)
	return p
}

// postgresBin finds the directory of initdb and postgres.
func postgresBin() (string, error) {
	if path, err := osexec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil {
			return filepath.Dir(real), nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", fmt.Errorf("initdb is not installed")
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// DSN is a pgx URL for user postgres on database name; with TLS it asks for
// TLS without verifying (for admin use).
func (p *Postgres) DSN(name string) string {
	mode := "disable"
	if p.tls {
		mode = "require"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=%s", p.Port, name, mode)
}

// Start starts postgres (again) and waits until it answers.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		t.Fatal("testenv: postgres is already running")
	}
	logFile := filepath.Join(p.dir, "postgres.log")
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := osexec.Command(p.args[0], p.args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Credential: p.cred}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start postgres: %v", err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(p.exited) //nolint:errcheck // killed on purpose
	waitUp(t, "pgx", p.DSN("postgres"), p.exited, logFile)
}

// Kill kills the postmaster with SIGKILL and waits until it is gone. Its
// backends notice and exit by themselves; clients get "connection refused".
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	if !p.kill() {
		t.Fatal("testenv: postgres is not running")
	}
}

func (p *Postgres) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	// Backends run in process groups of their own and would notice the
	// postmaster's death only at their next wait, possibly answering a query
	// first: kill them too, and wait until none is left.
	children := childPids(p.cmd.Process.Pid)
	p.cmd.Process.Kill() //nolint:errcheck // it may have exited already
	for _, pid := range children {
		syscall.Kill(pid, syscall.SIGKILL) //nolint:errcheck // it may have exited already
	}
	<-p.exited
	for _, pid := range children {
		waitDead(pid)
	}
	p.cmd = nil
	return true
}

// childPids lists the processes whose parent is pid.
func childPids(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _ := procStat(child); ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// procStat returns the parent pid and state of pid from /proc/pid/stat.
func procStat(pid int) (ppid int, state string) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, ""
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, ""
	}
	ppid, _ = strconv.Atoi(f[1])
	return ppid, f[0]
}

// waitDead waits up to 10 s until pid is gone or a zombie (dead, its
// sockets closed; orphans are reaped lazily here).
func waitDead(pid int) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if _, state := procStat(pid); state == "" || state == "Z" || state == "X" {
			return
		}
	}
}

// NewDatabase creates a database on this cluster for the test.
func (p *Postgres) NewDatabase(t testing.TB) Database {
	t.Helper()
	name := "locket_test_" + randomHex(t, 6)
	if err := adminExec(context.Background(), "pgx", p.DSN("postgres"), `CREATE DATABASE "`+name+`"`); err != nil {
		t.Fatal(err)
	}
	return Database{Driver: "postgres", DSN: p.DSN(name), Name: name}
}
