package server_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/models"
)

// TestLogs checks the lines operators grep for (spec/logs.md).
func TestLogs(t *testing.T) {
	testenv.ForEachDriver(t, func(t *testing.T, driver string) {
		db := testenv.NewDatabase(t, driver)
		srv := testenv.StartServer(t, db, nil, testenv.WithLogLevel("info"))
		c := srv.Client(t)

		t.Run("started", func(t *testing.T) {
			l := srv.WaitForMessage(5*time.Second, "locket.started")
			if l.Level != "info" || l.Source != "locket" {
				t.Fatalf("started line: %s", l.Raw)
			}
		})

		t.Run("acquired-lock carries key, owner, request-uuid, type, type-code", func(t *testing.T) {
			_, err := c.Lock(withUUID(ctxT(t), "uuid-acquire-1"), lockReq("bbs", "instance-a", "", models.TypeCode_LOCK, 15))
			mustOK(t, err)
			l := srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool {
				return l.Message == "locket.lock.lock.acquired-lock" && l.Data["key"] == "bbs"
			})
			wantData(t, l, map[string]any{"key": "bbs", "owner": "instance-a", "request-uuid": "uuid-acquire-1", "type": "lock", "type-code": "1"})
			if l.Level != "info" {
				t.Fatalf("level %s", l.Level)
			}
			if s, _ := l.Data["session"].(string); !strings.Contains(s, ".") {
				t.Fatalf("session %q is not a nested lager session (N.M)", s)
			}
		})

		t.Run("renewals and collisions are not logged at info", func(t *testing.T) {
			mark := len(srv.Logs())
			for i := 0; i < 3; i++ {
				_, err := c.Lock(withUUID(ctxT(t), "uuid-renew"), lockReq("bbs", "instance-a", "", models.TypeCode_LOCK, 15))
				mustOK(t, err)
				_, err = c.Lock(withUUID(ctxT(t), "uuid-collide"), lockReq("bbs", "instance-b", "", models.TypeCode_LOCK, 15))
				wantStatus(t, err, codes.AlreadyExists, "lock-collision")
			}
			// A marker request after them: once its line is out, theirs are too.
			_, err := c.Lock(ctxT(t), lockReq("marker-1", "m", "", models.TypeCode_LOCK, 15))
			mustOK(t, err)
			srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool { return l.Data["key"] == "marker-1" })
			for _, l := range srv.Logs()[mark:] {
				if l.Data["request-uuid"] == "uuid-renew" || l.Data["request-uuid"] == "uuid-collide" {
					t.Fatalf("renewal/collision logged at %s: %s", l.Level, l.Raw)
				}
			}
		})

		t.Run("released-lock carries key, owner, type, type-code", func(t *testing.T) {
			_, err := c.Lock(ctxT(t), lockReq("cell-1", "rep-uuid", "{}", models.TypeCode_PRESENCE, 15))
			mustOK(t, err)
			_, err = c.Release(withUUID(ctxT(t), "uuid-release"), releaseReq("cell-1", "rep-uuid"))
			mustOK(t, err)
			l := srv.WaitForMessage(5*time.Second, "locket.release.release-lock.released-lock")
			wantData(t, l, map[string]any{"key": "cell-1", "owner": "rep-uuid", "type": "presence", "type-code": "2", "request-uuid": "uuid-release"})
		})

		t.Run("every line a request causes carries its request-uuid", func(t *testing.T) {
			_, err := c.Lock(withUUID(ctxT(t), "uuid-bad-ttl"), lockReq("x", "o", "", models.TypeCode_LOCK, 0))
			wantStatus(t, err, codes.InvalidArgument, "invalid-ttl")
			l := srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool { return l.Data["request-uuid"] == "uuid-bad-ttl" })
			if !strings.HasPrefix(l.Message, "locket.lock.") {
				t.Fatalf("line of the request: %s", l.Raw)
			}
			// The lock session's own lines also carry it (debug level here
			// would be filtered; the acquired-lock line above is the check).
			for _, l := range srv.Logs() {
				if strings.HasPrefix(l.Message, "locket.lock.") && l.Data["key"] == "bbs" && l.Data["request-uuid"] == nil {
					t.Fatalf("lock line without request-uuid: %s", l.Raw)
				}
			}
		})

		t.Run("a handoff produces no error line", func(t *testing.T) {
			mark := len(srv.Logs())
			key := "auctioneer"
			lockAs := func(owner, id string) error {
				_, err := c.Lock(withUUID(ctxT(t), id), lockReq(key, owner, "", models.TypeCode_LOCK, 15))
				return err
			}
			mustOK(t, lockAs("vm-1", "h1"))                                            // vm-1 acquires
			wantStatus(t, lockAs("vm-2", "h2"), codes.AlreadyExists, "lock-collision") // vm-2 stands by
			_, err := c.Fetch(ctxT(t), &models.FetchRequest{Key: key})                 // vm-2 looks up the owner
			mustOK(t, err)
			_, err = c.Release(withUUID(ctxT(t), "h3"), releaseReq(key, "vm-1")) // vm-1 restarts: releases
			mustOK(t, err)
			mustOK(t, lockAs("vm-2", "h4"))                                            // vm-2 takes over
			wantStatus(t, lockAs("vm-1", "h5"), codes.AlreadyExists, "lock-collision") // restarted vm-1 collides
			_, err = c.Release(withUUID(ctxT(t), "h6"), releaseReq(key, "vm-1"))       // a standby stopping releases
			wantStatus(t, err, codes.AlreadyExists, "lock-collision")
			_, err = c.Release(withUUID(ctxT(t), "h7"), releaseReq("not-there", "vm-1")) // release of nothing
			mustOK(t, err)
			_, err = c.Lock(ctxT(t), lockReq("marker-2", "m", "", models.TypeCode_LOCK, 15))
			mustOK(t, err)
			srv.WaitForLog(5*time.Second, func(l testenv.LogLine) bool { return l.Data["key"] == "marker-2" })
			if errs := errorLines(srv, mark); len(errs) > 0 {
				t.Fatalf("error lines during a handoff: %s", errs[0].Raw)
			}
			var acquired, released int
			for _, l := range srv.Logs()[mark:] {
				if l.Data["key"] != key {
					continue
				}
				switch l.Message {
				case "locket.lock.lock.acquired-lock":
					acquired++
				case "locket.release.release-lock.released-lock":
					released++
				}
			}
			if acquired != 2 || released != 1 {
				t.Fatalf("handoff logged %d acquired-lock and %d released-lock lines, want 2 and 1", acquired, released)
			}
		})
	})
}

