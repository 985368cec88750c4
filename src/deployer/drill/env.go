// Package drill runs the seed document's scenarios (docs/drills.md) against
// a deployment of manifests/locket.yml and checks what an operator would
// look at: the JSON log lines (spec/logs.md) and the locks table.
package drill

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/locket-release/deployer/deployment"
	"github.com/locket-release/deployer/monit"
	"github.com/locket-release/deployer/vm"
)

// T is what a drill reports to: *testing.T, or the narrating CLI.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// Env is a drill's view of the deployment.
type Env struct {
	T  T
	Dp *deployment.Deployer
	D  *deployment.Deployment
	// Narrate, when set, receives the story of each step with the log
	// lines and tables an operator would look at.
	Narrate io.Writer
	// Repo is the repository (drill 6 builds upstream's server from its
	// src/interop module).
	Repo string
	ctx  context.Context
}

// NewEnv returns an Env for one drill.
func NewEnv(ctx context.Context, t T, dp *deployment.Deployer, d *deployment.Deployment, repo string, narrate io.Writer) *Env {
	return &Env{T: t, Dp: dp, D: d, Repo: repo, Narrate: narrate, ctx: ctx}
}

// say narrates a step (and logs it in test mode).
func (e *Env) say(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.Narrate != nil {
		fmt.Fprintf(e.Narrate, "\n%s\n", msg)
		return
	}
	e.T.Logf("%s", msg)
}

// report logs a measured figure in both modes.
func (e *Env) report(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if e.Narrate != nil {
		fmt.Fprintf(e.Narrate, "\n  >> %s\n", msg)
	}
	e.T.Logf("%s", msg)
}

// show prints log lines as the seed does: a comment naming the file, then
// the raw JSON lines.
func (e *Env) show(title string, entries ...Entry) {
	if e.Narrate == nil {
		for _, en := range entries {
			e.T.Logf("  %s: %s", title, en.Raw)
		}
		return
	}
	fmt.Fprintf(e.Narrate, "\n# %s\n", title)
	for _, en := range entries {
		fmt.Fprintln(e.Narrate, en.Raw)
	}
}

// Entry is one lager log line.
type Entry struct {
	Time    time.Time
	Level   string
	Source  string
	Message string
	Data    map[string]any
	Raw     string
}

// Str returns a data field as text ("" when absent); dotted names reach
// into nested objects (lock.owner).
func (en Entry) Str(name string) string {
	var cur any = en.Data
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[part]
	}
	switch v := cur.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// Event is the last dotted part of the message (acquired-lock).
func (en Entry) Event() string { return en.Message[strings.LastIndex(en.Message, ".")+1:] }

func parseEntry(line string) (Entry, bool) {
	var raw struct {
		Timestamp json.RawMessage `json:"timestamp"`
		Level     json.RawMessage `json:"level"`
		LogLevel  *int            `json:"log_level"`
		Source    string          `json:"source"`
		Message   string          `json:"message"`
		Data      map[string]any  `json:"data"`
	}
	if err := json.Unmarshal([]byte(line), &raw); err != nil || raw.Message == "" {
		return Entry{}, false
	}
	en := Entry{Source: raw.Source, Message: raw.Message, Data: raw.Data, Raw: line}
	var ts string
	if json.Unmarshal(raw.Timestamp, &ts) != nil {
		ts = string(raw.Timestamp)
	}
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
		en.Time = t
	} else if f, err := strconv.ParseFloat(ts, 64); err == nil {
		en.Time = time.Unix(0, int64(f*1e9))
	}
	if json.Unmarshal(raw.Level, &en.Level) != nil && raw.LogLevel != nil {
		en.Level = []string{"debug", "info", "error", "fatal"}[min(max(*raw.LogLevel, 0), 3)]
	}
	return en, true
}

// Log is one job's stdout log on one instance, read from a mark on.
type Log struct {
	Inst *deployment.Instance
	Job  string
	path string
	from int64
}

// Log returns a job's log of an instance, read from its current end.
func (e *Env) Log(inst *deployment.Instance, job string) *Log {
	l := &Log{Inst: inst, Job: job, path: filepath.Join(e.D.LogDir(inst), job, job+".stdout.log")}
	l.Mark()
	return l
}

// Mark moves the start of what Entries returns to the current end.
func (l *Log) Mark() {
	fi, err := os.Stat(l.path)
	if err == nil {
		l.from = fi.Size()
	} else {
		l.from = 0
	}
}

// FromStart reads the whole log.
func (l *Log) FromStart() *Log { l.from = 0; return l }

// Entries returns the lines logged since the mark.
func (l *Log) Entries() []Entry {
	f, err := os.Open(l.path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(l.from, io.SeekStart); err != nil {
		return nil
	}
	var out []Entry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if en, ok := parseEntry(sc.Text()); ok {
			out = append(out, en)
		}
	}
	return out
}

func (l *Log) String() string { return l.Inst.Short() + " " + l.Job + ".stdout.log" }

// Match is a predicate on log lines.
type Match func(Entry) bool

// Msg matches an event name (the message's last part) and data fields.
func Msg(event string, fields ...string) Match {
	return func(en Entry) bool {
		if en.Event() != event {
			return false
		}
		for i := 0; i+1 < len(fields); i += 2 {
			if en.Str(fields[i]) != fields[i+1] {
				return false
			}
		}
		return true
	}
}

