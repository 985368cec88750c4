package faults

import (
	"strings"
	"testing"
	"time"
)

// The checker on hand-made histories: each finding it must make, and the
// legitimate histories it must accept. Times are in milliseconds.

const msec = int64(time.Millisecond)

func lockOp(agent, owner, key string, start, end int64, out Outcome) Op {
	return Op{Agent: agent, Worker: owner, Kind: OpLock, Key: key, Owner: owner, Type: "lock", TTL: 3,
		Start: start * msec, End: end * msec, Outcome: out, Peer: "s1"}
}

func history(ops ...Op) *History {
	h := &History{RunStart: 0, RunEnd: 60_000 * msec}
	for i, op := range ops {
		op.ID = int64(i + 1)
		h.Ops = append(h.Ops, op)
	}
	h.Finish()
	return h
}

func observe(h *History, start int64, rows map[string]Row) {
	h.Observations = append(h.Observations, Observation{Start: start * msec, End: (start + 5) * msec, Rows: rows})
}

func check(h *History) Result { return Check(h, DefaultCheckConfig()) }

func TestCheckerMutualExclusion(t *testing.T) {
	// A renews at 1000 (certainly held until 4000); B acquires at 2000.
	r := check(history(
		lockOp("a", "A", "k", 0, 10, OK),
		lockOp("a", "A", "k", 1000, 1010, OK),
		lockOp("b", "B", "k", 2000, 2010, OK),
	))
	if r.Violations != 1 {
		t.Fatalf("violations = %d, want 1: %v", r.Violations, r.Details)
	}

	// B acquires after A's last renewal start + TTL: a legal handover.
	r = check(history(
		lockOp("a", "A", "k", 0, 10, OK),
		lockOp("a", "A", "k", 1000, 1010, OK),
		lockOp("b", "B", "k", 3500, 4010, OK), // may have been written at 4001
		lockOp("b", "B", "k", 5000, 5010, OK),
	))
	if r.Violations != 0 || r.Lost != 0 {
		t.Fatalf("legal handover judged: %+v", r)
	}

	// A releases, then B acquires at once.
	h := history(
		lockOp("a", "A", "k", 0, 10, OK),
		Op{Agent: "a", Worker: "A", Kind: OpRelease, Key: "k", Owner: "A", Start: 500 * msec, End: 510 * msec, Outcome: OK},
		lockOp("b", "B", "k", 520, 530, OK),
	)
	if r := check(h); r.Violations != 0 || r.Lost != 0 {
		t.Fatalf("release then acquire judged: %+v", r)
	}
}

func TestCheckerLost(t *testing.T) {
	base := []Op{
		lockOp("a", "A", "k", 0, 10, OK),
		lockOp("a", "A", "k", 1000, 1010, OK),
		lockOp("a", "A", "k", 2000, 2010, OK),
	}
	cases := map[string]Op{
		"fetch not found": {Agent: "r", Worker: "r", Kind: OpFetch, Key: "k", Start: 1500 * msec, End: 1510 * msec, Outcome: NotFound},
		"fetch other":     {Agent: "r", Worker: "r", Kind: OpFetch, Key: "k", Start: 1500 * msec, End: 1510 * msec, Outcome: OK, Seen: "B"},
		"own collision":   lockOp("a", "A", "k", 3000, 3010, Collision),
		"fetch all":       {Agent: "r", Worker: "r", Kind: OpFetchAll, Type: "lock", Start: 1500 * msec, End: 1510 * msec, Outcome: OK, SeenAll: map[string]string{}},
	}
	for name, op := range cases {
		t.Run(name, func(t *testing.T) {
			r := check(history(append(append([]Op(nil), base...), op)...))
			if r.Lost != 1 {
				t.Fatalf("lost = %d, want 1: %v", r.Lost, r.Details)
			}
		})
	}

	// A Fetch that may have run after the lock expired proves nothing.
	late := Op{Agent: "r", Worker: "r", Kind: OpFetch, Key: "k", Start: 4900 * msec, End: 5100 * msec, Outcome: NotFound}
	if r := check(history(append(append([]Op(nil), base...), late)...)); r.Lost != 0 {
		t.Fatalf("fetch after the certain interval counted: %v", r.Details)
	}

	// The row recreated while A certainly held it.
	h := history(base...)
	observe(h, 500, map[string]Row{"k": {Owner: "A", ModifiedID: "m1", Index: 1}})
	observe(h, 1500, map[string]Row{"k": {Owner: "A", ModifiedID: "m2", Index: 1}})
	if r := check(h); r.Lost != 1 || !strings.Contains(strings.Join(r.Details, ""), "recreated") {
		t.Fatalf("recreated row not found: %+v", r)
	}
}

