package faults

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// OpKind is the RPC an operation made.
type OpKind string

// The recorded RPCs.
const (
	OpLock     OpKind = "lock"
	OpRelease  OpKind = "release"
	OpFetch    OpKind = "fetch"
	OpFetchAll OpKind = "fetchall"
	// OpWrite is the fenced workload's write of a holder's token to a
	// register (no RPC: Start = End = when it was made).
	OpWrite OpKind = "write"
)

// Outcome is what the client learnt from an operation.
type Outcome string

// Outcomes. OK, Collision and NotFound are definite answers from a server;
// Fail (any other error, e.g. Unavailable or a deadline) and Unknown (no
// completion recorded: the process was stopped or the test ended) leave the
// effect open: the request may or may not have taken effect.
const (
	OK        Outcome = "ok"
	Collision Outcome = "collision"
	NotFound  Outcome = "notfound"
	Fail      Outcome = "fail"
	Unknown   Outcome = "unknown"
)

// Answered reports whether a server gave a definite answer.
func (o Outcome) Answered() bool { return o == OK || o == Collision || o == NotFound }

// Op is one request as a client saw it. Start is taken before the request is
// sent and End after the answer arrived, so the server acted somewhere in
// [Start, End].
type Op struct {
	ID      int64   `json:"id"`
	Agent   string  `json:"agent"`
	Worker  string  `json:"worker"`
	Kind    OpKind  `json:"kind"`
	Key     string  `json:"key,omitempty"`
	Owner   string  `json:"owner,omitempty"`
	Type    string  `json:"type,omitempty"` // "lock"/"presence": the Lock's type, or FetchAll's
	TTL     int64   `json:"ttl,omitempty"`  // seconds
	Start   int64   `json:"start"`          // Mono ns
	End     int64   `json:"end,omitempty"`  // Mono ns; 0 while in flight
	Outcome Outcome `json:"outcome,omitempty"`
	Code    string  `json:"code,omitempty"` // gRPC code of a failure
	Peer    string  `json:"peer,omitempty"` // server address the request went to
	// Seen is Fetch's answer (the owner; "" for not found).
	Seen string `json:"seen,omitempty"`
	// SeenAll is FetchAll's answer: key -> owner.
	SeenAll map[string]string `json:"seen_all,omitempty"`
	// Token is the fencing token of a successful Lock (0: the server sent
	// none).
	Token uint64 `json:"token,omitempty"`
	// AcquiredStart and AcquiredEnd bound, for a write, the Lock that first
	// answered Token to its writer (the acquisition).
	AcquiredStart int64 `json:"acq_start,omitempty"`
	AcquiredEnd   int64 `json:"acq_end,omitempty"`
}

// MarkKind is a declaration a worker makes about itself.
type MarkKind string

// MarkAbandon: the worker stops renewing its lock at At without releasing it.
const MarkAbandon MarkKind = "abandon"

// Mark is a worker's declaration.
type Mark struct {
	Agent  string   `json:"agent"`
	Worker string   `json:"worker"`
	Kind   MarkKind `json:"kind"`
	Key    string   `json:"key"`
	Owner  string   `json:"owner"`
	At     int64    `json:"at"`
}

// FaultKind names a fault.
type FaultKind string

// The faults.
const (
	KillServer   FaultKind = "kill-server"   // SIGKILL of some servers, restarted at heal
	StopDatabase FaultKind = "stop-database" // database server stopped, started at heal
	SlowDatabase FaultKind = "slow-database" // locks table locked, unlocked at heal
	Partition    FaultKind = "partition"     // clients cut off from the servers, healed
	Pause        FaultKind = "pause"         // client process SIGSTOPped, SIGCONTed at heal
	RetryStorm   FaultKind = "retry-storm"   // clients retrying every 100 ms on one key
	KillDBNode   FaultKind = "kill-db-node"  // one Galera node SIGKILLed (not restarted)
)

// Fault is one injected fault as the nemesis did it.
type Fault struct {
	Name string    `json:"name"`
	Kind FaultKind `json:"kind"`
	// Start: injection began; Injected: the fault is certainly in effect.
	Start, Injected int64
	// HealStart: healing began (the fault certainly lasted until then);
	// Healed: healing is done (servers/database accept connections again).
	// Both 0 for a fault that is never healed.
	HealStart, Healed int64
	// Outage: no server could serve at all (every server killed, or the
	// database stopped). Our servers then grant every lock one TTL of grace
	// from the moment service resumes.
	Outage bool
	// DBImpaired: the database could not run statements (stopped, locked or
	// a node lost), so expiry could not run either.
	DBImpaired bool
	// Agents hit by a client fault, Servers (addresses) hit by a server
	// fault; everyone else is a bystander who must see no difference.
	Agents  []string `json:"agents,omitempty"`
	Servers []string `json:"servers,omitempty"`
	// RecoverFromInjection: recovery is measured from Injected (a failover)
	// instead of Healed.
	RecoverFromInjection bool
}

// Row is one row of the locks table as the database observer saw it.
type Row struct {
	Owner      string `json:"owner"`
	ModifiedID string `json:"mid"`
	Index      int64  `json:"idx"`
}

