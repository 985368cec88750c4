package faults

import (
	"context"
	"crypto/tls"
	"database/sql"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
	"github.com/locket-release/locket/tlsconfig"
)

// Profile sets the scale of a run.
type Profile struct {
	Name     string
	TTL      int64         // seconds, every lock and presence
	Interval time.Duration // between a client's Locks (upstream runners: TTL/3)
	Timeout  time.Duration // of each request (upstream runners: one interval)
	Warmup   time.Duration // before the first fault
	Settle   time.Duration // after the last heal
	Repeat   int           // fault cycles per run
	Gap      time.Duration // between cycles

	LockKeys   int // shared lock keys
	Holders    int // holders per shared key
	Presences  int
	Abandoners int // presences that stop renewing during the run
	Readers    int
	Stormers   int

	ServerDown  time.Duration // one server killed before it is restarted
	Outage      time.Duration // every server killed, or the database stopped
	Stall       time.Duration // the locks table locked: > Timeout, < TTL - Interval
	ClientFault time.Duration // a partition or a pause: > TTL, so the victim's locks expire
	Storm       time.Duration
	// GaleraSuspect is evs.suspect_timeout: how long a cluster waits for a
	// dead node before it goes on without it (5 s by default, with 15 s
	// TTLs in a foundation).
	GaleraSuspect time.Duration
}

// CIProfile keeps each run to 10-20 s.
func CIProfile() Profile {
	return Profile{
		Name: "ci", TTL: 3, Interval: time.Second, Timeout: time.Second,
		Warmup: 3 * time.Second, Settle: 5 * time.Second, Repeat: 1, Gap: 3 * time.Second,
		LockKeys: 2, Holders: 3, Presences: 12, Abandoners: 3, Readers: 2, Stormers: 40,
		ServerDown: 4 * time.Second, Outage: 5 * time.Second, Stall: 1500 * time.Millisecond,
		ClientFault: 5 * time.Second, Storm: 6 * time.Second, GaleraSuspect: 2 * time.Second,
	}
}

// LongProfile runs with a foundation's TTL (15 s, renewed every 5 s), more
// clients, and every fault three times.
func LongProfile() Profile {
	return Profile{
		Name: "long", TTL: 15, Interval: 5 * time.Second, Timeout: 5 * time.Second,
		Warmup: 10 * time.Second, Settle: 20 * time.Second, Repeat: 3, Gap: 20 * time.Second,
		LockKeys: 4, Holders: 4, Presences: 60, Abandoners: 10, Readers: 4, Stormers: 200,
		ServerDown: 20 * time.Second, Outage: 25 * time.Second, Stall: 8 * time.Second,
		ClientFault: 25 * time.Second, Storm: 30 * time.Second, GaleraSuspect: 5 * time.Second,
	}
}

// Step is one fault in a cycle.
type Step struct {
	Kind    FaultKind
	At, For time.Duration // from the cycle's start; For 0: never healed
	Servers []int         // KillServer: which servers
	Victim  int           // Partition, Pause: which victim agent
}

// VictimKind is how a victim client is set up.
type VictimKind string

// Victims: one behind its own network namespace, one that can be paused.
const (
	PartitionVictim VictimKind = "partition"
	PauseVictim     VictimKind = "pause"
)

// Scenario is one row of the results table.
type Scenario struct {
	Name    string
	About   string
	DB      string // "mysql", "postgres" (shared servers, a database of the run's own), "private" (own mariadbd), "galera"
	Servers int
	Victims []VictimKind
	Steps   func(p Profile) []Step
}

