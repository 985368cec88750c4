package faults

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MariaDB is a private mariadbd of the test's own (datadir, socket, port),
// so it can be stopped, killed and started without touching the machine's
// shared database servers.
type MariaDB struct {
	t       testing.TB
	Name    string
	Port    int
	dir     string
	datadir string
	args    []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// mysqlUser runs the private servers: Galera's rsync state transfer only
// works when mariadbd does not run as root (rsyncd would drop to nobody).
const mysqlUser = "mysql"

// newBaseDir makes a directory the mysql user can use, removed at the end.
// Its name carries the test process's pid so that a later run can tell a
// dead run's leftovers (CleanupLeftovers).
func newBaseDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", prefix, os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	runCmd(t, "chown", mysqlUser+":"+mysqlUser, dir)
	return dir
}

// installDatadir runs mariadb-install-db into dir/name.
func installDatadir(t testing.TB, base, name string) string {
	t.Helper()
	d := filepath.Join(base, name)
	runCmd(t, "mariadb-install-db", "--no-defaults", "--datadir="+d, "--user="+mysqlUser,
		"--auth-root-authentication-method=normal", "--skip-test-db")
	return d
}

func runCmd(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// StartMariaDB installs and starts a private mariadbd; it is killed when the
// test ends.
func StartMariaDB(t testing.TB) *MariaDB {
	t.Helper()
	requireBinary(t, "mariadbd", "mariadb-server")
	base := newBaseDir(t, "lkf-mariadb-")
	datadir := installDatadir(t, base, "data")
	m := newMariaDB(t, "mariadb", base, datadir, freePort(t))
	m.Start()
	return m
}

func newMariaDB(t testing.TB, name, base, datadir string, port int, extra ...string) *MariaDB {
	m := &MariaDB{t: t, Name: name, Port: port, dir: base, datadir: datadir}
	m.args = append([]string{
		"--no-defaults",
		"--datadir=" + datadir,
		"--socket=" + filepath.Join(base, name+".sock"),
		"--pid-file=" + filepath.Join(base, name+".pid"),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--user=" + mysqlUser,
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=32M",
		"--max-connections=500",
	}, extra...)
	t.Cleanup(m.Kill)
	return m
}

// DSN is the admin DSN (no database).
func (m *MariaDB) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = fmt.Sprintf("127.0.0.1:%d", m.Port)
	cfg.DBName = db
	return cfg.FormatDSN()
}

// Start starts mariadbd and waits until it answers a query.
func (m *MariaDB) Start() {
	m.t.Helper()
	m.StartNoWait()
	if err := waitForSQL("mysql", m.DSN(""), 60*time.Second, m.running); err != nil {
		m.t.Fatalf("%s did not come up: %v\n%s", m.Name, err, m.Log())
	}
}

