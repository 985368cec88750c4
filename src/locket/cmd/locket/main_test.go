package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	oexec "os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
	"github.com/locket-release/locket/tlsconfig"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func lockReq(key, owner string, code models.TypeCode, ttl int64) *models.LockRequest {
	return &models.LockRequest{Resource: &models.Resource{Key: key, Owner: owner, TypeCode: code}, TtlInSeconds: ttl}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// noLineContains fails if any stdout or stderr line of s holds one of secrets.
func noLineContains(t *testing.T, lines []string, secrets ...string) {
	t.Helper()
	for _, l := range lines {
		for _, s := range secrets {
			if strings.Contains(l, s) {
				t.Fatalf("a line contains the secret %q: %s", s, l)
			}
		}
	}
}

// TestDiegoRenderedConfig: a locket.json with the keys diego-release's job
// renders (loggregator block with files that do not exist here, debug
// address, pool settings, rfc3339) starts the server.
func TestDiegoRenderedConfig(t *testing.T) {
	fixture, err := os.ReadFile(filepath.Join("..", "..", "config", "testdata", "diego-locket.json"))
	mustOK(t, err)
	var rendered map[string]any
	mustOK(t, json.Unmarshal(fixture, &rendered))

	for _, driver := range testenv.Drivers() {
		if driver == "sqlite" {
			continue // the job renders mysql or postgres
		}
		t.Run(driver, func(t *testing.T) {
			db := testenv.NewDatabase(t, driver)
			certs := testenv.NewCerts(t)
			opts := []testenv.ServerOption{testenv.WithConfig("metrics_address", nil), testenv.WithConfig("log_level", nil)}
			for k, v := range rendered {
				opts = append(opts, testenv.WithConfig(k, v))
			}
			// Pointed at this test: addresses, certificates, database.
			// sql_ca_cert_file is rendered only with require_ssl; the store's
			// tests cover database TLS.
			opts = append(opts,
				testenv.WithConfig("listen_address", testenv.FreeAddress(t)),
				testenv.WithConfig("debug_address", testenv.FreeAddress(t)),
				testenv.WithConfig("ca_file", certs.CAFile),
				testenv.WithConfig("cert_file", certs.ServerCertFile),
				testenv.WithConfig("key_file", certs.ServerKey),
				testenv.WithConfig("database_driver", db.Driver),
				testenv.WithConfig("database_connection_string", db.DSN),
				testenv.WithConfig("sql_ca_cert_file", nil),
				testenv.WithConfig("sql_enable_identity_verification", nil),
			)
			srv := testenv.StartServer(t, db, certs, opts...)
			if _, ok := srv.Config["loggregator"]; !ok {
				t.Fatal("fixture lost its loggregator block")
			}
			_, err := srv.Client(t).Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 15))
			mustOK(t, err)
			l := srv.WaitForMessage(5*time.Second, "locket.lock.lock.acquired-lock")
			if _, err := time.Parse(time.RFC3339Nano, l.Timestamp); err != nil {
				t.Fatalf("time_format rfc3339 not applied: %s", l.Raw)
			}
		})
	}
}