// Scenarios are the faults, each on its own and combined.
func Scenarios() []Scenario {
	return []Scenario{
		{
			Name: "kill-one-server", About: "SIGKILL of one of two servers under load, restarted later",
			DB: "mysql", Servers: 2,
			Steps: func(p Profile) []Step {
				return []Step{{Kind: KillServer, For: p.ServerDown, Servers: []int{0}}}
			},
		},
		{
			Name: "kill-both-servers", About: "SIGKILL of both servers, restarted after more than a TTL",
			DB: "mysql", Servers: 2,
			Steps: func(p Profile) []Step {
				return []Step{{Kind: KillServer, For: p.Outage, Servers: []int{0, 1}}}
			},
		},
		{
			Name: "stop-database", About: "the database server (a private mariadbd) stopped for more than a TTL, then started",
			DB: "private", Servers: 2,
			Steps: func(p Profile) []Step { return []Step{{Kind: StopDatabase, For: p.Outage}} },
		},
		{
			Name: "slow-database-mysql", About: "LOCK TABLES locks WRITE held longer than a request's timeout, shorter than the TTL",
			DB: "mysql", Servers: 2,
			Steps: func(p Profile) []Step { return []Step{{Kind: SlowDatabase, For: p.Stall}} },
		},
		{
			Name: "slow-database-postgres", About: "LOCK TABLE locks IN ACCESS EXCLUSIVE MODE, as above",
			DB: "postgres", Servers: 2,
			Steps: func(p Profile) []Step { return []Step{{Kind: SlowDatabase, For: p.Stall}} },
		},
		{
			Name: "partition-client", About: "a lock holder's namespace cut off (blackhole routes) for more than a TTL, then healed",
			DB: "mysql", Servers: 2, Victims: []VictimKind{PartitionVictim},
			Steps: func(p Profile) []Step { return []Step{{Kind: Partition, For: p.ClientFault}} },
		},
		{
			Name: "pause-client", About: "a lock holder SIGSTOPped for more than a TTL, then SIGCONTed",
			DB: "mysql", Servers: 2, Victims: []VictimKind{PauseVictim},
			Steps: func(p Profile) []Step { return []Step{{Kind: Pause, For: p.ClientFault}} },
		},
		{
			Name: "retry-storm", About: "clients retrying Lock every 100 ms on one key",
			DB: "mysql", Servers: 2,
			Steps: func(p Profile) []Step { return []Step{{Kind: RetryStorm, For: p.Storm}} },
		},
		{
			Name: "kill-galera-node", About: "SIGKILL of the active node of a three-node Galera cluster behind a proxy",
			DB: "galera", Servers: 2,
			Steps: func(p Profile) []Step { return []Step{{Kind: KillDBNode, For: p.ServerDown}} },
		},
		{
			Name: "combined", About: "a partition, a pause and a retry storm at once, one server killed meanwhile, then a slowed database",
			DB: "mysql", Servers: 2, Victims: []VictimKind{PartitionVictim, PauseVictim},
			Steps: func(p Profile) []Step {
				return []Step{
					{Kind: Partition, For: p.ClientFault, Victim: 0},
					{Kind: Pause, For: p.ClientFault, Victim: 1},
					{Kind: RetryStorm, For: p.ClientFault + time.Second},
					{Kind: KillServer, At: time.Second, For: p.ServerDown, Servers: []int{0}},
					{Kind: SlowDatabase, At: p.ClientFault + 2*time.Second, For: p.Stall},
				}
			},
		},
	}
}

// run is one scenario against one implementation.
type run struct {
	t       *testing.T
	sc      Scenario
	p       Profile
	impl    Implementation
	certs   *testenv.Certs
	db      testenv.Database
	private *MariaDB
	galera  *Galera
	servers []Server
	addrs   []string
	aliases map[string]string // a forwarder's address as clients see it -> the server's
	h       *History
	victims []*victim
	storm   *agent
	agents  []*agent
}

type victim struct {
	kind  VictimKind
	name  string
	link  *Link
	agent *agent
	addrs []string
}

// Outcome of a run, for the table.
type RunReport struct {
	Scenario string
	Impl     Implementation
	Profile  string
	Result   Result
	Duration time.Duration
	Faults   int
}

