package drill

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/locket-release/deployer/deployment"
)

// Drill is one scenario.
type Drill struct {
	N     int
	Title string
	Run   func(e *Env)
}

// All lists the drills in the order they run; each leaves the deployment
// healthy for the next.
var All = []Drill{
	{1, "one lock holder holds the lock, the other collides", Drill1LockHeld},
	{2, "monit restart of the active lock holder hands the lock over", Drill2RestartHolder},
	{3, "one presence per cell; monit restart re-registers it", Drill3Presence},
	{4, "monit stop locket on one server: clients carry on", Drill4StopServer},
	{5, "kill -9 of the active lock holder: takeover within TTL + 1 s", Drill5Kill},
	{6, "rolling upgrade: ours -> upstream v1.5.0 -> ours, canary first", Drill6Upgrade},
}

const collision = "rpc error: code = AlreadyExists desc = lock-collision"

// holders is the lock-holder side of the deployment.
type holders struct {
	key, component string
	ttl            int
	retry          time.Duration
	insts          []*deployment.Instance
	holder         *deployment.Instance // owns the lock now
	standby        *deployment.Instance
}

func (e *Env) holders() holders {
	e.T.Helper()
	insts := e.WithJob("lock-holder")
	if len(insts) != 2 {
		e.T.Fatalf("the drills need two lock-holder instances, the deployment has %d", len(insts))
	}
	cfg := e.JobConfig(insts[0], "lock-holder", "lock-holder.json")
	h := holders{key: fmt.Sprint(cfg["key"]), component: fmt.Sprint(cfg["component"]), insts: insts}
	h.ttl = int(cfg["ttl_in_seconds"].(float64))
	h.retry, _ = time.ParseDuration(fmt.Sprint(cfg["retry_interval"]))
	row := e.WaitRow(h.key, "an owner that is a lock-holder instance", 60*time.Second, func(r Row) bool {
		return byID(insts, r["owner"]) != nil
	})
	h.holder = byID(insts, row["owner"])
	for _, i := range insts {
		if i != h.holder {
			h.standby = i
		}
	}
	return h
}

func (e *Env) serverLogs() []*Log {
	var logs []*Log
	for _, inst := range e.WithJob("locket") {
		logs = append(logs, e.Log(inst, "locket"))
	}
	return logs
}

// Drill1LockHeld: the seed's "Lock locks": the first lock holder holds the
// lock; the second logs failed-to-acquire-lock naming the first as
// lock-owner; the row's owner is the first VM's instance id and its
// modified_index keeps growing.
func Drill1LockHeld(e *Env) {
	h := e.holders()
	e.say("The %s lock is held by %s; %s is the standby.", h.key, h.holder.Name(), h.standby.Name())

	holderLog := e.Log(h.holder, "lock-holder").FromStart()
	standbyLog := e.Log(h.standby, "lock-holder").FromStart()
	acquired := e.WaitFor("acquired-lock", 10*time.Second, Msg("acquired-lock", "lock.key", h.key, "lock.owner", h.holder.ID), holderLog)
	failed := e.WaitFor("failed-to-acquire-lock", 10*time.Second, Msg("failed-to-acquire-lock", "lock.key", h.key, "lock.owner", h.standby.ID), standbyLog)
	// The holder's latest acquisition and work, the standby's latest
	// collision (the processes may have restarted in earlier drills).
	acquired = last(Find(Msg("acquired-lock", "lock.key", h.key, "lock.owner", h.holder.ID), holderLog))
	failed = last(Find(Msg("failed-to-acquire-lock", "lock.key", h.key, "lock.owner", h.standby.ID), standbyLog))
	shown := []Entry{acquired}
	if work := Find(func(en Entry) bool { return en.Source == h.component && !strings.Contains(en.Message, ".locket-lock.") }, holderLog); len(work) > 0 {
		shown = append(shown, work[len(work)-1])
	}
	e.show(h.holder.Name()+"\n# lock-holder.stdout.log: it has the lock, so it is active and logs its work", shown...)
	if failed.Level != "error" || failed.Str("error") != collision || failed.Str("lock-owner") != h.holder.ID || failed.Str("request-uuid") == "" {
		e.T.Errorf("standby's failed-to-acquire-lock: want level error, error %q, lock-owner %s and a request-uuid; got %s", collision, h.holder.ID, failed.Raw)
	}
	if failed.Source != h.component || failed.Message != h.component+".locket-lock.failed-to-acquire-lock" {
		e.T.Errorf("standby's line: want source %s and message %s.locket-lock.failed-to-acquire-lock, got %s / %s", h.component, h.component, failed.Source, failed.Message)
	}
	e.show(h.standby.Name()+"\n# lock-holder.stdout.log: it does not have the lock; its last line: it tried with owner "+h.standby.ID+
		"\n# (itself) and collided with lock-owner "+h.holder.ID+" (the holder)", failed)

	var logs []*Log
	for _, l := range e.serverLogs() {
		logs = append(logs, l.FromStart())
	}
	srv := Find(Msg("acquired-lock", "key", h.key, "owner", h.holder.ID), logs...)
	if len(srv) == 0 {
		e.T.Errorf("no server line locket.lock.lock.acquired-lock for %s owner %s", h.key, h.holder.ID)
	} else {
		e.show("locket.stdout.log: the server line of that acquisition", srv[len(srv)-1])
	}

	r1 := e.Lock(h.key)
	if r1["owner"] != h.holder.ID || r1["type"] != "lock" || r1["value"] != "" || r1["ttl"] != fmt.Sprint(h.ttl) {
		e.T.Errorf("row %s: want owner %s, type lock, empty value, ttl %d; got %v", h.key, h.holder.ID, h.ttl, r1)
	}
	e.showTable(fmt.Sprintf("select path, owner, value, type, modified_index, modified_id, ttl from locket.locks where path = '%s'", h.key))
	e.sleep(h.retry*2 + 500*time.Millisecond)
	r2 := e.Lock(h.key)
	if atoi(r2["modified_index"]) <= atoi(r1["modified_index"]) || r2["modified_id"] != r1["modified_id"] || r2["owner"] != h.holder.ID {
		e.T.Errorf("renewals: modified_index should grow with the same modified_id and owner: %v then %v", r1, r2)
	}
	e.report("lock %s: owner %s, modified_index %s -> %s in %s (renewed every %s)", h.key, h.holder.ID, r1["modified_index"], r2["modified_index"], h.retry*2+500*time.Millisecond, h.retry)
}

