package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"

	"code.cloudfoundry.org/lager/v3"
	"code.cloudfoundry.org/lager/v3/lagerflags"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/locket-release/locket/config"
	"github.com/locket-release/locket/debugserver"
)

// newLogger returns the "locket" logger writing lager JSON lines to w in the
// configured time format, and the sink whose level POST /log-level changes.
// Lines pass through a filter that blanks the database password and
// connection string wherever they appear (a driver error may quote them).
func newLogger(cfg config.Config, w io.Writer) (lager.Logger, *lager.ReconfigurableSink) {
	var sink lager.Sink
	if cfg.TimeFormat == lagerflags.FormatRFC3339 {
		sink = lager.NewPrettySink(w, lager.DEBUG)
	} else {
		sink = lager.NewWriterSink(w, lager.DEBUG)
	}
	if secrets := secretsOf(cfg.DatabaseDriver, cfg.DatabaseConnectionString); len(secrets) > 0 {
		sink = newRedactingSink(sink, secrets)
	}
	level, err := debugserver.ParseLevel(cfg.LogLevel)
	if err != nil {
		level = lager.INFO // config.Validate has refused anything else
	}
	reconf := lager.NewReconfigurableSink(sink, level)
	logger := lager.NewLogger("locket")
	logger.RegisterSink(reconf)
	return newGatedLogger(logger, reconf), reconf
}

// gatedLogger skips debug lines before they are built: lager formats the
// time and merges the session's data for every call and lets the sink drop
// it, which on the renewal path (three debug lines per request, as upstream
// logs them) costs more than the request's own logging at info. The level is
// read on every call, so POST /log-level still takes effect at once.
//
// Its sessions are built when they first log a line that passes the level:
// a renewal logs nothing at info, and building its two sessions (as
// upstream names them) anyway cost about 4% of the server's CPU
// (docs/benchmarks.md). A session that never logs leaves no trace in the
// log either way; one that does carries the same name and data. Data passed
// to Session or WithData must not change afterwards.
type gatedLogger struct {
	lazy  *lazyLogger
	level interface{ GetMinLevel() lager.LogLevel }
}

// lazyLogger builds its logger once, on first use.
type lazyLogger struct {
	once   sync.Once
	build  func() lager.Logger
	logger lager.Logger
}

func (z *lazyLogger) get() lager.Logger {
	z.once.Do(func() {
		z.logger = z.build()
		z.build = nil
	})
	return z.logger
}

func newGatedLogger(l lager.Logger, level interface{ GetMinLevel() lager.LogLevel }) gatedLogger {
	return gatedLogger{lazy: &lazyLogger{build: func() lager.Logger { return l }}, level: level}
}

// derive returns a logger built from g's when first used.
func (g gatedLogger) derive(build func(parent lager.Logger) lager.Logger) lager.Logger {
	parent := g.lazy
	return gatedLogger{lazy: &lazyLogger{build: func() lager.Logger { return build(parent.get()) }}, level: g.level}
}

func (g gatedLogger) Session(task string, data ...lager.Data) lager.Logger {
	return g.derive(func(p lager.Logger) lager.Logger { return p.Session(task, data...) })
}

func (g gatedLogger) WithData(data lager.Data) lager.Logger {
	return g.derive(func(p lager.Logger) lager.Logger { return p.WithData(data) })
}

func (g gatedLogger) WithTraceInfo(r *http.Request) lager.Logger {
	return g.derive(func(p lager.Logger) lager.Logger { return p.WithTraceInfo(r) })
}

func (g gatedLogger) Debug(action string, data ...lager.Data) {
	if g.level.GetMinLevel() <= lager.DEBUG {
		g.lazy.get().Debug(action, data...)
	}
}

func (g gatedLogger) Info(action string, data ...lager.Data) {
	if g.level.GetMinLevel() <= lager.INFO {
		g.lazy.get().Info(action, data...)
	}
}

func (g gatedLogger) Error(action string, err error, data ...lager.Data) {
	if g.level.GetMinLevel() <= lager.ERROR {
		g.lazy.get().Error(action, err, data...)
	}
}

func (g gatedLogger) Fatal(action string, err error, data ...lager.Data) {
	g.lazy.get().Fatal(action, err, data...)
}

func (g gatedLogger) RegisterSink(s lager.Sink) { g.lazy.get().RegisterSink(s) }

func (g gatedLogger) SessionName() string { return g.lazy.get().SessionName() }

// minSecretLength keeps a trivially short password from blanking every
// occurrence of a common letter pair in the logs.
const minSecretLength = 3

var keywordPassword = regexp.MustCompile(`(?i)\bpassword\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// secretsOf returns the strings that must never reach a log line: the
// connection string itself and the password inside it.
func secretsOf(driver, dsn string) []string {
	if dsn == "" || driver == "sqlite" {
		return nil
	}
	set := map[string]bool{dsn: true}
	switch driver {
	case "mysql":
		if c, err := mysql.ParseDSN(dsn); err == nil && c.Passwd != "" {
			set[c.Passwd] = true
		} else if at := strings.LastIndex(dsn, "@"); at > 0 {
			// Unparseable: guess user:password@ like the driver would.
			if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
				set[dsn[colon+1:at]] = true
			}
		}
	case "postgres":
		if u, err := url.Parse(dsn); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				set[p] = true
				set[url.QueryEscape(p)] = true
				set[url.PathEscape(p)] = true
			}
		}
		for _, m := range keywordPassword.FindAllStringSubmatch(dsn, -1) {
			set[strings.Trim(m[1], "'")] = true
		}
		if c, err := pgconn.ParseConfig(dsn); err == nil && c.Password != "" {
			set[c.Password] = true
		}
	}
	var out []string
	for s := range set {
		if len(s) >= minSecretLength {
			out = append(out, s)
		}
	}
	// Longest first, so that the connection string goes before the password
	// inside it.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

const redacted = "[REDACTED]"

type redactingSink struct {
	next    lager.Sink
	secrets []string
	repl    *strings.Replacer
}

func newRedactingSink(next lager.Sink, secrets []string) lager.Sink {
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redacted)
	}
	return &redactingSink{next: next, secrets: secrets, repl: strings.NewReplacer(pairs...)}
}

func (r *redactingSink) Log(l lager.LogFormat) {
	l.Message = r.clean(l.Message)
	if l.Data != nil {
		l.Data = r.cleanValue(l.Data).(lager.Data)
	}
	r.next.Log(l)
}

func (r *redactingSink) clean(s string) string {
	for _, secret := range r.secrets {
		if strings.Contains(s, secret) {
			return r.repl.Replace(s)
		}
	}
	return s
}

// cleanValue returns v with secrets blanked; it copies only what it changes
// (log data maps are shared with the logger's session).
func (r *redactingSink) cleanValue(v any) any {
	switch t := v.(type) {
	case nil, bool, int, int32, int64, uint64, float64:
		return v
	case string:
		return r.clean(t)
	case error:
		return r.clean(t.Error())
	case lager.Data:
		out := make(lager.Data, len(t))
		for k, e := range t {
			out[k] = r.cleanValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = r.cleanValue(e)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = r.cleanValue(e)
		}
		return out
	default:
		// Anything else is marshalled by the sink; look at that form.
		b, err := json.Marshal(v)
		if err != nil {
			return v
		}
		if s := string(b); r.clean(s) != s {
			var generic any
			if json.Unmarshal([]byte(r.repl.Replace(s)), &generic) == nil {
				return generic
			}
			return redacted
		}
		return v
	}
}