// RunScenario runs sc against impl and checks the history.
func RunScenario(t *testing.T, sc Scenario, impl Implementation, p Profile) RunReport {
	r := &run{t: t, sc: sc, p: p, impl: impl, certs: testenv.NewCerts(t), h: &History{}, aliases: map[string]string{}}
	r.setupDatabase()
	for range sc.Servers {
		var s Server
		if impl == Ours {
			s = startOurs(t, r.db, r.certs)
		} else {
			s = startUpstream(t, r.db, r.certs)
		}
		r.servers = append(r.servers, s)
		r.addrs = append(r.addrs, s.Address())
	}
	steps := sc.Steps(p)
	cycle := time.Duration(0)
	for _, s := range steps {
		cycle = max(cycle, s.At+s.For)
	}
	planned := p.Warmup + time.Duration(p.Repeat)*cycle + time.Duration(p.Repeat-1)*p.Gap + p.Settle

	r.h.RunStart = Mono()
	stopObserver := r.observe()
	r.startClients(planned)

	sleepFor(p.Warmup)
	for rep := 0; rep < p.Repeat; rep++ {
		if rep > 0 {
			sleepFor(p.Gap)
		}
		r.cycle(steps)
	}
	sleepFor(p.Settle)
	r.h.RunEnd = Mono()
	for _, a := range r.agents {
		a.stop(t)
	}
	stopObserver()
	r.h.Finish()
	for i, op := range r.h.Ops {
		if a, ok := r.aliases[op.Peer]; ok {
			r.h.Ops[i].Peer = a
		}
	}
	res := Check(r.h, DefaultCheckConfig())
	rep := RunReport{Scenario: sc.Name, Impl: impl, Profile: p.Name, Result: res,
		Duration: time.Duration(r.h.RunEnd - r.h.RunStart), Faults: len(r.h.Faults)}
	t.Logf("%s", summary(rep))
	if res.UnderFaultP99 >= 0 {
		t.Logf("  bystanders' Lock latency p50/p99: %s/%s before any fault, %s/%s during client faults",
			res.BaselineP50.Round(time.Microsecond), res.BaselineP99.Round(time.Microsecond),
			res.UnderFaultP50.Round(time.Microsecond), res.UnderFaultP99.Round(time.Microsecond))
	}
	if res.RecoveryNote != "" {
		t.Logf("  slowest recovery: %s", res.RecoveryNote)
	}
	for _, d := range res.Details {
		t.Logf("  %s", d)
	}
	if os.Getenv("LOCKET_FAULTS_HISTORY") != "" {
		r.dumpHistory()
	}
	return rep
}

func sleepFor(d time.Duration) { time.Sleep(d) }

func summary(rep RunReport) string {
	r := rep.Result
	lag := "n/a"
	if r.MaxExpiryLag >= 0 {
		lag = r.MaxExpiryLag.Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%s/%s: %d ops (%d failed), %d tenures, violations %d, lost %d, abandoned %d (late %d, max lag %s), stale writes %s, collateral %d (unexcused %d), recovery %s, unrecovered %d",
		rep.Scenario, rep.Impl, r.Ops, r.Failed, r.Tenures, r.Violations, r.Lost, r.Abandoned, r.LateExpiries, lag,
		fencedText(r), r.Collateral, r.Unexcused, r.Recovery.Round(time.Millisecond), len(r.Unrecovered))
}

func fencedText(r Result) string {
	if !r.Fenced {
		return "n/a"
	}
	return fmt.Sprintf("%d (token violations %d)", r.StaleWrites, r.TokenViolations)
}

func (r *run) setupDatabase() {
	t := r.t
	switch r.sc.DB {
	case "mysql", "postgres":
		r.db = testenv.NewDatabase(t, r.sc.DB)
	case "private":
		r.private = StartMariaDB(t)
		name := "locket_faults"
		r.adminExec("mysql", r.private.DSN(""), "CREATE DATABASE "+name)
		r.db = testenv.Database{Driver: "mysql", DSN: r.private.DSN(name), Name: name}
	case "galera":
		r.galera = StartGalera(t, r.p.GaleraSuspect)
		name := "locket_faults"
		r.adminExec("mysql", r.galera.DSN(""), "CREATE DATABASE "+name)
		r.db = testenv.Database{Driver: "mysql", DSN: r.galera.DSN(name), Name: name}
	default:
		t.Fatalf("unknown database %q", r.sc.DB)
	}
}