// Drill2RestartHolder: the seed's "Changing who has locks": monit restart
// of the active lock holder releases the lock, the standby acquires it, the
// restarted one collides with the new owner, and the row changes owner.
func Drill2RestartHolder(e *Env) {
	h := e.holders()
	servers := e.serverLogs()
	holderLog, standbyLog := e.Log(h.holder, "lock-holder"), e.Log(h.standby, "lock-holder")
	before := e.Lock(h.key)
	e.say("monit restart lock-holder on %s, which holds %s.", h.holder.Name(), h.key)
	start := time.Now()
	e.Sh(h.holder, "monit restart lock-holder")

	released := e.WaitFor("released-lock", 30*time.Second, Msg("released-lock", "key", h.key, "owner", h.holder.ID, "type", "lock"), servers...)
	acquired := e.WaitFor("acquired-lock", 30*time.Second, Msg("acquired-lock", "key", h.key, "owner", h.standby.ID, "type", "lock"), servers...)
	e.show("locket.stdout.log: the restarted holder gives the lock up, the standby claims it", released, acquired)
	clientReleased := e.WaitFor("client released-lock", 5*time.Second, Msg("released-lock"), holderLog)
	standbyAcquired := e.WaitFor("standby acquired-lock", 10*time.Second, Msg("acquired-lock", "lock.owner", h.standby.ID), standbyLog)
	e.show(h.standby.Name()+"\n# lock-holder.stdout.log: it grabs the lock as soon as it is up for grabs", standbyAcquired)

	started := e.WaitFor("restarted holder's started", 30*time.Second, Msg("started", "lock.owner", h.holder.ID), holderLog)
	collided := e.WaitFor("restarted holder's failed-to-acquire-lock", 30*time.Second,
		Msg("failed-to-acquire-lock", "lock-owner", h.standby.ID, "lock.owner", h.holder.ID, "error", collision), holderLog)
	e.show(h.holder.Name()+"\n# lock-holder.stdout.log: released on SIGTERM, restarted, collides with the new owner", clientReleased, started, collided)

	after := e.WaitRow(h.key, "owner "+h.standby.ID, 10*time.Second, func(r Row) bool { return r["owner"] == h.standby.ID })
	if after["modified_id"] == before["modified_id"] {
		e.T.Errorf("a take-over after a release creates a new row (new modified_id), got the same: %v", after)
	}
	e.showTable(fmt.Sprintf("select path, owner, value, type, modified_index, modified_id, ttl from locket.locks where path = '%s'", h.key))
	for _, l := range servers {
		for _, en := range l.Entries() {
			if en.Level == "error" || en.Level == "fatal" {
				e.T.Errorf("%s: error-level server line during a normal handoff: %s", l, en.Raw)
			}
		}
	}
	e.WaitRunning(h.holder, "lock-holder")
	e.report("handoff: released-lock -> acquired-lock %s on the servers (retry interval %s); monit restart -> new owner %s",
		seconds(acquired.Time.Sub(released.Time)), h.retry, seconds(acquired.Time.Sub(start)))
}

