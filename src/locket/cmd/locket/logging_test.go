package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerflags"

	"github.com/locket-release/locket/config"
)

func TestSecretsOf(t *testing.T) {
	cases := []struct {
		driver, dsn string
		want        []string
	}{
		{"mysql", "locket:pa55word@tcp(db:3306)/locket", []string{"pa55word"}},
		{"mysql", "locket:pa55word@tcp(db:3306/locket?%zz", []string{"pa55word"}}, // unparseable
		{"postgres", "postgres://locket:pa%40ss@db:5432/locket", []string{"pa@ss", "pa%40ss"}},
		{"postgres", "host=db user=locket password='se cret' dbname=locket", []string{"se cret"}},
		{"postgres", "host=db user=locket password=secret1 dbname=locket", []string{"secret1"}},
	}
	for _, c := range cases {
		got := strings.Join(secretsOf(c.driver, c.dsn), "\x00")
		if !strings.Contains(got, c.dsn) {
			t.Errorf("%s: the DSN itself is not a secret", c.dsn)
		}
		for _, w := range c.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q not among the secrets %q", c.dsn, w, got)
			}
		}
	}
	if s := secretsOf("sqlite", "/tmp/x.db"); len(s) != 0 {
		t.Errorf("sqlite path treated as secret: %v", s)
	}
}

// TestLoggerRedacts: whatever a driver puts in an error, the line that
// reaches stdout does not carry the password or the connection string.
func TestLoggerRedacts(t *testing.T) {
	const dsn = "locket:Pa55-w0rd@tcp(db:3306)/locket"
	var buf bytes.Buffer
	cfg := config.Defaults()
	cfg.DatabaseDriver, cfg.DatabaseConnectionString = "mysql", dsn
	cfg.TimeFormat = lagerflags.FormatRFC3339
	logger, _ := newLogger(cfg, &buf)
	logger.Error("failed", errors.New("cannot parse "+dsn), lager.Data{
		"nested": map[string]any{"list": []any{"x Pa55-w0rd y"}},
		"struct": struct{ P string }{"Pa55-w0rd"},
	})
	logger.Session("s", lager.Data{"dsn": dsn}).Info("started")
	out := buf.String()
	if strings.Contains(out, "Pa55-w0rd") {
		t.Fatalf("secret in log output:\n%s", out)
	}
	if strings.Count(out, "[REDACTED]") < 4 {
		t.Fatalf("expected markers:\n%s", out)
	}
	if !strings.Contains(out, `"level":"error"`) || !strings.Contains(out, "locket.failed") {
		t.Fatalf("line shape changed:\n%s", out)
	}
}

// TestDebugGateFollowsTheLevel: debug lines are skipped at info, and a
// session made before POST /log-level switches to debug logs them after it.
func TestDebugGateFollowsTheLevel(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Defaults()
	cfg.LogLevel = "info"
	logger, sink := newLogger(cfg, &buf)
	session := logger.Session("lock", lager.Data{"request-uuid": "u-1"}).WithData(lager.Data{"key": "bbs"})
	session.Debug("started")
	session.Info("acquired-lock")
	if out := buf.String(); strings.Contains(out, "started") || !strings.Contains(out, "acquired-lock") {
		t.Fatalf("at info:\n%s", out)
	}
	buf.Reset()
	sink.SetMinLevel(lager.DEBUG)
	session.Debug("renewed-lock")
	out := buf.String()
	if !strings.Contains(out, "locket.lock.renewed-lock") || !strings.Contains(out, `"request-uuid":"u-1"`) ||
		!strings.Contains(out, `"key":"bbs"`) {
		t.Fatalf("after switching to debug:\n%s", out)
	}
}

// TestSessionsAreBuiltWhenTheyLog: a session that logs nothing is never
// built (it takes no session number), and one built late carries its
// parents' names and data as if it had been built at once.
func TestSessionsAreBuiltWhenTheyLog(t *testing.T) {
	var buf bytes.Buffer
	cfg := config.Defaults()
	cfg.LogLevel = "info"
	logger, _ := newLogger(cfg, &buf)

	quiet := logger.Session("lock", lager.Data{"request-uuid": "quiet"})
	quiet.Session("lock", lager.Data{"key": "cell-1"}).Debug("renewed-lock")

	req := logger.Session("release", lager.Data{"request-uuid": "u-2"})
	req.Session("release-lock", lager.Data{"key": "bbs"}).Info("released-lock")

	var line struct {
		Source, Message string
		Data            map[string]any
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("one line expected: %v\n%s", err, buf.String())
	}
	if line.Message != "locket.release.release-lock.released-lock" {
		t.Fatalf("message %q", line.Message)
	}
	if line.Data["request-uuid"] != "u-2" || line.Data["key"] != "bbs" {
		t.Fatalf("data %v", line.Data)
	}
	// The quiet request built no session, so this one is the first.
	if line.Data["session"] != "1.1" {
		t.Fatalf("session %v, want 1.1 (the quiet request's sessions were built)", line.Data["session"])
	}
	if got := req.SessionName(); got != "locket.release" {
		t.Fatalf("SessionName %q", got)
	}
}
