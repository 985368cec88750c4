package main_test

import (
	"context"
	"maps"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

const collision = "rpc error: code = AlreadyExists desc = lock-collision"

type env struct {
	db    testenv.Database
	certs *testenv.Certs
	srv   *testenv.Server
	raw   models.LocketClient
	bin   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := testenv.NewDatabase(t, "mysql")
	certs := testenv.NewCerts(t)
	srv := testenv.StartServer(t, db, certs)
	return &env{db: db, certs: certs, srv: srv, raw: srv.Client(t), bin: testenv.BuildCommand(t, "./cmd/lock-holder")}
}

// holder starts lock-holder with the client keys, component bbs, a 1 s
// retry interval and the given keys on top; args go after "--".
func (e *env) holder(t *testing.T, cfg map[string]any, args ...string) *testenv.Process {
	t.Helper()
	c := e.certs.ClientConfig(e.srv.Address)
	maps.Copy(c, map[string]any{
		"component": "bbs", "key": "bbs", "retry_interval": "1s", "work_interval": "200ms",
		"time_format": "rfc3339", "command_stop_timeout": "2s",
	})
	maps.Copy(c, cfg)
	argv := []string{"-config=" + testenv.WriteJSON(t, "lock-holder.json", c)}
	if len(args) > 0 {
		argv = append(append(argv, "--"), args...)
	}
	return testenv.StartProcess(t, exec.Command(e.bin, argv...))
}

func (e *env) owner(t *testing.T, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.raw.Fetch(ctx, &models.FetchRequest{Key: key})
	if status.Code(err) == codes.NotFound {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetResource().GetOwner()
}

// steal gives key to thief behind the holder's back, in one statement on
// the table (a Release then a Lock would leave the holder a moment in which
// it may take the lock back).
func (e *env) steal(t *testing.T, key, thief string) {
	t.Helper()
	db := e.db.Admin(t)
	defer db.Close()
	res, err := db.Exec(e.db.Rebind("UPDATE locks SET owner = ? WHERE path = ?"), thief, key)
	if err != nil {
		t.Fatalf("steal %s: %v", key, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("steal %s: %d rows", key, n)
	}
}

// messages lists the messages of p's log lines, in order.
func messages(p *testenv.Process) []string {
	var out []string
	for _, l := range p.Logs() {
		out = append(out, l.Message)
	}
	return out
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestHandOverOnSIGTERM is the seed's "Changing who has locks": two BBS-like
// holders, the active one gets SIGTERM (monit restart), the other takes
// over, and the restarted one collides with the new holder.
func TestHandOverOnSIGTERM(t *testing.T) {
	e := newEnv(t)
	const a, b = "9e859b27-ac41-4e39-ba59-bb87d520d987", "fe89652e-4e59-4efc-b75c-88cc029ed816"

	pa := e.holder(t, map[string]any{"owner": a})
	acq := pa.WaitForMessage(10*time.Second, "bbs.locket-lock.acquired-lock")
	wantLock := `"lock":{"key":"bbs","owner":"` + a + `","type":"lock","type_code":1}`
	if acq.Source != "bbs" || !strings.Contains(acq.Raw, wantLock) || !strings.Contains(acq.Raw, `"ttl_in_seconds":15`) {
		t.Errorf("acquired-lock line: %s", acq.Raw)
	}
	pa.WaitForMessage(10*time.Second, "bbs.work.working") // it works while it holds the lock

	pb := e.holder(t, map[string]any{"owner": b})
	f := pb.WaitForMessage(10*time.Second, "bbs.locket-lock.failed-to-acquire-lock")
	if f.Level != "error" || f.Data["error"] != collision || f.Data["lock-owner"] != a || !uuidRE.MatchString(f.Data["request-uuid"].(string)) {
		t.Errorf("failed-to-acquire-lock line: %s", f.Raw)
	}
	time.Sleep(3 * time.Second)
	if n := len(pb.LogsWithMessage("bbs.locket-lock.failed-to-acquire-lock")); n != 1 {
		t.Errorf("standby logged failed-to-acquire-lock %d times; later collisions are silent", n)
	}
	if n := len(pb.LogsWithMessage("bbs.work.working")); n != 0 {
		t.Errorf("the standby worked without the lock")
	}

	stopped := time.Now()
	pa.Signal(syscall.SIGTERM)
	if code := pa.Wait(10 * time.Second); code != 0 {
		t.Errorf("lock-holder exited %d on SIGTERM, want 0", code)
	}
	want := []string{"bbs.signalled", "bbs.work.stopped", "bbs.locket-lock.released-lock", "bbs.locket-lock.completed", "bbs.exited"}
	if got := messages(pa); !inOrder(got, want) {
		t.Errorf("the stopped holder logged %q; want %q in this order (work stops before the release)", got, want)
	}
	pb.WaitForMessage(10*time.Second, "bbs.locket-lock.acquired-lock")
	t.Logf("handover: the standby acquired the lock %s after SIGTERM (retry interval 1 s)", time.Since(stopped).Round(time.Millisecond))
	pb.WaitForMessage(10*time.Second, "bbs.work.started")
	if got := e.owner(t, "bbs"); got != b {
		t.Errorf("owner %q after handover, want %s", got, b)
	}

	// The server's side of the handover, as in the seed: released-lock of a,
	// then acquired-lock of b with the request-uuid, and no error line.
	rel := e.srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "locket.release.release-lock.released-lock" && l.Data["owner"] == a
	})
	got := e.srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "locket.lock.lock.acquired-lock" && l.Data["owner"] == b
	})
	if rel.Data["key"] != "bbs" || got.Data["key"] != "bbs" || !uuidRE.MatchString(got.Data["request-uuid"].(string)) {
		t.Errorf("server lines:\n%s\n%s", rel.Raw, got.Raw)
	}

	// a restarts (monit) and collides with b.
	pa2 := e.holder(t, map[string]any{"owner": a})
	f2 := pa2.WaitForMessage(10*time.Second, "bbs.locket-lock.failed-to-acquire-lock")
	if f2.Data["lock-owner"] != b || f2.Data["error"] != collision {
		t.Errorf("restarted holder: %s", f2.Raw)
	}
	if first := pa2.Logs()[0]; first.Message != "bbs.locket-lock.started" || !strings.Contains(first.Raw, wantLock) {
		t.Errorf("restarted holder's first line: %s", first.Raw)
	}
	for _, l := range e.srv.Logs() {
		if l.Level == "error" {
			t.Errorf("the server logged an error during a normal handover: %s", l.Raw)
		}
	}
}

