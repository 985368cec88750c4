// Package faults is the fault suite: in the spirit of Jepsen's lock tests it
// runs several Locket clients (lock holders on shared keys, presences,
// readers, retry storms) against real servers while it injects faults
// (killed servers, a stopped or slowed database, partitioned or paused
// clients, a Galera node killed), records every request's start, end and
// outcome, and then checks the history: mutual exclusion, no lost locks,
// abandoned locks gone within TTL + 250 ms, and no collateral damage.
//
// Clients run as agent processes (the test binary started again with
// LKF_AGENT set) so that one can be paused with SIGSTOP or put behind a
// network partition in a namespace of its own. Every process stamps events
// with CLOCK_MONOTONIC, which all processes on the machine share, so the
// histories of all agents, the fault schedule and the database observer
// merge into one timeline.
//
// The same scenarios run against our server (asserted) and upstream Locket
// v1.5.0 (measured only); docs/reliability.md has the table.
package faults