// StartNoWait starts mariadbd without waiting for it.
func (m *MariaDB) StartNoWait(extra ...string) {
	m.t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.log = &bytes.Buffer{}
	cmd := exec.Command("mariadbd", append(append([]string(nil), m.args...), extra...)...)
	cmd.Stdout, cmd.Stderr = m.log, m.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		m.t.Fatalf("start %s: %v", m.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
}

func (m *MariaDB) running() bool {
	m.mu.Lock()
	done := m.done
	m.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// Log is mariadbd's output of the current run.
func (m *MariaDB) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.log == nil {
		return ""
	}
	return m.log.String()
}

// Stop shuts mariadbd down cleanly (SIGTERM) and waits.
func (m *MariaDB) Stop() { m.signalAndWait(syscall.SIGTERM, 60*time.Second) }

// Kill SIGKILLs mariadbd and waits (a crash).
func (m *MariaDB) Kill() { m.signalAndWait(syscall.SIGKILL, 10*time.Second) }

func (m *MariaDB) signalAndWait(sig syscall.Signal, timeout time.Duration) {
	m.mu.Lock()
	cmd, done := m.cmd, m.done
	m.mu.Unlock()
	if cmd == nil || !m.running() {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done
	}
}

// waitForSQL waits until a query succeeds on dsn.
func waitForSQL(driver, dsn string, timeout time.Duration, alive func() bool) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = db.ExecContext(ctx, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		if alive != nil && !alive() {
			return fmt.Errorf("the server exited: %w", err)
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Galera is a three-node MariaDB Galera cluster on loopback ports behind a
// proxy that, like a foundation's, sends every connection to one node and
// moves to the next when that one stops accepting.
type Galera struct {
	Nodes []*MariaDB
	proxy *forwarder
}

// galeraLib is where Debian's galera-4 puts the provider.
const galeraLib = "/usr/lib/galera/libgalera_smm.so"

// StartGalera installs galera-4 if needed (skipping the test when that is
// impossible), bootstraps the first node and joins two more (rsync state
// transfer). evs timeouts are scaled down with the suite's short TTLs, as a
// foundation's 5 s suspect timeout is to its 15 s TTLs. The inactive and
// install timeouts are three suspect timeouts: with less, two live nodes on a
// loaded 2-core machine could fail to agree on the new membership in time
// and both stay non-primary ("WSREP has not yet prepared node"), an outage
// of the test rig, not of a foundation's cluster.
func StartGalera(t testing.TB, suspect time.Duration) *Galera {
	t.Helper()
	if err := ensureGalera(); err != nil {
		t.Skipf("Galera is not available and could not be installed (apt-get install galera-4 rsync): %v", err)
	}
	requireBinary(t, "mariadbd", "mariadb-server")
	base := newBaseDir(t, "lkf-galera-")
	seed := installDatadir(t, base, "seed")
	var ports, gports []int
	for range 3 {
		ports = append(ports, freePort(t))
		gports = append(gports, freePort(t))
	}
	var members []string
	for _, p := range gports {
		members = append(members, fmt.Sprintf("127.0.0.1:%d", p))
	}
	g := &Galera{}
	for i := range 3 {
		name := fmt.Sprintf("galera%d", i+1)
		datadir := filepath.Join(base, name)
		runCmd(t, "cp", "-a", seed, datadir)
		opts := fmt.Sprintf("gmcast.listen_addr=tcp://127.0.0.1:%d;ist.recv_addr=127.0.0.1:%d;gcache.size=32M;"+
			"evs.keepalive_period=PT%.1fS;evs.inactive_check_period=PT%.1fS;evs.suspect_timeout=PT%.1fS;"+
			"evs.inactive_timeout=PT%.1fS;evs.install_timeout=PT%.1fS",
			gports[i], freePort(t),
			suspect.Seconds()/5, suspect.Seconds()/5, suspect.Seconds(), 3*suspect.Seconds(), 3*suspect.Seconds())
		g.Nodes = append(g.Nodes, newMariaDB(t, name, base, datadir, ports[i],
			"--binlog-format=ROW",
			"--innodb-autoinc-lock-mode=2",
			"--wsrep-on=ON",
			"--wsrep-provider="+galeraLib,
			"--wsrep-cluster-name=lkf-"+strconv.Itoa(os.Getpid()),
			"--wsrep-cluster-address=gcomm://"+strings.Join(members, ","),
			"--wsrep-node-name="+name,
			"--wsrep-node-address="+members[i],
			"--wsrep-provider-options="+opts,
			fmt.Sprintf("--wsrep-sst-receive-address=127.0.0.1:%d", freePort(t)),
			"--wsrep-sst-method=rsync",
		))
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range g.Nodes {
				t.Logf("%s log tail:\n%s", n.Name, tail(n.Log(), 25))
			}
		}
	})
	// A state transfer (rsync) takes ~15 s per joiner. Instead every node
	// starts from a copy of the bootstrap node's datadir taken after a clean
	// shutdown: same cluster state id and seqno, so the joiners need none.
	first := g.Nodes[0]
	first.StartNoWait("--wsrep-new-cluster")
	if err := waitForSQL("mysql", first.DSN(""), 60*time.Second, first.running); err != nil {
		t.Fatalf("galera bootstrap node did not come up: %v\n%s", err, first.Log())
	}
	first.Stop()
	for _, n := range g.Nodes[1:] {
		os.RemoveAll(n.datadir)
		runCmd(t, "cp", "-a", first.datadir, n.datadir)
	}
	first.StartNoWait("--wsrep-new-cluster")
	if err := waitForSQL("mysql", first.DSN(""), 60*time.Second, first.running); err != nil {
		t.Fatalf("galera bootstrap node did not come up again: %v\n%s", err, first.Log())
	}
	for _, n := range g.Nodes[1:] {
		n.StartNoWait()
	}
	for _, n := range g.Nodes {
		if err := waitSynced(n, 120*time.Second); err != nil {
			t.Fatalf("%s did not join: %v\n%s", n.Name, err, n.Log())
		}
	}
	ln, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	g.proxy = newForwarder(ln, func() []string {
		var bs []string
		for _, n := range g.Nodes {
			bs = append(bs, fmt.Sprintf("127.0.0.1:%d", n.Port))
		}
		return bs
	})
	t.Cleanup(g.proxy.Close)
	return g
}

// DSN reaches the cluster through the proxy.
func (g *Galera) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = g.proxy.Addr()
	cfg.DBName = db
	return cfg.FormatDSN()
}