// Find returns the matching lines of any of logs since their marks.
func Find(m Match, logs ...*Log) []Entry {
	var out []Entry
	for _, l := range logs {
		for _, en := range l.Entries() {
			if m(en) {
				out = append(out, en)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out
}

// logAround writes to the test log what each of logs said within d of t,
// in time order: when a drill fails, the processes' own account of it.
func (e *Env) logAround(t time.Time, d time.Duration, logs ...*Log) {
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, l := range logs {
		for _, en := range l.Entries() {
			if en.Time.After(t.Add(-d)) && en.Time.Before(t.Add(d)) {
				lines = append(lines, line{en.Time, l.String() + ": " + en.Raw})
			}
		}
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	e.T.Logf("what the clients and servers logged within %s of %s:", d, t.Format(time.RFC3339Nano))
	for _, l := range lines {
		e.T.Logf("  %s", l.text)
	}
}

// WaitFor waits until one of logs has a matching line and returns the
// first such line; it fails the drill after timeout.
func (e *Env) WaitFor(what string, timeout time.Duration, m Match, logs ...*Log) Entry {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if found := Find(m, logs...); len(found) > 0 {
			return found[0]
		}
		if time.Now().After(deadline) {
			names := make([]string, len(logs))
			for i, l := range logs {
				names[i] = l.String()
			}
			e.T.Fatalf("no %s in %s within %s", what, strings.Join(names, ", "), timeout)
		}
		e.sleep(100 * time.Millisecond)
	}
}

func (e *Env) sleep(d time.Duration) {
	select {
	case <-e.ctx.Done():
		e.T.Fatalf("interrupted: %v", e.ctx.Err())
	case <-time.After(d):
	}
}

// Row is a row of the locks table.
type Row map[string]string

// Locks reads the locks table (upstream's columns), ordered by path.
func (e *Env) Locks() []Row {
	e.T.Helper()
	rows, err := e.D.Query(e.ctx, "SELECT path, owner, value, type, modified_index, modified_id, ttl FROM locks ORDER BY path")
	if err != nil {
		e.T.Fatalf("reading the locks table: %v", err)
	}
	out := make([]Row, len(rows))
	for i, r := range rows {
		out[i] = Row(r)
	}
	return out
}

// Lock returns the row of path, or nil.
func (e *Env) Lock(path string) Row {
	e.T.Helper()
	for _, r := range e.Locks() {
		if r["path"] == path {
			return r
		}
	}
	return nil
}

// WaitRow waits until path's row satisfies ok.
func (e *Env) WaitRow(path, what string, timeout time.Duration, ok func(Row) bool) Row {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := e.Lock(path)
		if r != nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("row %s: %s not seen within %s (row now: %v)", path, what, timeout, r)
		}
		e.sleep(200 * time.Millisecond)
	}
}

// showTable prints a query as an operator sees it at the database's
// prompt (the mysql or psql client's own output).
func (e *Env) showTable(query string) {
	if e.Narrate == nil {
		return
	}
	db, err := e.D.Database()
	if err != nil {
		e.T.Fatalf("%v", err)
	}
	prompt := "mysql> "
	if db.Driver == "postgres" {
		prompt = db.Name + "=> "
	}
	res, err := e.D.VM(db.Instance).Exec(e.ctx, vm.Cmd{Argv: db.SQLCommand(query)})
	if err != nil {
		e.T.Fatalf("query %q: %v", query, err)
	}
	fmt.Fprintf(e.Narrate, "\n%s%s;\n%s", prompt, query, res.Stdout)
}

// Sh runs a script in an instance's VM.
func (e *Env) Sh(inst *deployment.Instance, script string) string {
	e.T.Helper()
	out, err := e.D.VM(inst).Sh(e.ctx, script)
	if err != nil {
		e.T.Fatalf("%s: %s: %v", inst.Short(), script, err)
	}
	return out
}

// Monit is an instance's monit.
func (e *Env) Monit(inst *deployment.Instance) monit.Client { return monit.Client{VM: e.D.VM(inst)} }

// WaitRunning waits until monit runs the process on the instance.
func (e *Env) WaitRunning(inst *deployment.Instance, process string) monit.Process {
	e.T.Helper()
	p, err := e.Monit(inst).Wait(e.ctx, process, time.Minute, "running", monit.Process.Running)
	if err != nil {
		e.T.Fatalf("%s: %v", inst.Short(), err)
	}
	return p
}

// WithJob returns the instances that run a job, in group and index order.
func (e *Env) WithJob(job string) []*deployment.Instance {
	var out []*deployment.Instance
	for _, inst := range e.D.Instances {
		for _, j := range inst.Jobs {
			if j == job {
				out = append(out, inst)
			}
		}
	}
	return out
}

// Instance finds an instance by id among insts.
func byID(insts []*deployment.Instance, id string) *deployment.Instance {
	for _, i := range insts {
		if i.ID == id {
			return i
		}
	}
	return nil
}

// JobConfig reads a rendered JSON config of a job on an instance.
func (e *Env) JobConfig(inst *deployment.Instance, job, file string) map[string]any {
	e.T.Helper()
	b, err := os.ReadFile(filepath.Join(e.D.VM(inst).Vcap(), "jobs", job, "config", file))
	if err != nil {
		e.T.Fatalf("%s: %v", inst.Short(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.T.Fatalf("%s: %s: %v", inst.Short(), file, err)
	}
	return m
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