// wantData compares data values by their JSON text (numbers stay numbers).
func wantData(t *testing.T, l testenv.LogLine, want map[string]any) {
	t.Helper()
	for k, w := range want {
		got, ok := l.Data[k]
		if !ok {
			t.Fatalf("%s lacks data %q: %s", l.Message, k, l.Raw)
		}
		if gs, ok := got.(json.Number); ok {
			if gs.String() != w {
				t.Fatalf("%s data %q = %v, want %v", l.Message, k, got, w)
			}
			continue
		}
		if got != w {
			t.Fatalf("%s data %q = %v, want %v", l.Message, k, got, w)
		}
	}
}

// TestLogFormats: unix-epoch (the default) and rfc3339.
func TestLogFormats(t *testing.T) {
	db := testenv.NewDatabase(t, "sqlite")
	certs := testenv.NewCerts(t)
	epoch := testenv.StartServer(t, db, certs, testenv.WithConfig("time_format", nil))
	l := epoch.WaitForMessage(5*time.Second, "locket.started")
	if l.LogLevel == nil || *l.LogLevel != 1 || strings.Contains(l.Raw, `"level"`) {
		t.Fatalf("unix-epoch line: %s", l.Raw)
	}
	var raw map[string]any
	mustOK(t, json.Unmarshal([]byte(l.Raw), &raw))
	if ts, ok := raw["timestamp"].(string); !ok || !strings.Contains(ts, ".") || strings.Contains(ts, "T") {
		t.Fatalf("unix-epoch timestamp %v", raw["timestamp"])
	}
	mustOK(t, epoch.Stop())

	rfc := testenv.StartServer(t, db, certs, testenv.WithConfig("time_format", "rfc3339"))
	l = rfc.WaitForMessage(5*time.Second, "locket.started")
	if l.Level != "info" {
		t.Fatalf("rfc3339 line: %s", l.Raw)
	}
	if _, err := time.Parse(time.RFC3339Nano, l.Timestamp); err != nil {
		t.Fatalf("rfc3339 timestamp %q: %v", l.Timestamp, err)
	}
}
