// Package config reads the server's locket.json: every key of upstream
// Locket's config (a file rendered by diego-release's locket job starts our
// server unchanged) plus ours. Unknown keys are ignored; durations are Go
// duration strings ("30s", "1h").
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"code.cloudfoundry.org/lager/v3/lagerflags"

	"github.com/locket-release/locket/authz"
)

// Upstream's defaults for keys a locket.json may leave out.
const (
	DefaultDBOperationTimeout          = 10 * time.Second
	DefaultDBDriverTimeout             = 10 * time.Minute // db_connection/read/write_timeout
	DefaultHealthCheckInterval         = 10 * time.Second
	DefaultHealthCheckTimeout          = 5 * time.Second
	DefaultHealthCheckFailureThreshold = 3
	DefaultReportInterval              = time.Minute // what diego-release renders
	DefaultLogLevel                    = "info"
)

// Drivers are the accepted database_driver values.
var Drivers = []string{"mysql", "postgres", "sqlite"}

// Config is a parsed locket.json.
type Config struct {
	ListenAddress string `json:"listen_address"`
	CAFile        string `json:"ca_file"`
	CertFile      string `json:"cert_file"`
	KeyFile       string `json:"key_file"`

	DatabaseDriver                string   `json:"database_driver"`
	DatabaseConnectionString      string   `json:"database_connection_string"` // secret: never log it
	SQLCACertFile                 string   `json:"sql_ca_cert_file"`
	SQLEnableIdentityVerification bool     `json:"sql_enable_identity_verification"`
	MaxOpenDatabaseConnections    int      `json:"max_open_database_connections"`
	MaxDatabaseConnectionLifetime Duration `json:"max_database_connection_lifetime"`
	DBConnectionTimeout           Duration `json:"db_connection_timeout"`
	DBReadTimeout                 Duration `json:"db_read_timeout"`
	DBWriteTimeout                Duration `json:"db_write_timeout"`
	DBOperationTimeout            Duration `json:"db_operation_timeout"`

	EnableDBHealthCheck         bool     `json:"enable_db_health_check"`
	HealthCheckInterval         Duration `json:"health_check_interval"`
	HealthCheckTimeout          Duration `json:"health_check_timeout"`
	HealthCheckFailureThreshold int      `json:"health_check_failure_threshold"`

	ReportInterval Duration `json:"report_interval"`
	DebugAddress   string   `json:"debug_address"`
	LogLevel       string   `json:"log_level"`
	// TimeFormat is lager's: "unix-epoch" (default) or "rfc3339" (also 0 / 1).
	TimeFormat lagerflags.TimeFormat `json:"time_format"`

	// Loggregator is upstream's metrics transport. It is accepted so that a
	// rendered locket.json starts us, and otherwise unused: our metrics are
	// served to Prometheus (MetricsAddress).
	Loggregator json.RawMessage `json:"loggregator"`

	// Ours.

	// MetricsAddress serves the metrics in Prometheus text format at
	// http://MetricsAddress/metrics; empty turns it off.
	MetricsAddress string `json:"metrics_address"`

	// Authorization maps client certificate identities to the keys, types
	// and operations they may use; no rules: upstream's behaviour.
	Authorization authz.Config `json:"authorization"`

	// HistoryRetention is how long ownership changes are kept in
	// locket_history (default 7 days).
	HistoryRetention Duration `json:"history_retention"`
}

// DefaultHistoryRetention is the default of history_retention.
const DefaultHistoryRetention = 7 * 24 * time.Hour

// Duration is a time.Duration written in JSON as a Go duration string. JSON
// null leaves the default in place (a BOSH property without a value renders
// as null).
type Duration time.Duration

