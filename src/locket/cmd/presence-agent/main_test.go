package main_test

import (
	"context"
	"maps"
	"os/exec"
	"regexp"
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

const cellID = "0e776c46-fd44-48f4-83ea-06b1dd13ca4b"

// The seed's cell, and the value rep registers for it.
var (
	seedCell = map[string]any{
		"cell_id":     cellID,
		"rep_address": "http://10.0.4.8:1800",
		"zone":        "us-central1-f",
		"capacity":    map[string]any{"memory_mb": 12977, "disk_mb": 104349, "containers": 249},
		"rootfs_provider_list": []any{
			map[string]any{"name": "preloaded", "properties": []string{"cflinuxfs3", "cflinuxfs4"}},
			map[string]any{"name": "preloaded+layer", "properties": []string{"cflinuxfs3", "cflinuxfs4"}},
			map[string]any{"name": "docker"},
		},
		"rep_url": "https://" + cellID + ".cell.service.cf.internal:1801",
	}
	seedValue = `{"cell_id":"0e776c46-fd44-48f4-83ea-06b1dd13ca4b","rep_address":"http://10.0.4.8:1800","zone":"us-central1-f",` +
		`"capacity":{"memory_mb":12977,"disk_mb":104349,"containers":249},` +
		`"rootfs_provider_list":[{"name":"preloaded","properties":["cflinuxfs3","cflinuxfs4"]},{"name":"preloaded+layer","properties":["cflinuxfs3","cflinuxfs4"]},{"name":"docker"}],` +
		`"rep_url":"https://0e776c46-fd44-48f4-83ea-06b1dd13ca4b.cell.service.cf.internal:1801"}`
)

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
	return &env{db: db, certs: certs, srv: srv, raw: srv.Client(t), bin: testenv.BuildCommand(t, "./cmd/presence-agent")}
}

// agent starts presence-agent as "rep" for the seed's cell.
func (e *env) agent(t *testing.T, cfg map[string]any) *testenv.Process {
	t.Helper()
	c := e.certs.ClientConfig(e.srv.Address)
	maps.Copy(c, seedCell)
	maps.Copy(c, map[string]any{"component": "rep", "retry_interval": "1s", "time_format": "rfc3339"})
	maps.Copy(c, cfg)
	return testenv.StartProcess(t, exec.Command(e.bin, "-config="+testenv.WriteJSON(t, "presence-agent.json", c)))
}

func (e *env) fetch(t *testing.T, key string) *models.Resource {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := e.raw.Fetch(ctx, &models.FetchRequest{Key: key})
	if status.Code(err) == codes.NotFound {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetResource()
}

// ownerOf returns the owner in an acquired-lock line.
func ownerOf(t *testing.T, l testenv.LogLine) string {
	t.Helper()
	lock, _ := l.Data["lock"].(map[string]any)
	owner, _ := lock["owner"].(string)
	if !uuidRE.MatchString(owner) {
		t.Fatalf("owner %q is not a UUID: %s", owner, l.Raw)
	}
	return owner
}

// TestPresenceAcrossRestarts is the seed's "Changing the presence locks":
// the rep registers its cell, releases it on `monit restart` (SIGTERM) and
// registers it again under a new owner.
func TestPresenceAcrossRestarts(t *testing.T) {
	e := newEnv(t)
	p := e.agent(t, nil)
	acq := p.WaitForMessage(10*time.Second, "rep.locket-lock.acquired-lock")
	owner1 := ownerOf(t, acq)
	wantLock := `"lock":{"key":"` + cellID + `","owner":"` + owner1 + `","value":` + quote(seedValue) + `,"type":"presence","type_code":2}`
	if !strings.Contains(acq.Raw, wantLock) || !strings.Contains(acq.Raw, `"ttl_in_seconds":15`) || acq.Source != "rep" {
		t.Errorf("acquired-lock line:\n%s\nwant it to contain\n%s", acq.Raw, wantLock)
	}
	r := e.fetch(t, cellID)
	if r == nil || r.GetValue() != seedValue || r.GetOwner() != owner1 || r.GetTypeCode() != models.TypeCode_PRESENCE {
		t.Fatalf("stored presence %v", r)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit %d on SIGTERM, want 0", code)
	}
	last := p.Logs()[len(p.Logs())-1]
	if last.Message != "rep.exited" {
		t.Errorf("last line %s, want rep.exited", last.Raw)
	}
	if len(p.LogsWithMessage("rep.locket-lock.released-lock")) != 1 || e.fetch(t, cellID) != nil {
		t.Errorf("the presence was not released on SIGTERM")
	}

	p2 := e.agent(t, nil)
	owner2 := ownerOf(t, p2.WaitForMessage(10*time.Second, "rep.locket-lock.acquired-lock"))
	if owner2 == owner1 {
		t.Errorf("the restarted agent kept owner %s; rep takes a new one at every start", owner1)
	}
	if r := e.fetch(t, cellID); r == nil || r.GetOwner() != owner2 {
		t.Errorf("stored presence %v, want owner %s", r, owner2)
	}
	// The server's lines, as in the seed.
	e.srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "locket.release.release-lock.released-lock" && l.Data["owner"] == owner1 && l.Data["type"] == "presence"
	})
	e.srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "locket.lock.lock.acquired-lock" && l.Data["owner"] == owner2 && l.Data["request-uuid"] != nil
	})
}