// Observation is one read of the whole locks table straight from the
// database; it reflects some instant in [Start, End].
type Observation struct {
	Start, End int64
	Rows       map[string]Row // path -> row
}

// History is everything recorded in one run.
type History struct {
	mu           sync.Mutex
	Ops          []Op
	Marks        []Mark
	Faults       []Fault
	Observations []Observation
	// RunStart and RunEnd bound the run (Mono ns).
	RunStart, RunEnd int64
	// ObservationErrors counts failed reads of the table.
	ObservationErrors int
	// Stalls: the observer's reads (failed ones too) that ended more than
	// StallThreshold after they were due.
	Stalls []Stall
	// Stopped: agents the run ended on purpose before its end -> when.
	Stopped map[string]int64
}

func (h *History) agentStopped(agent string, at int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.Stopped == nil {
		h.Stopped = map[string]int64{}
	}
	h.Stopped[agent] = at
}

// AddFault records a fault.
func (h *History) AddFault(f Fault) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Faults = append(h.Faults, f)
}

// AddObservation records a table read.
func (h *History) AddObservation(o Observation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Observations = append(h.Observations, o)
}

func (h *History) observationFailed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ObservationErrors++
}

// StallThreshold: a read of the table normally ends a few milliseconds
// after the observer's tick; one that ends later than this measures a stall.
const StallThreshold = 100 * time.Millisecond

// Stall is a read of the table by the observer that was due (its 50 ms
// tick) at Due and ended at End, more than StallThreshold later: the
// machine or the database stood still, for every server alike.
type Stall struct {
	Due, End int64
}

func (h *History) readEnded(due, end int64) {
	if end-due <= int64(StallThreshold) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Stalls = append(h.Stalls, Stall{Due: due, End: end})
}

// event is one line an agent writes: an op (at invocation with End 0, and
// again at completion) or a mark.
type event struct {
	Op   *Op   `json:"op,omitempty"`
	Mark *Mark `json:"mark,omitempty"`
}

// Recorder writes an agent's events as JSON lines.
type Recorder struct {
	mu    sync.Mutex
	w     *bufio.Writer
	agent string
	next  int64
	err   error
}

// NewRecorder writes to w; every event is flushed at once, so that what a
// killed or stopped agent did up to then is kept.
func NewRecorder(w io.Writer, agent string) *Recorder {
	return &Recorder{w: bufio.NewWriter(w), agent: agent}
}

func (r *Recorder) write(e event) {
	b, err := json.Marshal(e)
	if err != nil {
		panic(err) // our own plain structs always encode
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	if _, err := r.w.Write(append(b, '\n')); err != nil {
		r.err = err
		return
	}
	r.err = r.w.Flush()
}

// Invoke records the start of op (stamping Start) and returns it with its id.
func (r *Recorder) Invoke(op Op) Op {
	r.mu.Lock()
	r.next++
	op.ID = r.next
	r.mu.Unlock()
	op.Agent = r.agent
	op.Start = Mono()
	r.write(event{Op: &op})
	return op
}

// Complete records the outcome of an invoked op.
func (r *Recorder) Complete(op Op) {
	if op.End == 0 {
		op.End = Mono()
	}
	r.write(event{Op: &op})
}

// Mark records a worker's declaration.
func (r *Recorder) Mark(m Mark) {
	m.Agent = r.agent
	r.write(event{Mark: &m})
}

// Err is the first write error, if any.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// newJSONLines returns a function writing {"kind": v} lines to w.
func newJSONLines(w io.Writer) func(kind string, v any) {
	enc := json.NewEncoder(w)
	return func(kind string, v any) { _ = enc.Encode(map[string]any{kind: v}) }
}

// Ingest reads an agent's event stream into h until EOF. Invocations without
// a completion stay in the history with Outcome Unknown.
func (h *History) Ingest(rd io.Reader) error {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64*1024), 8*1024*1024)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("agent event %q: %w", sc.Text(), err)
		}
		h.mu.Lock()
		switch {
		case e.Op != nil:
			h.Ops = append(h.Ops, *e.Op)
		case e.Mark != nil:
			h.Marks = append(h.Marks, *e.Mark)
		}
		h.mu.Unlock()
	}
	return sc.Err()
}

// Finish folds invocation records into their completions and sorts the
// history; ops never completed get Outcome Unknown.
func (h *History) Finish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	type id struct {
		agent string
		n     int64
	}
	byID := make(map[id]int, len(h.Ops))
	var ops []Op
	for _, op := range h.Ops {
		k := id{op.Agent, op.ID}
		i, seen := byID[k]
		switch {
		case !seen:
			byID[k] = len(ops)
			ops = append(ops, op)
		case op.End != 0:
			ops[i] = op
		}
	}
	for i := range ops {
		if ops[i].End == 0 {
			ops[i].Outcome = Unknown
		}
	}
	sort.SliceStable(ops, func(i, j int) bool { return ops[i].Start < ops[j].Start })
	sort.SliceStable(h.Marks, func(i, j int) bool { return h.Marks[i].At < h.Marks[j].At })
	sort.SliceStable(h.Observations, func(i, j int) bool { return h.Observations[i].Start < h.Observations[j].Start })
	h.Ops = ops
}
