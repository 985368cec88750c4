package faults

import (
	"fmt"
	"sort"
	"time"
)

// CheckConfig holds the bounds the checker judges a history by.
type CheckConfig struct {
	// ExpirySlack: an abandoned lock must be gone within TTL + ExpirySlack
	// of its last successful renewal (250 ms in our contract).
	ExpirySlack time.Duration
	// GraceTrigger: an outage at least this long means no server was serving,
	// so every lock alive when it began gets one TTL of grace from the moment
	// service resumes (our servers look for a heartbeat newer than 2 s).
	GraceTrigger time.Duration
	// ExpiryMargin is added to ExpirySlack for the assertion only: an
	// expiry later than TTL + ExpirySlack is counted in LateExpiries (the
	// contract's measure), one later than TTL + ExpirySlack + ExpiryMargin
	// also in VeryLateExpiries (what fails the test). It absorbs the
	// scheduling noise of a small shared CI machine.
	ExpiryMargin time.Duration
	// ResumeSlack: how long after a fault is healed (database accepting
	// connections, servers listening) service may take to resume.
	ResumeSlack time.Duration
	// FaultTail: failures up to this long after a fault is healed are still
	// the fault's (clients reconnect with backoff).
	FaultTail time.Duration
	// MaxDetails bounds how many findings are kept as text.
	MaxDetails int
}

// DefaultCheckConfig is our contract's bounds.
func DefaultCheckConfig() CheckConfig {
	return CheckConfig{
		ExpirySlack:  250 * time.Millisecond,
		ExpiryMargin: 250 * time.Millisecond,
		GraceTrigger: 2500 * time.Millisecond,
		ResumeSlack:  time.Second,
		FaultTail:    2 * time.Second,
		MaxDetails:   20,
	}
}

// Result is the verdict on one history.
type Result struct {
	Ops      int // recorded requests
	Answered int // with a definite answer (ok, collision, not found)
	Failed   int // failed or never completed

	// Violations: pairs of tenures of two owners on one key that were both
	// certainly held at some moment (mutual exclusion).
	Violations int
	// Lost: tenures (a lock or presence whose renewals kept succeeding) with
	// evidence that the lock was gone or owned by another while certainly
	// held: a reader or the database showing it missing or owned by another,
	// the owner's own Lock answered lock-collision, another owner's Lock
	// succeeding, or the row recreated (modified_id changed).
	Lost int
	// Tenures: how many certainly-held tenures the checks covered.
	Tenures int

	// Abandoned: tenures whose owner stopped renewing (killed, paused,
	// partitioned, or on purpose) and whose expiry could be observed.
	Abandoned int
	// LateExpiries: abandoned locks still present after TTL + ExpirySlack
	// (plus fault allowances) of their last successful renewal.
	LateExpiries int
	// VeryLateExpiries: of those, the ones later than the CI margin allows.
	VeryLateExpiries int
	// MaxExpiryLag bounds from above how long after TTL the slowest
	// abandoned lock (not delayed by a fault) disappeared; -1 when none was
	// measured.
	MaxExpiryLag time.Duration

	// Fenced: the server sent fencing tokens, so the fenced checks ran.
	Fenced bool
	// StaleWrites: writes a fenced register (accept iff token >= stored)
	// accepted from an owner whose tenure a later owner's had superseded.
	StaleWrites int
	// TokenViolations: tokens shared by two owners' tenures, changing within
	// one tenure, or not increasing with the real-time order of
	// acquisitions.
	TokenViolations int

	// Collateral: failed requests of bystanders (clients and servers a
	// fault did not hit) while a client or server fault was active.
	Collateral int
	// Unexcused: failed requests no active fault explains (includes
	// Collateral).
	Unexcused int
	// Recovery: the longest time from a fault's heal (or, for a failover,
	// its injection) until every client it hit had an answer again.
	Recovery time.Duration
	// RecoveryNote says whose recovery took longest.
	RecoveryNote string
	// Unrecovered lists clients that never got an answer again.
	Unrecovered []string

	// Renewal latency (Lock answers) of the clients no fault hit, before
	// the first fault and while client faults (storms, partitions, pauses)
	// were active: what "must not slow renewals of other keys" is about.
	BaselineP50, BaselineP99     time.Duration
	UnderFaultP50, UnderFaultP99 time.Duration

	Details []string
}

