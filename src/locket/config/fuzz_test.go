package config

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics; what it accepts is valid and survives a
// round trip; its errors never quote the connection string. Crashers found
// by `go test -fuzz=FuzzParse ./config` stay in testdata/fuzz/FuzzParse and
// run with every `go test`.
func FuzzParse(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("testdata", "diego-locket.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(fixture),
		minimal,
		with(`"metrics_address": "127.0.0.1:9100", "time_format": 1`),
		with(`"report_interval": 60`),
		with(`"db_operation_timeout": "-1s"`),
		with(`"loggregator": null, "log_level": "debug"`),
		with(`"database_driver": "sqlite", "database_connection_string": "/tmp/x.db"`),
		`{"listen_address": "\u0000:1"}`,
		`{}`, `[]`, `null`, ``, `{"a":`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			checkNoDSNInError(t, data, err)
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Parse accepted a config that Validate refuses: %v", verr)
		}
		if c.DBOperationTimeout <= 0 || c.HealthCheckInterval <= 0 || c.HealthCheckTimeout <= 0 ||
			c.ReportInterval <= 0 || c.HealthCheckFailureThreshold <= 0 {
			t.Fatalf("defaults missing: %+v", c.Redacted())
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("marshal accepted config: %v", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		c.Loggregator, again.Loggregator = compact(c.Loggregator), compact(again.Loggregator)
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", c.Redacted(), again.Redacted())
		}
	})
}

func compact(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return nil
	}
	var b bytes.Buffer
	if json.Compact(&b, m) != nil {
		return m
	}
	return b.Bytes()
}

// checkNoDSNInError fails when the error quotes the connection string (only
// when no other key holds the same text, which the error may rightly name).
func checkNoDSNInError(t *testing.T, data []byte, err error) {
	var raw map[string]any
	if json.Unmarshal(data, &raw) != nil {
		return
	}
	var dsn string
	for k, v := range raw {
		if strings.EqualFold(k, "database_connection_string") {
			dsn, _ = v.(string)
		}
	}
	if len(dsn) < 6 {
		return
	}
	for k, v := range raw {
		if s, ok := v.(string); ok && !strings.EqualFold(k, "database_connection_string") && strings.Contains(s, dsn) {
			return
		}
	}
	// The error's own words may contain a short connection string ("postgr"
	// is in "one of mysql, postgres, sqlite"): what counts is whether it
	// names the string more often than the same config's error with the
	// string replaced by a marker.
	marked := map[string]any{}
	for k, v := range raw {
		if strings.EqualFold(k, "database_connection_string") {
			v = "\x00marker\x00"
		}
		marked[k] = v
	}
	b, jerr := json.Marshal(marked)
	if jerr != nil {
		t.Fatalf("re-encode: %v", jerr)
	}
	baseline := ""
	if _, merr := Parse(b); merr != nil {
		baseline = merr.Error()
	}
	if strings.Count(err.Error(), dsn) > strings.Count(baseline, dsn) {
		t.Fatalf("error quotes the connection string: %v", err)
	}
}