// TestSIGTERM: in-flight requests finish, new connections are refused, the
// exit status is 0.
func TestSIGTERM(t *testing.T) {
	for _, driver := range testenv.Drivers() {
		if driver == "sqlite" {
			continue // needs a row lock held by another session
		}
		t.Run(driver, func(t *testing.T) {
			db := testenv.NewDatabase(t, driver)
			srv := testenv.StartServer(t, db, nil)
			c := srv.Client(t)
			_, err := c.Lock(ctxT(t), lockReq("slow", "o1", models.TypeCode_LOCK, 60))
			mustOK(t, err)

			// Hold the row so that the next renewal waits in the database.
			admin := db.Admin(t)
			defer admin.Close()
			tx, err := admin.BeginTx(ctxT(t), nil)
			mustOK(t, err)
			defer tx.Rollback() //nolint:errcheck
			var owner string
			mustOK(t, tx.QueryRowContext(ctxT(t), db.Rebind("SELECT owner FROM locks WHERE path = ? FOR UPDATE"), "slow").Scan(&owner))

			done := make(chan error, 1)
			go func() {
				_, err := c.Lock(context.Background(), lockReq("slow", "o1", models.TypeCode_LOCK, 60))
				done <- err
			}()
			time.Sleep(500 * time.Millisecond) // the request is in the server now
			select {
			case err := <-done:
				t.Fatalf("renewal returned while the row was locked: %v", err)
			default:
			}

			srv.Signal(syscall.SIGTERM)
			time.Sleep(500 * time.Millisecond)
			if !srv.Running() {
				t.Fatal("server exited with a request in flight")
			}
			// No new connections.
			conn, err := grpc.NewClient(srv.Address, grpc.WithTransportCredentials(credentials.NewTLS(srv.ClientTLS(t))))
			mustOK(t, err)
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if _, err := models.NewLocketClient(conn).Fetch(ctx, &models.FetchRequest{Key: "slow"}); err == nil {
				t.Fatal("a new connection was served after SIGTERM")
			}

			mustOK(t, tx.Commit())
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("in-flight renewal failed: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("in-flight renewal did not finish")
			}
			if err := srv.Wait(15 * time.Second); err != nil {
				t.Fatalf("exit: %v", err)
			}
			srv.WaitForMessage(time.Second, "locket.exited")
		})
	}
}

// TestDatabaseComesUpLate: the server retries its migration every second
// with an error line until the database answers; SIGTERM meanwhile exits 0.
func TestDatabaseComesUpLate(t *testing.T) {
	if !hasDriver("mysql") {
		t.Skip("mysql not among LOCKET_TEST_DRIVERS")
	}
	maria := testenv.StartMariaDB(t, nil)
	db := maria.NewDatabase(t)
	maria.Kill(t)

	srv := testenv.StartServer(t, db, nil, testenv.NoWait())
	l := srv.WaitForMessage(15*time.Second, "locket.failed-to-migrate")
	if l.Level != "error" {
		t.Fatalf("failed-to-migrate at %s", l.Level)
	}
	srv.WaitForLog(15*time.Second, func(l testenv.LogLine) bool {
		return l.Message == "locket.failed-to-migrate" && fmt.Sprint(l.Data["attempt"]) == "2"
	})
	if err := srv.Stop(); err != nil {
		t.Fatalf("SIGTERM while waiting for the database: %v", err)
	}

	before := len(srv.LogsWithMessage("locket.failed-to-migrate"))
	srv.Restart() // NoWait: returns at once
	srv.WaitForLog(15*time.Second, func(testenv.LogLine) bool {
		return len(srv.LogsWithMessage("locket.failed-to-migrate")) > before
	})
	maria.Start(t)
	srv.WaitReady(30 * time.Second)
	_, err := srv.Client(t).Lock(ctxT(t), lockReq("late", "o", models.TypeCode_LOCK, 10))
	mustOK(t, err)
}

func hasDriver(d string) bool {
	for _, x := range testenv.Drivers() {
		if x == d {
			return true
		}
	}
	return false
}

// privateDB is a database on a private server the test can stop and start,
// reached as a user with a password (to check that it never shows).
type privateDB struct {
	db         testenv.Database
	password   string
	stop, boot func(t testing.TB)
}