// TestCommandStopsWhenTheLockIsLost runs a command while the lock is held
// and checks it is stopped, and lock-holder exits non-zero, when someone
// else gets the lock.
func TestCommandStopsWhenTheLockIsLost(t *testing.T) {
	e := newEnv(t)
	p := e.holder(t, map[string]any{"owner": "owner-1", "key": "job"},
		"/bin/sh", "-c", `echo "holding $LOCKET_KEY as $LOCKET_OWNER"; trap 'echo got-TERM; exit 0' TERM; while true; do sleep 0.05; done`)
	p.WaitForMessage(10*time.Second, "bbs.command.started")
	waitLine(t, p, "holding job as owner-1")

	e.steal(t, "job", "thief")
	lost := p.WaitForMessage(10*time.Second, "bbs.locket-lock.lost-lock")
	if lost.Level != "error" || lost.Data["error"] != collision || lost.Data["request-uuid"] == nil || lost.Data["duration"] == nil {
		t.Errorf("lost-lock line: %s", lost.Raw)
	}
	if code := p.Wait(10 * time.Second); code == 0 {
		t.Errorf("lock-holder exited 0 after losing its lock")
	}
	waitLine(t, p, "got-TERM")
	want := []string{"bbs.locket-lock.lost-lock", "bbs.command.stopping", "bbs.command.exited", "bbs.exited-with-failure"}
	if got := messages(p); !inOrder(got, want) {
		t.Errorf("logged %q; want %q in this order", got, want)
	}
	if len(p.LogsWithMessage("bbs.locket-lock.released-lock")) != 0 || e.owner(t, "job") != "thief" {
		t.Errorf("a holder that lost its lock released it")
	}
}