func sqlDriver(driver string) string {
	if driver == "postgres" {
		return "pgx"
	}
	return driver
}

func (r *run) adminExec(driver, dsn, q string) {
	db, err := sql.Open(sqlDriver(driver), dsn)
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
}

// observe reads the whole locks table every 50 ms straight from the
// database, until the returned function is called.
func (r *run) observe() func() {
	db, err := sql.Open(sqlDriver(r.db.Driver), r.db.DSN)
	if err != nil {
		r.t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer db.Close()
		next := Mono()
		for {
			if !sleepUntil(stop, next) {
				return
			}
			due := next
			next = Mono() + int64(50*time.Millisecond)
			o := Observation{Start: Mono(), Rows: map[string]Row{}}
			err := readTable(db, o.Rows)
			o.End = Mono()
			r.h.readEnded(due, o.End)
			if err != nil {
				r.h.observationFailed()
				continue
			}
			r.h.AddObservation(o)
		}
	}()
	return func() { close(stop); <-done }
}

func readTable(db *sql.DB, rows map[string]Row) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	rs, err := db.QueryContext(ctx, "SELECT path, owner, modified_id, modified_index FROM locks")
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var path string
		var owner, mid sql.NullString
		var idx sql.NullInt64
		if err := rs.Scan(&path, &owner, &mid, &idx); err != nil {
			return err
		}
		rows[path] = Row{Owner: owner.String, ModifiedID: mid.String, Index: idx.Int64}
	}
	return rs.Err()
}

// startClients starts the agents: holders competing for shared keys,
// presences (some abandoned during the run), readers and the victims.
func (r *run) startClients(planned time.Duration) {
	p := r.p
	base := AgentSpec{Addrs: r.addrs, CAFile: r.certs.CAFile, CertFile: r.certs.ClientCertFile, KeyFile: r.certs.ClientKey}
	worker := func(name string, role Role, key, owner string) WorkerSpec {
		return WorkerSpec{Name: name, Role: role, Key: key, Owner: owner, TTL: p.TTL, Interval: p.Interval, Timeout: p.Timeout}
	}
	var readKeys []string

	// Victims first, so that each holds its key before its contender starts.
	var network *Network
	for i, kind := range r.sc.Victims {
		v := &victim{kind: kind, name: fmt.Sprintf("victim%d", i), addrs: r.addrs}
		spec := base
		spec.Name = v.name
		ns := ""
		if kind == PartitionVictim {
			if network == nil {
				network = NewNetwork(r.t)
			}
			v.link = network.AddLink()
			v.addrs = nil
			for _, a := range r.addrs {
				fa := v.link.Forward(a)
				r.aliases[fa] = a
				v.addrs = append(v.addrs, fa)
			}
			spec.Addrs = v.addrs
			ns = v.link.NS
		}
		key := "victim-" + fmt.Sprint(i)
		spec.Workers = []WorkerSpec{
			worker("holder", RoleHolder, key, v.name+"-owner"),
			worker("cell", RolePresence, key+"-cell", newUUID()),
		}
		readKeys = append(readKeys, key, key+"-cell")
		v.agent = startAgent(r.t, r.h, spec, ns)
		r.agents = append(r.agents, v.agent)
		r.victims = append(r.victims, v)
	}

	holders := base
	holders.Name = "holders"
	for k := range p.LockKeys {
		key := fmt.Sprintf("lock-%d", k)
		readKeys = append(readKeys, key)
		for j := range p.Holders {
			w := worker(fmt.Sprintf("holder-%d-%d", k, j), RoleHolder, key, fmt.Sprintf("owner-%d-%d", k, j))
			w.HoldMin, w.HoldMax = 2*p.Interval, 4*p.Interval
			w.PauseMin, w.PauseMax = p.Interval/3, p.Interval
			holders.Workers = append(holders.Workers, w)
		}
	}
	for i := range r.victims {
		key := "victim-" + fmt.Sprint(i)
		w := worker(fmt.Sprintf("contender-%d", i), RoleHolder, key, fmt.Sprintf("contender-%d-owner", i))
		w.StartAt = r.h.RunStart + int64(p.Warmup/2)
		holders.Workers = append(holders.Workers, w)
	}
	r.agents = append(r.agents, startAgent(r.t, r.h, holders, ""))

	cells := base
	cells.Name = "cells"
	// Abandoned presences stop at evenly spread moments, each early enough
	// to be seen expire before the run ends.
	last := planned - time.Duration(p.TTL)*time.Second - 2*time.Second
	for i := range p.Presences {
		key := fmt.Sprintf("cell-%02d", i)
		readKeys = append(readKeys, key)
		w := worker(key, RolePresence, key, newUUID())
		w.Value = fmt.Sprintf(`{"cell_id":%q}`, key)
		if i < p.Abandoners && last > p.Warmup {
			at := p.Warmup + (last-p.Warmup)*time.Duration(i)/time.Duration(max(p.Abandoners-1, 1))
			w.StopAt = r.h.RunStart + int64(at)
		}
		cells.Workers = append(cells.Workers, w)
	}
	r.agents = append(r.agents, startAgent(r.t, r.h, cells, ""))

	readers := base
	readers.Name = "readers"
	for i := range p.Readers {
		w := worker(fmt.Sprintf("reader-%d", i), RoleReader, "", "")
		w.Keys = readKeys
		w.Interval = 100 * time.Millisecond
		readers.Workers = append(readers.Workers, w)
	}
	r.agents = append(r.agents, startAgent(r.t, r.h, readers, ""))
}