// OK reports whether the history satisfies our contract.
func (r Result) OK() bool {
	return r.Violations == 0 && r.Lost == 0 && r.VeryLateExpiries == 0 && r.StaleWrites == 0 &&
		r.TokenViolations == 0 && r.Collateral == 0 && len(r.Unrecovered) == 0
}

func (r *Result) detail(c CheckConfig, format string, args ...any) {
	if len(r.Details) < c.MaxDetails {
		r.Details = append(r.Details, fmt.Sprintf(format, args...))
	}
}

type ownerKey struct{ key, owner string }

// tenure is a maximal time span in which an owner certainly held a key.
type tenure struct {
	key, owner, typ string
	agent, worker   string
	start, end      int64 // certainly held throughout [start, end]
	first, last     Op    // first and last successful Lock in it (last: latest Start)
	released        bool  // ended by a Release attempt
	locks           []Op
}

// certain returns the interval in which a successful Lock certainly made its
// owner hold the key: from the answer (the write happened before it) to the
// request's start + TTL (the write happened after it, and the lock lives a
// TTL from the write).
func certain(op Op) (int64, int64) {
	return op.End, op.Start + op.TTL*int64(time.Second)
}

// Check judges a finished history.
func Check(h *History, c CheckConfig) Result {
	r := Result{MaxExpiryLag: -1}
	idx := newIndex(h)
	for _, op := range h.Ops {
		r.Ops++
		if op.Outcome.Answered() {
			r.Answered++
		} else {
			r.Failed++
		}
	}

	base := idx.tenures()
	r.Tenures = len(base)
	checkMutualExclusion(&r, c, base)
	checkLost(&r, c, idx, extendForOutages(c, idx, base))
	checkExpiry(&r, c, idx, base)
	checkFencing(&r, c, idx, base)
	checkFaultImpact(&r, c, idx)
	measureLatency(&r, h)
	return r
}

// measureLatency compares bystanders' Lock latencies before any fault with
// those during client faults.
func measureLatency(r *Result, h *History) {
	first := h.RunEnd
	for _, f := range h.Faults {
		first = min(first, f.Start)
	}
	var before, during []time.Duration
	for _, op := range h.Ops {
		if op.Kind != OpLock || !op.Outcome.Answered() || op.Start < h.RunStart+int64(time.Second) {
			continue
		}
		d := time.Duration(op.End - op.Start)
		if op.End < first {
			before = append(before, d)
			continue
		}
		hit, inClientFault := false, false
		for _, f := range h.Faults {
			switch f.Kind {
			case Partition, Pause, RetryStorm:
			default:
				continue
			}
			if op.Start < f.Injected || op.End > f.HealStart {
				continue
			}
			inClientFault = true
			for _, a := range f.Agents {
				hit = hit || a == op.Agent
			}
		}
		if inClientFault && !hit && !duringOtherFault(h, op) {
			during = append(during, d)
		}
	}
	r.BaselineP50, r.BaselineP99 = percentile(before, 50), percentile(before, 99)
	r.UnderFaultP50, r.UnderFaultP99 = percentile(during, 50), percentile(during, 99)
}

// duringOtherFault: op overlaps a server or database fault.
func duringOtherFault(h *History, op Op) bool {
	for _, f := range h.Faults {
		switch f.Kind {
		case Partition, Pause, RetryStorm:
			continue
		}
		end := f.Healed
		if end == 0 {
			end = h.RunEnd
		}
		if op.End >= f.Start && op.Start <= end {
			return true
		}
	}
	return false
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[min(len(ds)-1, len(ds)*p/100)]
}

// index groups a history's operations for the checks.
type index struct {
	h        *History
	locks    map[ownerKey][]Op // successful Locks by key+owner
	attempts map[ownerKey][]Op // every Lock and Release by key+owner
	releases map[ownerKey][]Op // every Release attempt by key+owner
	byKey    map[string][]Op   // Lock and Fetch ops by key
	fetchAll []Op              // answered FetchAlls
	marks    map[ownerKey]Mark
}