// TestStubbornCommandIsKilled: a command that ignores SIGTERM is killed after
// command_stop_timeout, and only then is the lock released.
func TestStubbornCommandIsKilled(t *testing.T) {
	e := newEnv(t)
	p := e.holder(t, map[string]any{"owner": "owner-1", "key": "stubborn", "command_stop_timeout": "1s"},
		"/bin/sh", "-c", `trap '' TERM; echo ready; while true; do sleep 0.05 || true; done`)
	waitLine(t, p, "ready")
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("exited %s after SIGTERM, before the 1 s stop timeout", d)
	}
	want := []string{"bbs.command.stopping", "bbs.command.killing", "bbs.command.exited", "bbs.locket-lock.released-lock", "bbs.exited"}
	if got := messages(p); !inOrder(got, want) {
		t.Errorf("logged %q; want %q in this order", got, want)
	}
	if got := e.owner(t, "stubborn"); got != "" {
		t.Errorf("owner %q after exit, want released", got)
	}
}

// TestSIGTERMBeforeAcquiring leaves the holder's lock alone and exits 0.
func TestSIGTERMBeforeAcquiring(t *testing.T) {
	e := newEnv(t)
	active := e.holder(t, map[string]any{"owner": "active"})
	active.WaitForMessage(10*time.Second, "bbs.locket-lock.acquired-lock")
	standby := e.holder(t, map[string]any{"owner": "standby"})
	standby.WaitForMessage(10*time.Second, "bbs.locket-lock.failed-to-acquire-lock")
	standby.Signal(syscall.SIGTERM)
	if code := standby.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if got := messages(standby); slices.Contains(got, "bbs.locket-lock.released-lock") || !slices.Contains(got, "bbs.exited") {
		t.Errorf("standby logged %q", got)
	}
	if got := e.owner(t, "bbs"); got != "active" {
		t.Errorf("owner %q, want active", got)
	}
}

// TestCommandExitStatusIsKept: a command that ends by itself ends the lock:
// lock-holder releases it and exits with the command's status.
func TestCommandExitStatusIsKept(t *testing.T) {
	e := newEnv(t)
	p := e.holder(t, map[string]any{"owner": "o", "key": "oneshot"}, "/bin/sh", "-c", "exit 3")
	if code := p.Wait(10 * time.Second); code != 3 {
		t.Errorf("exit %d, want the command's 3", code)
	}
	if got := messages(p); !inOrder(got, []string{"bbs.command.exited", "bbs.locket-lock.released-lock", "bbs.exited-with-failure"}) {
		t.Errorf("logged %q", got)
	}
	if got := e.owner(t, "oneshot"); got != "" {
		t.Errorf("owner %q, want released", got)
	}
}

func TestConfigErrors(t *testing.T) {
	bin := testenv.BuildCommand(t, "./cmd/lock-holder")
	certs := testenv.NewCerts(t)
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no key", map[string]any{"owner": "o"}, "key is not set"},
		{"no owner", map[string]any{"key": "k"}, "owner is not set"},
		{"interval over ttl", map[string]any{"key": "k", "owner": "o", "retry_interval": "20s"}, "not shorter than ttl_in_seconds"},
		{"bad duration", map[string]any{"key": "k", "owner": "o", "retry_interval": 5}, "duration"},
		{"bad log level", map[string]any{"key": "k", "owner": "o", "log_level": "loud"}, "log_level"},
		{"no address", map[string]any{"key": "k", "owner": "o", "locket_address": ""}, "locket_address is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := certs.ClientConfig("127.0.0.1:1")
			maps.Copy(c, tc.cfg)
			p := testenv.StartProcess(t, exec.Command(bin, "-config="+testenv.WriteJSON(t, "c.json", c)))
			if code := p.Wait(10 * time.Second); code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if e := strings.Join(p.Stderr(), "\n"); !strings.Contains(e, tc.want) {
				t.Errorf("stderr %q, want it to mention %q", e, tc.want)
			}
		})
	}
}

// waitLine waits for a raw output line (the command's own stdout).
func waitLine(t *testing.T, p *testenv.Process, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if slices.Contains(p.Lines(), line) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no line %q; output:\n%s", line, strings.Join(p.Lines(), "\n"))
}