// action is one thing the nemesis does at a moment.
type action struct {
	at int64
	do func()
}

// cycle injects and heals a cycle's faults at their moments, in the test's
// goroutine.
func (r *run) cycle(steps []Step) {
	start := Mono()
	var acts []action
	for _, s := range steps {
		f := &Fault{Name: fmt.Sprintf("%s@%s", s.Kind, s.At), Kind: s.Kind}
		heal := func() {}
		acts = append(acts, action{start + int64(s.At), func() { heal = r.inject(s, f) }})
		acts = append(acts, action{start + int64(s.At+s.For), func() {
			// A fault that heals by itself (a Galera node lost) has set
			// these when the service came back.
			if f.HealStart == 0 {
				f.HealStart = Mono()
			}
			heal()
			if f.Healed == 0 {
				f.Healed = Mono()
			}
			r.h.AddFault(*f)
		}})
	}
	sort.SliceStable(acts, func(i, j int) bool { return acts[i].at < acts[j].at })
	for _, a := range acts {
		sleepUntil(nil, a.at)
		a.do()
	}
}

// inject starts fault s, filling in f, and returns what heals it.
func (r *run) inject(s Step, f *Fault) (heal func()) {
	f.Start = Mono()
	defer func() {
		if f.Injected == 0 {
			f.Injected = Mono()
		}
	}()
	switch s.Kind {
	case KillServer:
		for _, i := range s.Servers {
			r.servers[i].Kill()
			f.Servers = append(f.Servers, r.addrs[i])
		}
		f.Outage = len(s.Servers) == len(r.servers)
		f.RecoverFromInjection = !f.Outage
		return func() {
			for _, i := range s.Servers {
				r.servers[i].Start()
			}
		}
	case StopDatabase:
		f.Outage, f.DBImpaired = true, true
		r.private.Stop()
		return r.private.Start
	case SlowDatabase:
		f.DBImpaired = true
		return r.lockTable()
	case Partition:
		v := r.victims[s.Victim]
		f.Agents = []string{v.name}
		v.link.Cut()
		return v.link.Heal
	case Pause:
		v := r.victims[s.Victim]
		f.Agents = []string{v.name}
		if err := v.agent.signal(syscall.SIGSTOP); err != nil {
			r.t.Fatal(err)
		}
		return func() {
			if err := v.agent.signal(syscall.SIGCONT); err != nil {
				r.t.Error(err)
			}
		}
	case RetryStorm:
		spec := AgentSpec{Name: "storm", Addrs: r.addrs, CAFile: r.certs.CAFile, CertFile: r.certs.ClientCertFile, KeyFile: r.certs.ClientKey}
		for i := range r.p.Stormers {
			spec.Workers = append(spec.Workers, WorkerSpec{
				Name: fmt.Sprintf("storm-%d", i), Role: RoleHolder, Key: "hot", Owner: fmt.Sprintf("storm-%d-%s", i, newUUID()),
				TTL: r.p.TTL, Interval: 100 * time.Millisecond, Timeout: r.p.Timeout,
			})
		}
		f.Agents = []string{"storm"}
		a := startAgent(r.t, r.h, spec, "")
		r.agents = append(r.agents, a)
		return func() { a.stop(r.t); r.h.agentStopped("storm", Mono()) }
	case KillDBNode:
		f.DBImpaired, f.RecoverFromInjection = true, true
		r.galera.Active().Kill()
		f.Injected = Mono()
		// The cluster heals by itself: once the others give up on the dead
		// node, a write goes through the proxy again.
		if err := waitForWrite(r.db); err != nil {
			r.t.Errorf("the cluster did not take writes again: %v", err)
		}
		f.HealStart, f.Healed = Mono(), Mono()
		return func() {}
	}
	r.t.Fatalf("unknown fault %s", s.Kind)
	return nil
}