func newIndex(h *History) *index {
	x := &index{
		h:        h,
		locks:    map[ownerKey][]Op{},
		attempts: map[ownerKey][]Op{},
		releases: map[ownerKey][]Op{},
		byKey:    map[string][]Op{},
		marks:    map[ownerKey]Mark{},
	}
	for _, op := range h.Ops { // sorted by Start
		k := ownerKey{op.Key, op.Owner}
		switch op.Kind {
		case OpLock:
			x.attempts[k] = append(x.attempts[k], op)
			x.byKey[op.Key] = append(x.byKey[op.Key], op)
			if op.Outcome == OK {
				x.locks[k] = append(x.locks[k], op)
			}
		case OpRelease:
			x.attempts[k] = append(x.attempts[k], op)
			x.releases[k] = append(x.releases[k], op)
		case OpFetch:
			x.byKey[op.Key] = append(x.byKey[op.Key], op)
		case OpFetchAll:
			if op.Outcome == OK {
				x.fetchAll = append(x.fetchAll, op)
			}
		}
	}
	for _, m := range h.Marks {
		x.marks[ownerKey{m.Key, m.Owner}] = m
	}
	return x
}

// tenures merges each owner's certain intervals into tenures. A Release
// attempt (whatever its outcome: it may have taken effect) ends the
// certainty at its start.
func (x *index) tenures() []*tenure {
	var out []*tenure
	keys := make([]ownerKey, 0, len(x.locks))
	for k := range x.locks {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].key != keys[j].key {
			return keys[i].key < keys[j].key
		}
		return keys[i].owner < keys[j].owner
	})
	for _, k := range keys {
		rels := x.releases[k]
		var cur *tenure
		for _, op := range x.locks[k] {
			start, end := certain(op)
			released := false
			for _, rel := range rels {
				if rel.Start >= op.Start {
					if rel.Start < end {
						end, released = rel.Start, true
					}
					break
				}
			}
			if end <= start {
				continue
			}
			if cur != nil && start <= cur.end && !cur.released {
				if end > cur.end {
					cur.end, cur.released = end, released
				}
				cur.last = op
				cur.locks = append(cur.locks, op)
				continue
			}
			cur = &tenure{
				key: k.key, owner: k.owner, typ: op.Type, agent: op.Agent, worker: op.Worker,
				start: start, end: end, first: op, last: op, released: released, locks: []Op{op},
			}
			out = append(out, cur)
		}
	}
	return out
}

func checkMutualExclusion(r *Result, c CheckConfig, ts []*tenure) {
	byKey := map[string][]*tenure{}
	for _, t := range ts {
		byKey[t.key] = append(byKey[t.key], t)
	}
	for key, list := range byKey {
		sort.Slice(list, func(i, j int) bool { return list[i].start < list[j].start })
		for i, a := range list {
			for _, b := range list[i+1:] {
				if b.start >= a.end {
					break
				}
				if a.owner == b.owner {
					continue
				}
				r.Violations++
				r.detail(c, "mutual exclusion: key %q held by %s (%s) and %s (%s) at once for %s",
					key, a.owner, a.worker, b.owner, b.worker, ms(min(a.end, b.end)-b.start))
			}
		}
	}
}

// extendForOutages joins an owner's tenures across an outage: a lock alive
// when the outage began lives, by our contract, one TTL from the moment
// service resumes (no earlier than HealStart). The bridge is kept only when
// the owner's next successful Lock started within it, i.e. the owner did
// renew in time; it is used to look for lost locks, never for mutual
// exclusion.
func extendForOutages(c CheckConfig, x *index, base []*tenure) []*tenure {
	byOwner := map[ownerKey][]*tenure{}
	var order []ownerKey
	for _, t := range base {
		k := ownerKey{t.key, t.owner}
		if _, ok := byOwner[k]; !ok {
			order = append(order, k)
		}
		cp := *t
		cp.locks = append([]Op(nil), t.locks...)
		byOwner[k] = append(byOwner[k], &cp)
	}
	var out []*tenure
	for _, k := range order {
		list := byOwner[k]
		merged := []*tenure{list[0]}
		for _, next := range list[1:] {
			cur := merged[len(merged)-1]
			if bridge := graceEnd(c, x, cur); !cur.released && bridge > cur.end && next.first.Start <= bridge && next.start <= bridge {
				if !releasedBetween(x.releases[k], cur.end, next.start) {
					cur.end = max(cur.end, next.end)
					cur.last, cur.released = next.last, next.released
					cur.locks = append(cur.locks, next.locks...)
					continue
				}
			}
			merged = append(merged, next)
		}
		out = append(out, merged...)
	}
	return out
}