func TestCheckerExpiry(t *testing.T) {
	ops := []Op{
		lockOp("a", "A", "k", 0, 10, OK),
		lockOp("a", "A", "k", 1000, 1010, OK), // last renewal: gone by 1010 + 3000 + 250
	}
	// Gone in time.
	h := history(ops...)
	for at := int64(3900); at < 4400; at += 50 {
		rows := map[string]Row{}
		if at < 4100 {
			rows["k"] = Row{Owner: "A", ModifiedID: "m1"}
		}
		observe(h, at, rows)
	}
	r := check(h)
	if r.Abandoned != 1 || r.LateExpiries != 0 || r.MaxExpiryLag < 100*time.Millisecond || r.MaxExpiryLag > 200*time.Millisecond {
		t.Fatalf("timely expiry: %+v", r)
	}
	// Still there at 4300 > 4260.
	h = history(ops...)
	observe(h, 4300, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 4400, map[string]Row{})
	if r := check(h); r.LateExpiries != 1 || r.VeryLateExpiries != 0 {
		t.Fatalf("late expiry (within the CI margin) not found: %+v", r)
	}
	h = history(ops...)
	observe(h, 4600, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 4700, map[string]Row{})
	if r := check(h); r.LateExpiries != 1 || r.VeryLateExpiries != 1 {
		t.Fatalf("late expiry beyond the CI margin not found: %+v", r)
	}
	// The same, but the observer's read due at 4000 ended at 4500 (it
	// may have failed): the machine or the database stood still for 400 ms
	// beyond the threshold, for every server. Still late, within the
	// margin stretched by that.
	h = history(ops...)
	h.readEnded(4000*msec, 4500*msec)
	observe(h, 4600, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 4700, map[string]Row{})
	if r := check(h); r.LateExpiries != 1 || r.VeryLateExpiries != 0 {
		t.Fatalf("late expiry during a measured stall judged beyond the margin: %+v", r)
	}
	// A stall before the lock was due to expire excuses nothing.
	h = history(ops...)
	h.readEnded(2000*msec, 2500*msec)
	observe(h, 4600, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 4700, map[string]Row{})
	if r := check(h); r.VeryLateExpiries != 1 {
		t.Fatalf("a stall long before the expiry excused a late one: %+v", r)
	}
	// The same, but the database was locked until 4200: allowed.
	h = history(ops...)
	h.Faults = []Fault{{Kind: SlowDatabase, DBImpaired: true, Start: 3000 * msec, Injected: 3000 * msec, HealStart: 4200 * msec, Healed: 4200 * msec}}
	observe(h, 4300, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 4400, map[string]Row{})
	if r := check(h); r.LateExpiries != 0 || r.Abandoned != 1 {
		t.Fatalf("expiry delayed by a locked table judged: %+v", r)
	}
	// The owner tried again at 2000 (failed): the row may rightly remain.
	h = history(append(ops, lockOp("a", "A", "k", 2000, 3000, Fail))...)
	observe(h, 4300, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	if r := check(h); r.LateExpiries != 0 {
		t.Fatalf("a renewal that may have taken effect judged: %+v", r)
	}
	// A partitioned owner's retry arrives after the heal (at 9000): the
	// row must be gone by then...
	cut := Fault{Kind: Partition, Agents: []string{"a"}, Start: 1900 * msec, Injected: 2100 * msec, HealStart: 9000 * msec, Healed: 9000 * msec}
	h = history(append(ops, lockOp("a", "A", "k", 2200, 3200, Fail))...)
	h.Faults = []Fault{cut}
	observe(h, 4600, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	if r := check(h); r.VeryLateExpiries != 1 {
		t.Fatalf("a renewal sent while cut off, judged as if it had arrived: %+v", r)
	}
	// ...but one sent while the cut was being made may have got through.
	h = history(append(ops, lockOp("a", "A", "k", 2000, 3000, Fail))...)
	h.Faults = []Fault{cut}
	observe(h, 4600, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	if r := check(h); r.LateExpiries != 0 {
		t.Fatalf("a renewal sent before the cut was in effect judged: %+v", r)
	}
}

func TestCheckerOutageGrace(t *testing.T) {
	// Every server is down from 1500 to 6000; A renews at 6500 after the
	// heal, within the grace (6000 + 3000). The row must have survived.
	h := history(
		lockOp("a", "A", "k", 0, 10, OK),
		lockOp("a", "A", "k", 1000, 1010, OK),
		lockOp("a", "A", "k", 2000, 3000, Fail),
		lockOp("a", "A", "k", 6500, 6510, OK),
	)
	h.Faults = []Fault{{Kind: KillServer, Outage: true, Start: 1500 * msec, Injected: 1500 * msec, HealStart: 6000 * msec, Healed: 6200 * msec}}
	observe(h, 1200, map[string]Row{"k": {Owner: "A", ModifiedID: "m1"}})
	observe(h, 7000, map[string]Row{"k": {Owner: "A", ModifiedID: "m2"}})
	if r := check(h); r.Lost != 1 || r.Violations != 0 {
		t.Fatalf("lock recreated across an outage not found: %+v", r)
	}
	h.Observations[1].Rows["k"] = Row{Owner: "A", ModifiedID: "m1"}
	if r := check(h); r.Lost != 0 {
		t.Fatalf("lock kept across an outage judged: %+v", r)
	}
}

func TestCheckerFencing(t *testing.T) {
	a1 := lockOp("a", "A", "k", 0, 10, OK)
	a1.Token = 2
	b1 := lockOp("b", "B", "k", 4000, 4010, OK)
	b1.Token = 1 // acquired later with a smaller token
	r := check(history(a1, b1))
	if !r.Fenced || r.TokenViolations != 1 {
		t.Fatalf("token order violation not found: %+v", r)
	}
	write := func(l Op, at int64) Op {
		return Op{Agent: l.Agent, Worker: l.Worker, Kind: OpWrite, Key: l.Key, Owner: l.Owner, Token: l.Token,
			AcquiredStart: l.Start, AcquiredEnd: l.End, Start: at * msec, End: at * msec, Outcome: OK}
	}
	// A, paused past its TTL, writes with its old token after B wrote; the
	// server gave B the same token, so the register accepts it.
	b1.Token = 2
	r = check(history(a1, write(a1, 20), b1, write(b1, 4020), write(a1, 5000)))
	if r.StaleWrites != 1 {
		t.Fatalf("stale write not found: %+v", r)
	}
	// With B's token larger, the register rejects A's late write.
	b1.Token = 3
	if r := check(history(a1, write(a1, 20), b1, write(b1, 4020), write(a1, 5000))); r.StaleWrites != 0 || r.TokenViolations != 0 {
		t.Fatalf("increasing tokens judged: %+v", r)
	}
}

func TestCheckerCollateral(t *testing.T) {
	h := history(
		lockOp("victim", "V", "v", 1000, 2000, Fail),
		lockOp("bystander", "B", "b", 1000, 2000, Fail),
		lockOp("victim", "V", "v", 9000, 9010, Collision),
		lockOp("bystander", "B", "b", 2100, 2110, OK),
	)
	h.Faults = []Fault{{Name: "p", Kind: Partition, Agents: []string{"victim"}, Start: 500 * msec, Injected: 500 * msec, HealStart: 8000 * msec, Healed: 8000 * msec}}
	r := check(h)
	if r.Collateral != 1 || r.Unexcused != 1 {
		t.Fatalf("collateral = %d (unexcused %d), want 1: %v", r.Collateral, r.Unexcused, r.Details)
	}
	if r.Recovery != 1010*time.Millisecond || len(r.Unrecovered) != 0 {
		t.Fatalf("recovery %s, unrecovered %v", r.Recovery, r.Unrecovered)
	}
	// A failure on the killed server is excused; one on the other is not.
	h = history(
		Op{Agent: "x", Worker: "1", Kind: OpFetch, Key: "k", Start: 1000 * msec, End: 1001 * msec, Outcome: Fail, Peer: "s1"},
		Op{Agent: "x", Worker: "2", Kind: OpFetch, Key: "k", Start: 1000 * msec, End: 1001 * msec, Outcome: Fail, Peer: "s2"},
		Op{Agent: "x", Worker: "1", Kind: OpFetch, Key: "k", Start: 1100 * msec, End: 1101 * msec, Outcome: NotFound, Peer: "s2"},
		Op{Agent: "x", Worker: "2", Kind: OpFetch, Key: "k", Start: 1100 * msec, End: 1101 * msec, Outcome: NotFound, Peer: "s2"},
	)
	h.Faults = []Fault{{Name: "k", Kind: KillServer, Servers: []string{"s1"}, RecoverFromInjection: true, Start: 900 * msec, Injected: 950 * msec, HealStart: 5000 * msec, Healed: 5500 * msec}}
	if r := check(h); r.Collateral != 1 {
		t.Fatalf("collateral = %d, want 1: %v", r.Collateral, r.Details)
	}
}

func TestFencingTokenAbsent(t *testing.T) {
	if FencingToken(nil) != 0 {
		t.Fatal("nil message has a token")
	}
}