// lockTable locks the locks table from a session of its own until the
// returned function is called.
func (r *run) lockTable() func() {
	db, err := sql.Open(sqlDriver(r.db.Driver), r.db.DSN)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx := context.Background()
	if r.db.Driver == "postgres" {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			r.t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "LOCK TABLE locks IN ACCESS EXCLUSIVE MODE"); err != nil {
			r.t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(); err != nil {
				r.t.Error(err)
			}
			db.Close()
		}
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "LOCK TABLES locks WRITE"); err != nil {
		r.t.Fatal(err)
	}
	return func() {
		if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
			r.t.Error(err)
		}
		conn.Close()
		db.Close()
	}
}

// waitForWrite waits until a write to a table of the suite's own succeeds.
func waitForWrite(d testenv.Database) error {
	db, err := sql.Open(sqlDriver(d.Driver), d.DSN)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS lkf_probe (id INT PRIMARY KEY, n BIGINT)")
		if err == nil {
			_, err = db.ExecContext(ctx, "REPLACE INTO lkf_probe VALUES (1, 1)")
		}
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dumpHistory writes the history as JSON lines under the test's name
// (LOCKET_FAULTS_HISTORY=DIR), for looking into a finding.
func (r *run) dumpHistory() {
	dir := os.Getenv("LOCKET_FAULTS_HISTORY")
	name := strings.NewReplacer("/", "_").Replace(r.t.Name()) + ".jsonl"
	f, err := os.Create(dir + "/" + name)
	if err != nil {
		r.t.Logf("dump history: %v", err)
		return
	}
	defer f.Close()
	enc := newJSONLines(f)
	for _, op := range r.h.Ops {
		enc("op", op)
	}
	for _, m := range r.h.Marks {
		enc("mark", m)
	}
	for _, x := range r.h.Faults {
		enc("fault", x)
	}
	for _, o := range r.h.Observations {
		enc("observation", o)
	}
	r.t.Logf("history written to %s", f.Name())
}

func clientTLS(c *testenv.Certs) (*tls.Config, error) {
	return tlsconfig.Client(c.ClientCertFile, c.ClientKey, c.CAFile, testenv.ServerName, false)
}

func splitLines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