// graceEnd is how long the outage grace keeps t's lock alive (0: none).
func graceEnd(c CheckConfig, x *index, t *tenure) int64 {
	var end int64
	for _, f := range x.h.Faults {
		if !f.Outage || f.HealStart == 0 || time.Duration(f.HealStart-f.Injected) < c.GraceTrigger {
			continue
		}
		if t.start <= f.Injected && t.end >= f.Injected {
			end = max(end, f.HealStart+t.last.TTL*int64(time.Second))
		}
	}
	return end
}

func releasedBetween(rels []Op, from, to int64) bool {
	for _, r := range rels {
		if r.Start >= from && r.Start <= to {
			return true
		}
	}
	return false
}

// within reports whether [s, e] lies inside t.
func within(t *tenure, s, e int64) bool { return s >= t.start && e <= t.end }

func checkLost(r *Result, c CheckConfig, x *index, ts []*tenure) {
	obs := x.h.Observations
	for _, t := range ts {
		var evidence string
		for _, op := range x.byKey[t.key] {
			if op.Start > t.end {
				break
			}
			if !within(t, op.Start, op.End) {
				continue
			}
			switch {
			case op.Kind == OpFetch && (op.Outcome == OK || op.Outcome == NotFound) && op.Seen != t.owner:
				evidence = fmt.Sprintf("Fetch by %s answered owner %q", op.Worker, op.Seen)
			case op.Kind == OpLock && op.Owner == t.owner && op.Outcome == Collision:
				evidence = "the owner's own Lock answered lock-collision"
			case op.Kind == OpLock && op.Owner != t.owner && op.Outcome == OK:
				evidence = fmt.Sprintf("%s (%s) acquired it", op.Owner, op.Worker)
			}
			if evidence != "" {
				break
			}
		}
		if evidence == "" {
			for _, op := range x.fetchAll {
				if op.Type != t.typ || !within(t, op.Start, op.End) {
					continue
				}
				if owner := op.SeenAll[t.key]; owner != t.owner {
					evidence = fmt.Sprintf("FetchAll by %s answered owner %q", op.Worker, owner)
					break
				}
			}
		}
		if evidence == "" {
			i := sort.Search(len(obs), func(i int) bool { return obs[i].Start >= t.start })
			mid := ""
			for ; i < len(obs) && obs[i].Start <= t.end; i++ {
				o := obs[i]
				if o.End > t.end {
					continue
				}
				row, ok := o.Rows[t.key]
				if !ok || row.Owner != t.owner {
					evidence = fmt.Sprintf("the table showed owner %q", row.Owner)
					break
				}
				if mid != "" && row.ModifiedID != mid {
					evidence = fmt.Sprintf("the row was recreated (modified_id %s -> %s)", mid, row.ModifiedID)
					break
				}
				mid = row.ModifiedID
			}
		}
		if evidence != "" {
			r.Lost++
			r.detail(c, "lost: %s %q of %s (%s), certainly held for %s from %s: %s",
				t.typ, t.key, t.owner, t.worker, ms(t.end-t.start), ms(t.start-x.h.RunStart), evidence)
		}
	}
}

// stalled is how much longer than StallThreshold the observer's stalled
// reads that overlap [from, to] took.
func stalled(stalls []Stall, from, to int64) int64 {
	var total int64
	for _, s := range stalls {
		if s.End >= from && s.Due <= to {
			total += s.End - s.Due - int64(StallThreshold)
		}
	}
	return total
}