// Drill3Presence: the seed's presence locks: one row per cell (path = the
// cell's instance id, type presence, value = the cell JSON); monit restart
// of a presence agent releases it and re-registers it with a new owner.
func Drill3Presence(e *Env) {
	cells := e.WithJob("presence-agent")
	if len(cells) == 0 {
		e.T.Fatalf("no presence-agent instances")
	}
	owners := map[string]string{}
	for _, c := range cells {
		r := e.WaitRow(c.ID, "a presence", 30*time.Second, func(r Row) bool { return r["type"] == "presence" })
		var cell struct {
			CellID     string         `json:"cell_id"`
			RepAddress string         `json:"rep_address"`
			Zone       string         `json:"zone"`
			Capacity   map[string]int `json:"capacity"`
			RepURL     string         `json:"rep_url"`
		}
		if err := json.Unmarshal([]byte(r["value"]), &cell); err != nil {
			e.T.Errorf("presence %s: value is not the cell JSON: %v (%q)", c.ID, err, r["value"])
		}
		if cell.CellID != c.ID || cell.Zone != c.AZ || cell.RepAddress == "" || cell.RepURL == "" || cell.Capacity["containers"] == 0 {
			e.T.Errorf("presence %s: want cell_id %s, zone %s, rep_address, rep_url and capacity; got %s", c.ID, c.ID, c.AZ, r["value"])
		}
		owners[c.ID] = r["owner"]
	}
	n := 0
	for _, r := range e.Locks() {
		if r["type"] == "presence" {
			n++
			if owners[r["path"]] == "" {
				e.T.Errorf("presence row %s belongs to no cell of the deployment", r["path"])
			}
		}
	}
	if n != len(cells) {
		e.T.Errorf("%d presence rows for %d cells", n, len(cells))
	}
	e.say("One presence per cell: path = the cell's instance id, value = the cell's JSON.")
	e.showTable("select path, type from locket.locks")

	cell := cells[0]
	servers := e.serverLogs()
	agentLog := e.Log(cell, "presence-agent")
	old := owners[cell.ID]
	e.say("monit restart presence-agent on %s (presence owner %s).", cell.Name(), old)
	e.Sh(cell, "monit restart presence-agent")
	released := e.WaitFor("released-lock", 30*time.Second, Msg("released-lock", "key", cell.ID, "owner", old, "type", "presence"), servers...)
	acquired := e.WaitFor("acquired-lock", 30*time.Second, func(en Entry) bool {
		return Msg("acquired-lock", "key", cell.ID, "type", "presence")(en) && en.Str("owner") != old
	}, servers...)
	e.show("locket.stdout.log: the presence is released when the agent stops, and acquired again by the new process", released, acquired)
	clientAcq := e.WaitFor("agent acquired-lock", 10*time.Second, Msg("acquired-lock", "lock.key", cell.ID, "lock.owner", acquired.Str("owner"), "lock.type", "presence"), agentLog)
	e.show(cell.Name()+"\n# presence-agent.stdout.log: it gets its presence again, with a new owner", clientAcq)
	if clientAcq.Str("lock.value") == "" {
		e.T.Errorf("the agent's acquired-lock line carries no cell JSON value: %s", clientAcq.Raw)
	}
	r := e.WaitRow(cell.ID, "the new owner", 10*time.Second, func(r Row) bool { return r["owner"] == acquired.Str("owner") })
	if r["owner"] == old {
		e.T.Errorf("presence %s kept its owner %s across a restart", cell.ID, old)
	}
	for _, c := range cells[1:] {
		if got := e.Lock(c.ID); got == nil || got["owner"] != owners[c.ID] {
			e.T.Errorf("presence of %s changed while another cell restarted: %v", c.ID, got)
		}
	}
	e.showTable("select path, owner, type from locket.locks where type = 'presence'")
	e.WaitRunning(cell, "presence-agent")
	e.report("presence %s: released -> re-registered in %s, owner %s -> %s", cell.ID, seconds(acquired.Time.Sub(released.Time)), old, r["owner"])
}

func last(entries []Entry) Entry { return entries[len(entries)-1] }

func atoi(s string) int {
	var n int
	fmt.Sscan(strings.TrimSpace(s), &n)
	return n
}