func newPrivateDB(t *testing.T, driver string) privateDB {
	const password = "Pw-0f-the-locket-user"
	switch driver {
	case "mysql":
		m := testenv.StartMariaDB(t, nil)
		db := m.NewDatabase(t)
		root := db.Admin(t)
		defer root.Close()
		for _, q := range []string{
			"CREATE USER 'locket'@'%' IDENTIFIED BY '" + password + "'",
			"GRANT ALL ON `" + db.Name + "`.* TO 'locket'@'%'",
		} {
			_, err := root.ExecContext(ctxT(t), q)
			mustOK(t, err)
		}
		db.DSN = fmt.Sprintf("locket:%s@tcp(%s)/%s", password, m.Addr(), db.Name)
		return privateDB{db, password, m.Kill, m.Start}
	case "postgres":
		p := testenv.StartPostgres(t, nil)
		db := p.NewDatabase(t)
		// The private cluster trusts local connections: the password is
		// not checked, but it is in the DSN, where it must stay.
		db.DSN = strings.Replace(db.DSN, "postgres://postgres@", "postgres://postgres:"+password+"@", 1)
		return privateDB{db, password, p.Kill, p.Start}
	}
	t.Skipf("no private %s server", driver)
	return privateDB{}
}

// TestDatabaseOutage: with the database gone the server keeps running,
// answers Unavailable and reports NOT_SERVING; it recovers by itself when
// the database is back; no line shows the password or the DSN.
func TestDatabaseOutage(t *testing.T) {
	for _, driver := range []string{"mysql", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			if !hasDriver(driver) {
				t.Skipf("%s not among LOCKET_TEST_DRIVERS", driver)
			}
			p := newPrivateDB(t, driver)
			srv := testenv.StartServer(t, p.db, nil,
				testenv.WithConfig("db_operation_timeout", "3s"),
				testenv.WithConfig("enable_db_health_check", true),
				testenv.WithConfig("health_check_interval", "500ms"),
				testenv.WithConfig("health_check_timeout", "1s"),
				testenv.WithConfig("health_check_failure_threshold", 2),
				testenv.WithLogLevel("debug"),
			)
			conn := srv.Dial(t)
			c := models.NewLocketClient(conn)
			h := healthpb.NewHealthClient(conn)
			_, err := c.Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 30))
			mustOK(t, err)

			p.stop(t)
			outage := time.Now()
			_, err = c.Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 30))
			if status.Code(err) != codes.Unavailable || status.Convert(err).Message() != "database-unavailable" {
				t.Fatalf("Lock with the database down: %v, want Unavailable database-unavailable", err)
			}
			for _, call := range []func() error{
				func() error { _, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: "bbs"}); return err },
				func() error {
					_, err := c.FetchAll(ctxT(t), &models.FetchAllRequest{TypeCode: models.TypeCode_LOCK})
					return err
				},
				func() error {
					_, err := c.Release(ctxT(t), &models.ReleaseRequest{Resource: &models.Resource{Key: "x", Owner: "y"}})
					return err
				},
			} {
				if err := call(); status.Code(err) != codes.Unavailable {
					t.Fatalf("with the database down: %v, want Unavailable", err)
				}
			}
			waitHealth(t, h, healthpb.HealthCheckResponse_NOT_SERVING, 20*time.Second)
			t.Logf("%s: NOT_SERVING %s after the database went away", driver, time.Since(outage).Round(time.Millisecond))
			if !srv.Running() {
				t.Fatal("server exited")
			}

			p.boot(t)
			back := time.Now()
			deadline := time.Now().Add(30 * time.Second)
			for {
				_, err := c.Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 30))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no recovery 30 s after the database came back: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
			}
			t.Logf("%s: requests succeed again %s after the database came back", driver, time.Since(back).Round(time.Millisecond))
			waitHealth(t, h, healthpb.HealthCheckResponse_SERVING, 20*time.Second)

			if len(srv.LogsWithMessage("locket.db-health-check.health-check-attempts-exceeded")) == 0 {
				t.Error("no error line for the failed health check")
			}
			if len(srv.LogsWithMessage("locket.db-health-check.database-reachable")) == 0 {
				t.Error("no line for the recovery")
			}
			secrets := []string{p.password}
			if strings.Contains(p.db.DSN, p.password) {
				secrets = append(secrets, p.db.DSN)
			}
			noLineContains(t, srv.Lines(), secrets...)
			noLineContains(t, srv.Stderr(), secrets...)
		})
	}
}