// checkExpiry looks at tenures that ended because their owner stopped
// renewing (not by a release): the lock must be gone within TTL +
// ExpirySlack of the last successful renewal, unless a fault kept the
// database or every server from expiring it.
func checkExpiry(r *Result, c CheckConfig, x *index, ts []*tenure) {
	obs := x.h.Observations
	for _, t := range ts {
		if t.released {
			continue
		}
		k := ownerKey{t.key, t.owner}
		last := t.last
		ttl := last.TTL * int64(time.Second)
		deadline := last.End + ttl + int64(c.ExpirySlack)
		adjusted := false
		for _, f := range x.h.Faults {
			healed := f.Healed
			if healed == 0 {
				healed = x.h.RunEnd
			}
			if f.Start > deadline || healed < last.Start {
				continue
			}
			switch {
			case f.Outage || f.Kind == KillDBNode:
				// Every server lost the database (a Galera failover stalls
				// writes for seconds): our servers grant grace when they get
				// it back and find no recent heartbeat.
				deadline = max(deadline, healed+ttl+int64(c.ExpirySlack+c.ResumeSlack))
				adjusted = true
			case f.DBImpaired:
				deadline = max(deadline, healed+int64(c.ExpirySlack+c.ResumeSlack))
				adjusted = true
			}
		}
		// The owner's next attempt may take effect and rightly keep (or
		// recreate) the row: the check ends there. A request sent while the
		// owner was partitioned can only arrive after the heal.
		horizon := x.h.RunEnd
		for _, op := range x.attempts[k] {
			if op.Start <= last.Start {
				continue
			}
			horizon = effectiveStart(x.h, op)
			break
		}
		if horizon <= deadline {
			continue
		}
		gone := int64(0) // end of the first observation showing it gone
		late := ""
		var lateAt int64 // when it was still seen
		for i := sort.Search(len(obs), func(i int) bool { return obs[i].Start >= last.Start }); i < len(obs); i++ {
			o := obs[i]
			if o.End >= horizon {
				break
			}
			row, ok := o.Rows[t.key]
			held := ok && row.Owner == t.owner
			if held && o.Start > deadline {
				late = fmt.Sprintf("the table still showed it %s after the last renewal's answer", ms(o.Start-last.End))
				lateAt = o.Start
			}
			if !held && o.Start >= last.Start+ttl && gone == 0 {
				gone = o.End
			}
		}
		if late == "" {
			for _, op := range x.byKey[t.key] {
				if op.Kind == OpFetch && op.Outcome == OK && op.Seen == t.owner && op.Start > deadline && op.End < horizon {
					late = fmt.Sprintf("Fetch by %s still answered it %s after the last renewal's answer", op.Worker, ms(op.Start-last.End))
					lateAt = max(lateAt, op.Start)
				}
			}
		}
		if gone == 0 && late == "" {
			continue // not observed after it expired (the run ended first)
		}
		r.Abandoned++
		if late != "" {
			r.LateExpiries++
			// The CI margin stretches by the stalls the observer measured
			// meanwhile: the machine or the database stood still for every
			// server alike.
			stall := stalled(x.h.Stalls, last.End+ttl, lateAt)
			if lateAt > deadline+int64(c.ExpiryMargin)+stall {
				r.VeryLateExpiries++
			}
			if stall > 0 {
				late += fmt.Sprintf(" (the observer stalled %s meanwhile)", ms(stall))
			}
			r.detail(c, "late expiry: %s %q of %s (%s), TTL %d s: %s", t.typ, t.key, t.owner, t.worker, last.TTL, late)
			continue
		}
		if !adjusted {
			lag := time.Duration(gone - (last.Start + ttl))
			if lag > r.MaxExpiryLag {
				r.MaxExpiryLag = lag
			}
		}
	}
}

// effectiveStart is the earliest moment op can have taken effect. A request
// its client sent while cut off arrives after the heal; one sent before the
// cut was certainly in effect (Injected: installing the routes takes time)
// may have got through at once, its answer lost.
func effectiveStart(h *History, op Op) int64 {
	at := op.Start
	for _, f := range h.Faults {
		if f.Kind != Partition || f.HealStart == 0 || op.Start < f.Injected || op.Start > f.HealStart {
			continue
		}
		for _, a := range f.Agents {
			if a == op.Agent {
				at = max(at, f.HealStart)
			}
		}
	}
	return at
}