// UnmarshalJSON accepts "30s"-style strings and null.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"30s\" or \"1h\", got %s", shorten(string(b)))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"30s\" or \"1h\", got %q", shorten(s))
	}
	if v < 0 {
		return fmt.Errorf("negative duration %q", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Load reads and parses the file at path.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes a locket.json, fills in upstream's defaults and validates it.
// Its errors name the key at fault and never quote a secret value.
func Parse(b []byte) (Config, error) {
	c := Defaults()
	if err := decode(b, &c); err != nil {
		return Config{}, err
	}
	c.fillDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Defaults returns a Config with upstream's defaults and nothing else.
func Defaults() Config {
	return Config{
		DBConnectionTimeout:         Duration(DefaultDBDriverTimeout),
		DBReadTimeout:               Duration(DefaultDBDriverTimeout),
		DBWriteTimeout:              Duration(DefaultDBDriverTimeout),
		DBOperationTimeout:          Duration(DefaultDBOperationTimeout),
		HealthCheckInterval:         Duration(DefaultHealthCheckInterval),
		HealthCheckTimeout:          Duration(DefaultHealthCheckTimeout),
		HealthCheckFailureThreshold: DefaultHealthCheckFailureThreshold,
		ReportInterval:              Duration(DefaultReportInterval),
		LogLevel:                    DefaultLogLevel,
		TimeFormat:                  lagerflags.FormatUnixEpoch,
		HistoryRetention:            Duration(DefaultHistoryRetention),
	}
}

// decode unmarshals b into c, turning encoding/json's errors into ones that
// name the key.
func decode(b []byte, c *Config) error {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return errors.New("empty config: want a JSON object")
	}
	if trimmed[0] != '{' {
		return errors.New("want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(c); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr):
			// The message names the key and the types, never the value.
			return fmt.Errorf("%s: want %s, got a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
		case errors.As(err, &syntaxErr):
			return fmt.Errorf("invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
		default:
			// Errors of our own UnmarshalJSON methods: json wraps them
			// without the key, so find the key ourselves.
			if key := failingKey(trimmed); key != "" {
				return fmt.Errorf("%s: %s", key, unwrapJSON(err))
			}
			return fmt.Errorf("invalid config: %s", unwrapJSON(err))
		}
	}
	if dec.More() {
		return errors.New("invalid JSON: more than one value")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "an integer"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "a JSON value"
	}
	return goKind
}

func unwrapJSON(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// failingKey finds the first top-level key whose value our custom decoders
// reject, by decoding the keys one by one.
func failingKey(b []byte) string {
	var raw map[string]json.RawMessage
	if json.Unmarshal(b, &raw) != nil {
		return ""
	}
	probe := map[string]func(json.RawMessage) error{}
	for _, k := range []string{"max_database_connection_lifetime", "db_connection_timeout", "db_read_timeout",
		"db_write_timeout", "db_operation_timeout", "health_check_interval", "health_check_timeout", "report_interval",
		"history_retention"} {
		probe[k] = func(m json.RawMessage) error { var d Duration; return d.UnmarshalJSON(m) }
	}
	probe["time_format"] = func(m json.RawMessage) error { var f lagerflags.TimeFormat; return f.UnmarshalJSON(m) }
	for k, v := range raw {
		for name, check := range probe {
			if strings.EqualFold(k, name) && check(v) != nil {
				return name
			}
		}
	}
	return ""
}

func (c *Config) fillDefaults() {
	// Upstream treats zero as "use the default" for these.
	if c.DBOperationTimeout == 0 {
		c.DBOperationTimeout = Duration(DefaultDBOperationTimeout)
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = Duration(DefaultHealthCheckInterval)
	}
	if c.HealthCheckTimeout == 0 {
		c.HealthCheckTimeout = Duration(DefaultHealthCheckTimeout)
	}
	if c.HealthCheckFailureThreshold == 0 {
		c.HealthCheckFailureThreshold = DefaultHealthCheckFailureThreshold
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = Duration(DefaultReportInterval)
	}
	if c.LogLevel == "" {
		c.LogLevel = DefaultLogLevel
	}
	if c.HistoryRetention == 0 {
		c.HistoryRetention = Duration(DefaultHistoryRetention)
	}
}

// Validate checks the required keys and the values.
func (c Config) Validate() error {
	var errs []error
	required := func(key, v string) {
		if strings.TrimSpace(v) == "" {
			errs = append(errs, fmt.Errorf("%s is required", key))
		}
	}
	required("listen_address", c.ListenAddress)
	required("ca_file", c.CAFile)
	required("cert_file", c.CertFile)
	required("key_file", c.KeyFile)
	required("database_driver", c.DatabaseDriver)
	if c.DatabaseDriver != "" {
		if !contains(Drivers, c.DatabaseDriver) {
			errs = append(errs, fmt.Errorf("database_driver: %q is not one of %s", shorten(c.DatabaseDriver), strings.Join(Drivers, ", ")))
		} else {
			required("database_connection_string", c.DatabaseConnectionString)
		}
	}
	for key, addr := range map[string]string{"listen_address": c.ListenAddress, "debug_address": c.DebugAddress, "metrics_address": c.MetricsAddress} {
		if addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("%s: %q is not host:port", key, shorten(addr)))
		}
	}
	if !contains([]string{"debug", "info", "error", "fatal"}, c.LogLevel) {
		errs = append(errs, fmt.Errorf("log_level: %q is not one of debug, info, error, fatal", shorten(c.LogLevel)))
	}
	if c.MaxOpenDatabaseConnections < 0 {
		errs = append(errs, fmt.Errorf("max_open_database_connections: %d is negative", c.MaxOpenDatabaseConnections))
	}
	if c.HealthCheckFailureThreshold < 0 {
		errs = append(errs, fmt.Errorf("health_check_failure_threshold: %d is negative", c.HealthCheckFailureThreshold))
	}
	if len(c.Loggregator) > 0 {
		if t := bytes.TrimSpace(c.Loggregator); t[0] != '{' && string(t) != "null" {
			errs = append(errs, errors.New("loggregator: want a JSON object"))
		}
	}
	if err := c.Authorization.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Redacted returns the config safe to log: the connection string is
// replaced by a marker.
func (c Config) Redacted() Config {
	if c.DatabaseConnectionString != "" {
		c.DatabaseConnectionString = "[REDACTED]"
	}
	c.Loggregator = nil
	return c
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// shorten keeps error messages readable when a value is huge.
func shorten(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	r := []rune(s)
	if len(r) > limit {
		r = r[:limit]
	}
	return string(r) + "..."
}
