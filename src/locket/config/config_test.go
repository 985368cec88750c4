package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"code.cloudfoundry.org/lager/v3/lagerflags"
)

const minimal = `{
  "listen_address": "127.0.0.1:8891",
  "ca_file": "ca.crt", "cert_file": "server.crt", "key_file": "server.key",
  "database_driver": "postgres",
  "database_connection_string": "postgres://locket:hunter22@db:5432/locket"
}`

func TestDiegoReleaseRenderedConfig(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "diego-locket.json"))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen_address", c.ListenAddress, "0.0.0.0:8891"},
		{"debug_address", c.DebugAddress, "127.0.0.1:17018"},
		{"database_driver", c.DatabaseDriver, "mysql"},
		{"max_open_database_connections", c.MaxOpenDatabaseConnections, 200},
		{"max_database_connection_lifetime", c.MaxDatabaseConnectionLifetime.D(), time.Hour},
		{"report_interval", c.ReportInterval.D(), time.Minute},
		{"db_connection_timeout", c.DBConnectionTimeout.D(), 10 * time.Minute},
		{"db_operation_timeout", c.DBOperationTimeout.D(), 10 * time.Second},
		{"sql_enable_identity_verification", c.SQLEnableIdentityVerification, true},
		{"sql_ca_cert_file", c.SQLCACertFile, "/var/vcap/jobs/locket/config/certs/sql/ca.crt"},
		{"time_format", c.TimeFormat, lagerflags.FormatRFC3339},
		{"log_level", c.LogLevel, "info"},
		{"health_check_failure_threshold", c.HealthCheckFailureThreshold, 3},
		{"metrics_address", c.MetricsAddress, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if !strings.Contains(string(c.Loggregator), "loggregator_api_port") {
		t.Errorf("loggregator block not kept: %s", c.Loggregator)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"db_operation_timeout", c.DBOperationTimeout.D(), 10 * time.Second},
		{"db_connection_timeout", c.DBConnectionTimeout.D(), 10 * time.Minute},
		{"db_read_timeout", c.DBReadTimeout.D(), 10 * time.Minute},
		{"db_write_timeout", c.DBWriteTimeout.D(), 10 * time.Minute},
		{"health_check_interval", c.HealthCheckInterval.D(), 10 * time.Second},
		{"health_check_timeout", c.HealthCheckTimeout.D(), 5 * time.Second},
		{"health_check_failure_threshold", c.HealthCheckFailureThreshold, 3},
		{"enable_db_health_check", c.EnableDBHealthCheck, false},
		{"max_open_database_connections", c.MaxOpenDatabaseConnections, 0},
		{"max_database_connection_lifetime", c.MaxDatabaseConnectionLifetime.D(), time.Duration(0)},
		{"report_interval", c.ReportInterval.D(), time.Minute},
		{"log_level", c.LogLevel, "info"},
		{"time_format", c.TimeFormat, lagerflags.FormatUnixEpoch},
		{"debug_address", c.DebugAddress, ""},
		{"metrics_address", c.MetricsAddress, ""},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestZeroAndNullMeanDefault(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "{", `{"db_operation_timeout": "0s", "health_check_interval": null,
		"health_check_failure_threshold": 0, "report_interval": null, "log_level": "", "time_format": null,`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.DBOperationTimeout.D() != 10*time.Second || c.HealthCheckInterval.D() != 10*time.Second ||
		c.HealthCheckFailureThreshold != 3 || c.ReportInterval.D() != time.Minute || c.LogLevel != "info" {
		t.Errorf("defaults not applied: %+v", c.Redacted())
	}
}

func TestOursAndUnknownKeys(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(minimal, "{", `{"metrics_address": "127.0.0.1:9100",
		"some_future_key": {"nested": [1, 2, 3]}, "redact_secrets": true, "max_data_string_length": 0,`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddress != "127.0.0.1:9100" {
		t.Errorf("metrics_address = %q", c.MetricsAddress)
	}
}

func TestTimeFormats(t *testing.T) {
	for in, want := range map[string]lagerflags.TimeFormat{
		`"unix-epoch"`: lagerflags.FormatUnixEpoch, `"rfc3339"`: lagerflags.FormatRFC3339,
		`0`: lagerflags.FormatUnixEpoch, `1`: lagerflags.FormatRFC3339,
	} {
		c, err := Parse([]byte(strings.Replace(minimal, "{", `{"time_format": `+in+`,`, 1)))
		if err != nil {
			t.Errorf("time_format %s: %v", in, err)
			continue
		}
		if c.TimeFormat != want {
			t.Errorf("time_format %s = %v, want %v", in, c.TimeFormat, want)
		}
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		json string
		want []string // substrings of the error
	}{
		{"empty", ``, []string{"empty config"}},
		{"not an object", `[1]`, []string{"JSON object"}},
		{"syntax", `{"listen_address": }`, []string{"invalid JSON"}},
		{"missing everything", `{}`, []string{"listen_address is required", "ca_file is required",
			"cert_file is required", "key_file is required", "database_driver is required"}},
		{"unknown driver", with(`"database_driver": "oracle"`), []string{`database_driver: "oracle" is not one of mysql, postgres, sqlite`}},
		{"no connection string", with(`"database_connection_string": ""`), []string{"database_connection_string is required"}},
		{"bad duration", with(`"db_operation_timeout": "ten seconds"`), []string{"db_operation_timeout", "duration string"}},
		{"number duration", with(`"report_interval": 60`), []string{"report_interval", "duration string"}},
		{"negative duration", with(`"health_check_timeout": "-5s"`), []string{"health_check_timeout", "negative"}},
		{"bad log level", with(`"log_level": "warn"`), []string{`log_level: "warn"`}},
		{"bad time format", with(`"time_format": "iso"`), []string{"time_format"}},
		{"wrong type", with(`"max_open_database_connections": "200"`), []string{"max_open_database_connections", "want an integer"}},
		{"bool as string", with(`"enable_db_health_check": "yes"`), []string{"enable_db_health_check", "true or false"}},
		{"negative pool", with(`"max_open_database_connections": -1`), []string{"max_open_database_connections: -1 is negative"}},
		{"bad address", with(`"listen_address": "8891"`), []string{`listen_address: "8891" is not host:port`}},
		{"bad metrics address", with(`"metrics_address": "nope"`), []string{"metrics_address"}},
		{"loggregator not object", with(`"loggregator": "x"`), []string{"loggregator: want a JSON object"}},
		{"two values", minimal + ` {}`, []string{"more than one value"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.json))
			if err == nil {
				t.Fatalf("no error for %s", c.json)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter22") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// with returns minimal with one key replaced or added (later keys win).
func with(kv string) string { return strings.TrimSuffix(minimal, "}") + ", " + kv + "}" }

func TestErrorsNeverQuoteTheConnectionString(t *testing.T) {
	for _, bad := range []string{
		`{"database_connection_string": 5, "listen_address": "x:1"}`,
		`{"database_connection_string": "user:hunter22@tcp(h)/db", "database_driver": 7}`,
		`{"database_connection_string": "user:hunter22@tcp(h)/db", "report_interval": "hunter"}`,
		`{"database_connection_string": "user:hunter22@tcp(h)/db" "x": 1}`,
	} {
		_, err := Parse([]byte(bad))
		if err == nil {
			t.Fatalf("no error for %s", bad)
		}
		if strings.Contains(err.Error(), "hunter22") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

func TestRedacted(t *testing.T) {
	c, err := Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Redacted(); strings.Contains(r.DatabaseConnectionString, "hunter22") {
		t.Errorf("Redacted keeps the DSN: %q", r.DatabaseConnectionString)
	}
	if !strings.Contains(c.DatabaseConnectionString, "hunter22") {
		t.Errorf("Redacted changed the original")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("Load of a missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}