// checkFencing runs when the server sends fencing tokens (a fencing_token
// field on LockResponse). It checks the tokens themselves and replays every
// successful Lock as a write to a fenced register that accepts a write iff
// its token is at least the stored one.
func checkFencing(r *Result, c CheckConfig, x *index, ts []*tenure) {
	for _, op := range x.h.Ops {
		if op.Kind == OpLock && op.Outcome == OK && op.Token != 0 {
			r.Fenced = true
			break
		}
	}
	if !r.Fenced {
		return
	}
	byKey := map[string][]*tenure{}
	for _, t := range ts {
		if t.typ != "lock" {
			continue
		}
		for _, op := range t.locks {
			if op.Token != t.first.Token {
				r.TokenViolations++
				r.detail(c, "fencing: %q of %s changed token %d -> %d within one tenure", t.key, t.owner, t.first.Token, op.Token)
				break
			}
		}
		byKey[t.key] = append(byKey[t.key], t)
	}
	for key, list := range byKey {
		sort.Slice(list, func(i, j int) bool { return list[i].first.Start < list[j].first.Start })
		for i, a := range list {
			for _, b := range list[i+1:] {
				if a.owner == b.owner {
					continue
				}
				if a.first.Token == b.first.Token {
					r.TokenViolations++
					r.detail(c, "fencing: %q tenures of %s and %s share token %d", key, a.owner, b.owner, a.first.Token)
				} else if a.first.End < b.first.Start && a.first.Token > b.first.Token {
					r.TokenViolations++
					r.detail(c, "fencing: %q acquired by %s (token %d) before %s (token %d)", key, a.owner, a.first.Token, b.owner, b.first.Token)
				}
			}
		}
	}
	checkStaleWrites(r, c, x)
}

// checkStaleWrites replays the fenced workload's writes, in the order they
// were made, against a register that accepts a write iff its token is at
// least the stored one. A write is stale when the register accepts it after
// a write of another owner whose acquisition began after the writer's own
// acquisition was answered: the register then holds an older tenure's data
// over a newer one's.
func checkStaleWrites(r *Result, c CheckConfig, x *index) {
	byKey := map[string][]Op{}
	for _, op := range x.h.Ops {
		if op.Kind == OpWrite && op.Token != 0 {
			byKey[op.Key] = append(byKey[op.Key], op)
		}
	}
	for key, ws := range byKey {
		sort.SliceStable(ws, func(i, j int) bool { return ws[i].Start < ws[j].Start })
		var stored uint64
		var accepted []Op
		for _, w := range ws {
			if w.Token < stored {
				continue
			}
			stored = w.Token
			for _, prev := range accepted {
				if prev.Owner != w.Owner && prev.AcquiredStart > w.AcquiredEnd {
					r.StaleWrites++
					r.detail(c, "fencing: stale write to %q by %s (token %d) accepted after %s's (token %d), who acquired later",
						key, w.Owner, w.Token, prev.Owner, prev.Token)
					break
				}
			}
			accepted = append(accepted, w)
		}
	}
}

// excuses reports whether fault f explains a failure of op (made while f
// was active; peer is the server it went to, or the worker's last one):
// f hit op's client, or op's server, or every client (the database, an
// outage).
func excuses(f Fault, op Op, peer string) bool {
	switch f.Kind {
	case Partition, Pause, RetryStorm:
		for _, a := range f.Agents {
			if a == op.Agent {
				return true
			}
		}
		return false
	case KillServer:
		if f.Outage {
			return true
		}
		for _, s := range f.Servers {
			if s == peer || s == op.Peer {
				return true
			}
		}
		return false
	}
	return true // the database: every client is hit
}

func isClientFault(f Fault) bool {
	return f.Kind == Partition || f.Kind == Pause || f.Kind == RetryStorm
}

// hitByClientFault: op's own client was partitioned, paused or storming;
// its failures are that fault's, not a concurrent server fault's.
func hitByClientFault(h *History, op Op, tail int64) bool {
	for _, f := range h.Faults {
		if isClientFault(f) && active(f, op, h.RunEnd, tail) && excuses(f, op, op.Peer) {
			return true
		}
	}
	return false
}