func waitHealth(t *testing.T, h healthpb.HealthClient, want healthpb.HealthCheckResponse_ServingStatus, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r, err := h.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: "models.Locket"})
		if err == nil && r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not %s after %s: %v %v", want, timeout, r, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTwoServers: two servers on one database serve the same locks; one
// restarts while the other serves and renewals through the other keep the
// lock; when renewals stop the lock expires in its window.
func TestTwoServers(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		certs := testenv.NewCerts(t)
		a := testenv.StartServer(t, db, certs)
		b := testenv.StartServer(t, db, certs)
		ca, cb := a.Client(t), b.Client(t)

		_, err := ca.Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 2))
		mustOK(t, err)
		r, err := cb.Fetch(ctxT(t), &models.FetchRequest{Key: "bbs"})
		mustOK(t, err)
		if r.Resource.Owner != "vm-1" {
			t.Fatalf("B sees owner %q", r.Resource.Owner)
		}
		_, err = cb.Lock(ctxT(t), lockReq("bbs", "vm-2", models.TypeCode_LOCK, 2))
		if status.Code(err) != codes.AlreadyExists {
			t.Fatalf("collision through B: %v", err)
		}

		// Renew through B every 500 ms while A restarts.
		stop := make(chan struct{})
		var renewErr error
		var lastRenewal time.Time
		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				// The TTL counts from the write, which is after the send
				// and, on a loaded machine, can be well before the answer
				// arrives: measured from the answer, a correct expiry can
				// look early.
				sent := time.Now()
				_, err := cb.Lock(context.Background(), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 2))
				mu.Lock()
				if err != nil && renewErr == nil {
					renewErr = err
				}
				if err == nil {
					lastRenewal = sent
				}
				mu.Unlock()
			}
		}()
		a.Restart()
		time.Sleep(3 * time.Second) // longer than the TTL
		close(stop)
		wg.Wait()
		if renewErr != nil {
			t.Fatalf("renewal through B while A restarted: %v", renewErr)
		}
		r, err = ca.Fetch(ctxT(t), &models.FetchRequest{Key: "bbs"})
		mustOK(t, err)
		if r.Resource.Owner != "vm-1" {
			t.Fatalf("after A's restart the owner is %q", r.Resource.Owner)
		}

		// Abandoned: gone after the TTL counted from the last renewal
		// (through B), seen through A.
		for {
			_, err := ca.Fetch(ctxT(t), &models.FetchRequest{Key: "bbs"})
			mu.Lock()
			elapsed := time.Since(lastRenewal)
			mu.Unlock()
			if status.Code(err) == codes.NotFound {
				t.Logf("%s: gone %s after the last renewal (TTL 2s)", driver, elapsed.Round(time.Millisecond))
				if elapsed < 2*time.Second-50*time.Millisecond {
					t.Fatalf("expired %s after the last renewal, before the TTL", elapsed)
				}
				break
			}
			mustOK(t, err)
			if elapsed > 4*time.Second {
				t.Fatalf("still there %s after the last renewal", elapsed)
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, err = ca.Lock(ctxT(t), lockReq("bbs", "vm-2", models.TypeCode_LOCK, 2))
		mustOK(t, err)

		// Exactly one lock-expired line across both servers.
		n := 0
		for _, s := range []*testenv.Server{a, b} {
			for _, l := range s.Logs() {
				if strings.HasSuffix(l.Message, ".lock-expired") && l.Data["key"] == "bbs" {
					n++
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d lock-expired lines for bbs, want 1", n)
		}
	})
}

var metricNames = []string{
	"ActiveLocks", "ActivePresences", "LocksExpired", "PresenceExpired",
	"RequestsStarted", "RequestsSucceeded", "RequestsFailed", "RequestsInFlight", "RequestsCancelled", "RequestLatencyMax",
	"RequestLatency", "DBQueryDuration", "DBOpenConnections", "DBWaitDuration", "DBWaitCount", "DBQueriesTotal", "DBQueriesSucceeded", "DBQueriesFailed",
	"DBQueriesInFlight", "DBQueryDurationMax",
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	mustOK(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	mustOK(t, err)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

func metricValue(text, series string) (float64, bool) {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

func waitMetric(t *testing.T, addr, series string, ok func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		text := scrape(t, addr)
		if v, found := metricValue(text, series); found && ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not as expected within 15 s:\n%s", series, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		srv := testenv.StartServer(t, db, nil)
		text := scrape(t, srv.MetricsAddress)
		for _, name := range metricNames {
			kind := "gauge"
			switch name {
			case "LocksExpired", "PresenceExpired", "RequestsStarted", "RequestsSucceeded", "RequestsFailed", "RequestsCancelled",
				"DBWaitDuration", "DBWaitCount", "DBQueriesTotal", "DBQueriesSucceeded", "DBQueriesFailed":
				kind = "counter"
			case "RequestLatency", "DBQueryDuration":
				kind = "histogram"
			}
			if !strings.Contains(text, "# TYPE "+name+" "+kind+"\n") {
				t.Errorf("no # TYPE %s %s", name, kind)
			}
		}
		c := srv.Client(t)
		_, err := c.Lock(ctxT(t), lockReq("bbs", "vm-1", models.TypeCode_LOCK, 30))
		mustOK(t, err)
		_, err = c.Lock(ctxT(t), lockReq("bbs", "vm-2", models.TypeCode_LOCK, 30)) // a collision counts as success
		if status.Code(err) != codes.AlreadyExists {
			t.Fatal(err)
		}
		_, err = c.Lock(ctxT(t), lockReq("bbs", "vm-2", models.TypeCode_LOCK, 0))
		if status.Code(err) != codes.InvalidArgument {
			t.Fatal(err)
		}
		_, err = c.Lock(ctxT(t), lockReq("cell-1", "rep", models.TypeCode_PRESENCE, 1))
		mustOK(t, err)
		_, err = c.Lock(ctxT(t), lockReq("short", "x", models.TypeCode_LOCK, 1))
		mustOK(t, err)

		text = scrape(t, srv.MetricsAddress)
		for series, want := range map[string]float64{
			`RequestsStarted{request_type="Lock"}`:   5,
			`RequestsSucceeded{request_type="Lock"}`: 4,
			`RequestsFailed{request_type="Lock"}`:    1,
			`RequestsInFlight{request_type="Lock"}`:  0,
			`RequestsStarted{request_type="Fetch"}`:  0,
		} {
			if v, ok := metricValue(text, series); !ok || v != want {
				t.Errorf("%s = %v (found %v), want %v", series, v, ok, want)
			}
		}
		waitMetric(t, srv.MetricsAddress, `RequestLatencyMax{request_type="Lock"}`, func(v float64) bool { return v > 0 })
		// Each of the five Locks is in the latency histogram: the count,
		// the +Inf bucket, and every bucket from 10 s up.
		text = scrape(t, srv.MetricsAddress)
		for _, series := range []string{
			`RequestLatency_count{request_type="Lock"}`,
			`RequestLatency_bucket{request_type="Lock",le="+Inf"}`,
			`RequestLatency_bucket{request_type="Lock",le="10"}`,
		} {
			if v, ok := metricValue(text, series); !ok || v != 5 {
				t.Errorf("%s = %v (found %v), want 5", series, v, ok)
			}
		}
		waitMetric(t, srv.MetricsAddress, "DBQueriesTotal", func(v float64) bool { return v > 0 })
		waitMetric(t, srv.MetricsAddress, "DBQueryDuration_count", func(v float64) bool { return v > 0 })
		// The two TTL-1 locks expire: counted, and the gauges follow.
		waitMetric(t, srv.MetricsAddress, "PresenceExpired", func(v float64) bool { return v == 1 })
		waitMetric(t, srv.MetricsAddress, "LocksExpired", func(v float64) bool { return v == 1 })
		waitMetric(t, srv.MetricsAddress, "ActiveLocks", func(v float64) bool { return v == 1 })
		waitMetric(t, srv.MetricsAddress, "ActivePresences", func(v float64) bool { return v == 0 })
	})
}

func TestDebugServer(t *testing.T) {
	db := testenv.NewDatabase(t, "sqlite")
	srv := testenv.StartServer(t, db, nil, testenv.WithLogLevel("info"))
	c := srv.Client(t)
	post := func(body string) int {
		resp, err := http.Post("http://"+srv.DebugAddress+"/log-level", "text/plain", strings.NewReader(body))
		mustOK(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	renew := func(id string) {
		_, err := c.Lock(ctxT(t), lockReq("bbs", id, models.TypeCode_LOCK, 30))
		mustOK(t, err)
	}
	renewedLines := func() int { return len(srv.LogsWithMessage("locket.lock.lock.renewed-lock")) }

	renew("vm-1")
	renew("vm-1")
	if n := renewedLines(); n != 0 {
		t.Fatalf("debug lines at info: %d", n)
	}
	if code := post("debug"); code != 200 {
		t.Fatalf("POST /log-level debug: %d", code)
	}
	renew("vm-1")
	srv.WaitForMessage(5*time.Second, "locket.lock.lock.renewed-lock")
	if code := post("info"); code != 200 {
		t.Fatalf("POST /log-level info: %d", code)
	}
	before := renewedLines()
	renew("vm-1")
	_, err := c.Lock(ctxT(t), lockReq("marker", "m", models.TypeCode_LOCK, 30))
	mustOK(t, err)
	srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool { return l.Data["key"] == "marker" })
	if n := renewedLines(); n != before {
		t.Fatalf("debug lines after going back to info: %d more", n-before)
	}
	for _, bad := range []string{"bogus", "", "warn"} {
		if code := post(bad); code != 400 {
			t.Fatalf("POST /log-level %q: %d, want 400", bad, code)
		}
	}
	resp, err := http.Get("http://" + srv.DebugAddress + "/log-level")
	mustOK(t, err)
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET /log-level: %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + srv.DebugAddress + "/debug/pprof/goroutine?debug=1")
	mustOK(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "goroutine profile") {
		t.Fatalf("pprof: %d %.100s", resp.StatusCode, b)
	}
}

// TestDevMode: `locket -dev` prints how to connect, serves, and removes its
// directory on exit.
func TestDevMode(t *testing.T) {
	addr := testenv.FreeAddress(t)
	p := testenv.StartProcess(t, oexec.Command(testenv.BuildLocket(t), "-dev", "-listen", addr))
	env := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for len(env) < 4 || len(p.LogsWithMessage("locket.started")) == 0 {
		if time.Now().After(deadline) || !p.Running() {
			t.Fatalf("dev server did not print its settings and start:\n%s", strings.Join(p.Lines(), "\n"))
		}
		for _, l := range p.Lines() {
			if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "export ")), "="); ok &&
				(k == "LOCKET_API_LOCATION" || k == "CA_CERT_FILE" || k == "CLIENT_CERT_FILE" || k == "CLIENT_KEY_FILE") {
				env[k] = v
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if env["LOCKET_API_LOCATION"] != addr {
		t.Fatalf("LOCKET_API_LOCATION=%s, want %s", env["LOCKET_API_LOCATION"], addr)
	}
	out := strings.Join(p.Lines(), "\n")
	for _, key := range []string{"locket_address", "locket_ca_cert_file", "locket_client_cert_file", "locket_client_key_file", "--locketAPILocation"} {
		if !strings.Contains(out, key) {
			t.Errorf("dev output lacks %s", key)
		}
	}
	// A client that checks the server name from the address, as the upstream
	// client does.
	host := strings.Split(addr, ":")[0]
	cfg, err := tlsconfig.Client(env["CLIENT_CERT_FILE"], env["CLIENT_KEY_FILE"], env["CA_CERT_FILE"], host, false)
	mustOK(t, err)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	mustOK(t, err)
	defer conn.Close()
	_, err = models.NewLocketClient(conn).Lock(ctxT(t), lockReq("dev", "me", models.TypeCode_LOCK, 10))
	mustOK(t, err)

	dir := filepath.Dir(env["CA_CERT_FILE"])
	if _, err := os.Stat(filepath.Join(dir, "locket.db")); err != nil {
		t.Fatalf("no SQLite database in %s: %v", dir, err)
	}
	p.Signal(syscall.SIGINT)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still exists after exit: %v", dir, err)
	}
}

// TestBadStart: clear errors, non-zero exits, no secret in any output.
func TestBadStart(t *testing.T) {
	bin := testenv.BuildLocket(t)
	certs := testenv.NewCerts(t)
	dir := t.TempDir()
	const password = "Sup3r-secret-pw"
	write := func(name string, cfg map[string]any) string {
		b, err := json.Marshal(cfg)
		mustOK(t, err)
		path := filepath.Join(dir, name)
		mustOK(t, os.WriteFile(path, b, 0o600))
		return path
	}
	base := func() map[string]any {
		return map[string]any{
			"listen_address": testenv.FreeAddress(t), "ca_file": certs.CAFile, "cert_file": certs.ServerCertFile,
			"key_file": certs.ServerKey, "database_driver": "mysql",
			"database_connection_string": "locket:" + password + "@tcp(127.0.0.1:1)/locket",
		}
	}
	cases := []struct {
		name   string
		args   func() []string
		code   int
		output string
	}{
		{"no flags", func() []string { return nil }, 2, "-config=FILE is required"},
		{"missing file", func() []string { return []string{"-config=" + filepath.Join(dir, "nope.json")} }, 1, "no such file"},
		{"missing keys", func() []string {
			return []string{"-config=" + write("missing.json", map[string]any{"database_connection_string": "u:" + password + "@tcp(h)/d"})}
		}, 1, "listen_address is required"},
		{"bad duration", func() []string {
			c := base()
			c["db_operation_timeout"] = 10
			return []string{"-config=" + write("dur.json", c)}
		}, 1, "db_operation_timeout"},
		{"unreadable key file", func() []string {
			c := base()
			c["key_file"] = filepath.Join(dir, "missing.key")
			return []string{"-config=" + write("tls.json", c)}
		}, 1, "invalid-tls-config"},
		{"unparseable DSN", func() []string {
			c := base()
			c["database_connection_string"] = "locket:" + password + "@tcp(127.0.0.1:1/locket?%zz"
			return []string{"-config=" + write("dsn.json", c)}
		}, 1, "failed-to-open-sql"},
		{"dev with config", func() []string { return []string{"-dev", "-config=x.json"} }, 2, "exclude"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testenv.StartProcess(t, oexec.Command(bin, tc.args()...))
			code := p.Wait(30 * time.Second)
			all := append(p.Lines(), p.Stderr()...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.code, strings.Join(all, "\n"))
			}
			if !strings.Contains(strings.Join(all, "\n"), tc.output) {
				t.Fatalf("output lacks %q:\n%s", tc.output, strings.Join(all, "\n"))
			}
			noLineContains(t, all, password)
		})
	}

	t.Run("database unreachable: retries without showing the password", func(t *testing.T) {
		path := write("down.json", base())
		p := testenv.StartProcess(t, oexec.Command(bin, "-config="+path))
		p.WaitForLog(20*time.Second, func(l testenv.LogLine) bool {
			return l.Message == "locket.failed-to-migrate" && fmt.Sprint(l.Data["attempt"]) == "2"
		})
		p.Signal(syscall.SIGTERM)
		if code := p.Wait(15 * time.Second); code != 0 {
			t.Fatalf("exit %d after SIGTERM while waiting for the database", code)
		}
		noLineContains(t, append(p.Lines(), p.Stderr()...), password)
	})
}