// TestPresenceAfterCrash: a killed agent cannot release; the restarted one
// (new owner) collides until the old presence expires, then takes it.
func TestPresenceAfterCrash(t *testing.T) {
	e := newEnv(t)
	cfg := map[string]any{"ttl_in_seconds": 3, "retry_interval": "1s"}
	p := e.agent(t, cfg)
	owner1 := ownerOf(t, p.WaitForMessage(10*time.Second, "rep.locket-lock.acquired-lock"))
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	killed := time.Now()

	p2 := e.agent(t, cfg)
	f := p2.WaitForMessage(10*time.Second, "rep.locket-lock.failed-to-acquire-lock")
	if f.Data["lock-owner"] != owner1 {
		t.Errorf("failed-to-acquire-lock: %s", f.Raw)
	}
	owner2 := ownerOf(t, p2.WaitForMessage(15*time.Second, "rep.locket-lock.acquired-lock"))
	t.Logf("the restarted agent registered the cell %s after the crash (ttl 3 s, retry 1 s)", time.Since(killed).Round(time.Millisecond))
	if owner2 == owner1 {
		t.Errorf("same owner after restart")
	}
}

// TestPresenceNeverGivesUp: a lost presence is logged and retried; the agent
// keeps running and gets it back.
func TestPresenceNeverGivesUp(t *testing.T) {
	e := newEnv(t)
	p := e.agent(t, map[string]any{"owner": "fixed-owner"})
	p.WaitForMessage(10*time.Second, "rep.locket-lock.acquired-lock")

	// Someone else gets the presence behind the agent's back (one statement
	// on the table, so that the agent cannot take it back in between).
	db := e.db.Admin(t)
	defer db.Close()
	if _, err := db.Exec(e.db.Rebind("UPDATE locks SET owner = ? WHERE path = ?"), "intruder", cellID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lost := p.WaitForMessage(10*time.Second, "rep.locket-lock.lost-lock")
	if lost.Level != "error" || lost.Data["error"] != "rpc error: code = AlreadyExists desc = lock-collision" {
		t.Errorf("lost-lock: %s", lost.Raw)
	}
	time.Sleep(3 * time.Second)
	if !p.Running() {
		t.Fatal("presence-agent exited after losing its presence")
	}
	if _, err := e.raw.Release(ctx, &models.ReleaseRequest{Resource: &models.Resource{Key: cellID, Owner: "intruder"}}); err != nil {
		t.Fatal(err)
	}
	p.WaitForLog(10*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "rep.locket-lock.acquired-lock" && len(p.LogsWithMessage("rep.locket-lock.acquired-lock")) == 2
	})
	if r := e.fetch(t, cellID); r == nil || r.GetOwner() != "fixed-owner" {
		t.Errorf("presence %v, want it back with fixed-owner", r)
	}
}

func TestConfigErrors(t *testing.T) {
	bin := testenv.BuildCommand(t, "./cmd/presence-agent")
	certs := testenv.NewCerts(t)
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no cell id", map[string]any{"cell_id": ""}, "cell_id is not set"},
		{"value too long", map[string]any{"zone": strings.Repeat("z", 5000)}, "at most 4096"},
		{"nameless rootfs", map[string]any{"rootfs_provider_list": []any{map[string]any{}}}, "rootfs_provider_list[0] has no name"},
		{"missing client key", map[string]any{"locket_client_key_file": ""}, "locket_client_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := certs.ClientConfig("127.0.0.1:1")
			maps.Copy(c, map[string]any{"cell_id": "c1"})
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

// quote is s as a JSON string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