// Active is the node the proxy sends connections to.
func (g *Galera) Active() *MariaDB {
	g.proxy.mu.Lock()
	defer g.proxy.mu.Unlock()
	return g.Nodes[g.proxy.current]
}

func waitSynced(n *MariaDB, timeout time.Duration) error {
	db, err := sql.Open("mysql", n.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(timeout)
	for {
		var name, state string
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.QueryRowContext(ctx, "SHOW STATUS LIKE 'wsrep_local_state_comment'").Scan(&name, &state)
		cancel()
		if err == nil && state == "Synced" {
			return nil
		}
		if !n.running() {
			return errors.New("mariadbd exited")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("state %q, last error %v", state, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var galeraOnce struct {
	sync.Once
	err error
}

// ensureGalera installs Debian's galera-4 and rsync (state transfer) when
// missing.
func ensureGalera() error {
	galeraOnce.Do(func() {
		_, errLib := os.Stat(galeraLib)
		_, errRsync := exec.LookPath("rsync")
		if errLib == nil && errRsync == nil {
			return
		}
		if out, err := exec.Command("apt-get", "update", "-qq").CombinedOutput(); err != nil {
			galeraOnce.err = fmt.Errorf("apt-get update: %v: %s", err, lastLine(out))
			return
		}
		cmd := exec.Command("apt-get", "install", "-y", "-qq", "--no-install-recommends", "galera-4", "rsync")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			galeraOnce.err = fmt.Errorf("apt-get install galera-4 rsync: %v: %s", err, lastLine(out))
			return
		}
		if _, err := os.Stat(galeraLib); err != nil {
			galeraOnce.err = err
		}
	})
	return galeraOnce.err
}

func tail(s string, n int) string {
	lines := splitLines(s)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

func requireBinary(t testing.TB, name, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: install Debian's %s (scripts/test does)", name, pkg)
	}
}

// cleanupLeftoverDatabases kills the private mariadbd servers of runs that
// died before their cleanup and removes their directories.
func cleanupLeftoverDatabases(t testing.TB) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "lkf-*-*-*"))
	dead := map[string]bool{}
	for _, d := range dirs {
		parts := strings.Split(filepath.Base(d), "-") // lkf, kind, pid, random
		if len(parts) < 4 {
			continue
		}
		if pid, err := strconv.Atoi(parts[2]); err == nil && !processAlive(pid) {
			dead[d] = true
		}
	}
	if len(dead) == 0 {
		return
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || filepath.Base(args[0]) != "mariadbd" {
			continue
		}
		for _, a := range args {
			datadir, ok := strings.CutPrefix(a, "--datadir=")
			if !ok || !dead[filepath.Dir(datadir)] {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				t.Logf("killed leftover mariadbd %d (%s)", pid, datadir)
			}
		}
	}
	time.Sleep(200 * time.Millisecond)
	for d := range dead {
		os.RemoveAll(d)
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}