// active reports whether op overlaps f's time (with tail after the heal,
// for clients reconnecting; a killed server's clients fail over to the other
// one at once, and its restart is no fault).
func active(f Fault, op Op, runEnd, tail int64) bool {
	end := f.Healed
	if end == 0 {
		end = runEnd
	}
	if f.Kind == KillServer && !f.Outage {
		tail = 0
	}
	return op.End >= f.Start && op.Start <= end+tail
}

// checkFaultImpact counts failures no fault explains (and, of those, the
// ones during a client or server fault: collateral damage), and measures
// recovery: for each fault, from its heal (or, for a failover, its
// injection) until every client whose failures it explains has an answer
// again.
func checkFaultImpact(r *Result, c CheckConfig, x *index) {
	tail := int64(c.FaultTail)
	lastPeer := map[string]string{} // worker -> server of its last answer
	peers := make([]string, len(x.h.Ops))
	for i, op := range x.h.Ops {
		w := op.Agent + "/" + op.Worker
		peers[i] = op.Peer
		if peers[i] == "" {
			peers[i] = lastPeer[w]
		}
		if op.Outcome.Answered() {
			lastPeer[w] = op.Peer
		}
		// Unknown: cut off in flight when its agent was stopped, neither
		// answered nor failed.
		if op.Outcome != Fail {
			continue
		}
		excused, duringFault := false, false
		for _, f := range x.h.Faults {
			if !active(f, op, x.h.RunEnd, tail) {
				continue
			}
			switch f.Kind {
			case Partition, Pause, RetryStorm, KillServer:
				duringFault = true
			}
			if excuses(f, op, peers[i]) {
				excused = true
			}
		}
		if excused {
			continue
		}
		r.Unexcused++
		if duringFault {
			r.Collateral++
			r.detail(c, "collateral: %s %s %q by %s failed (%s) at %s via %q", op.Kind, op.Type, op.Key, w, op.Code, ms(op.Start-x.h.RunStart), peers[i])
		} else {
			r.detail(c, "unexcused: %s %s %q by %s failed (%s) at %s via %q", op.Kind, op.Type, op.Key, w, op.Code, ms(op.Start-x.h.RunStart), peers[i])
		}
	}

	byWorker := map[string][]int{}
	var workers []string
	for i, op := range x.h.Ops {
		w := op.Agent + "/" + op.Worker
		if _, ok := byWorker[w]; !ok {
			workers = append(workers, w)
		}
		byWorker[w] = append(byWorker[w], i)
	}
	for _, f := range x.h.Faults {
		ref := f.Healed
		if f.RecoverFromInjection {
			ref = f.Injected
		}
		if ref == 0 {
			continue
		}
		for _, w := range workers {
			list := byWorker[w]
			lastFail := int64(-1)
			for _, i := range list {
				op := x.h.Ops[i]
				if op.Outcome == Fail && active(f, op, x.h.RunEnd, tail) && excuses(f, op, peers[i]) &&
					(isClientFault(f) || !hitByClientFault(x.h, op, tail)) {
					lastFail = op.Start
				}
			}
			if lastFail < 0 {
				continue
			}
			recovered := false
			for _, i := range list {
				op := x.h.Ops[i]
				if op.Start > lastFail && op.Outcome.Answered() {
					if d := time.Duration(op.End - ref); d > r.Recovery {
						r.Recovery = d
						r.RecoveryNote = fmt.Sprintf("%s after %s (last failure at %s)", w, f.Name, ms(lastFail-x.h.RunStart))
					}
					recovered = true
					break
				}
			}
			ops := make([]Op, 0, len(list))
			for _, i := range list {
				ops = append(ops, x.h.Ops[i])
			}
			_, stopped := x.h.Stopped[ops[0].Agent]
			if !recovered && !stopped && !abandoned(x, ops) {
				r.Unrecovered = append(r.Unrecovered, fmt.Sprintf("%s after %s", w, f.Name))
			}
		}
	}
	sort.Strings(r.Unrecovered)
}

// abandoned reports whether the worker of ops stopped on purpose.
func abandoned(x *index, ops []Op) bool {
	for _, op := range ops {
		if m, ok := x.marks[ownerKey{op.Key, op.Owner}]; ok && m.Worker == op.Worker {
			return true
		}
	}
	return false
}
