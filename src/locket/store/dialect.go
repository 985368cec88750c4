package store

import (
	"database/sql"
	"fmt"
	"strings"
)

// dialect holds what differs between the databases: the SQL expression for
// "now" on the database clock and the placeholder style.
type dialect struct {
	name string
	// now is microseconds since the epoch on the database's clock: the one
	// clock every server agrees on (see docs/architecture.md).
	now string
	// written is the same clock read when the row is written, after any
	// wait for a row or table lock. A renewal's deadline counts from it: a
	// renewal that waited behind a newer one must not move the deadline the
	// newer one set backwards (now is the statement's start).
	written string
	// clockJoin and clock read now once per statement in a read of many
	// rows: clockJoin follows "FROM locks", and clock is now for the rows'
	// expressions. Computed per row, the clock cost more than the rest of a
	// 10,000-row FetchAll. MySQL and SQLite take it from a one-row derived
	// table; Postgres folds such a table into the scan and computes it per
	// row again, but runs a scalar subquery once (an InitPlan).
	clockJoin, clock string
	// greatest and least are the two-argument maximum and minimum.
	greatest, least string
	// txOptions of the rare multi-statement transactions (acquisition,
	// release, expiry). READ COMMITTED on MySQL/MariaDB: no gap locks, so
	// concurrent acquisitions of different keys do not deadlock each other.
	txOptions *sql.TxOptions
	dollar    bool // $1, $2... placeholders
	mysql     bool // INSERT ... ON DUPLICATE KEY UPDATE instead of ON CONFLICT
}

var (
	mysqlDialect = dialect{
		name: "mysql",
		// NOW(6) is the statement's start time. The session time zone is
		// set to UTC on connect (see openMySQL), so the conversion is exact.
		now:       "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)",
		written:   "CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED)",
		clockJoin: derivedClock,
		clock:     "db_clock.now_us",
		greatest:  "GREATEST",
		least:     "LEAST",
		txOptions: &sql.TxOptions{Isolation: sql.LevelReadCommitted},
		mysql:     true,
	}
	postgresDialect = dialect{
		name: "postgres",
		// statement_timestamp(), not clock_timestamp(): it is stable within
		// the statement, so the sweep's "expires_at <= now" is an index range
		// scan (a volatile clock_timestamp() makes it a sequential scan).
		now:      "CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)",
		written:  "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
		clock:    "(SELECT {now})",
		greatest: "GREATEST",
		least:    "LEAST",
		dollar:   true,
	}
	sqliteDialect = dialect{
		name:      "sqlite",
		now:       "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
		written:   "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
		clockJoin: derivedClock,
		clock:     "db_clock.now_us",
		greatest:  "MAX",
		least:     "MIN",
	}
)

// derivedClock is clockJoin where a one-row derived table is computed once.
const derivedClock = "CROSS JOIN (SELECT {now} AS now_us) db_clock"

// sql expands {clockJoin}, {clock}, {now} and the like and turns ? into $n
// where needed. It runs
// once per statement per Store (see newQueries), not per call.
func (d dialect) sql(q string) string {
	q = strings.ReplaceAll(q, "{clockJoin}", d.clockJoin)
	q = strings.ReplaceAll(q, "{clock}", d.clock)
	q = strings.ReplaceAll(q, "{now}", d.now)
	q = strings.ReplaceAll(q, "{written}", d.written)
	q = strings.ReplaceAll(q, "{greatest}", d.greatest)
	q = strings.ReplaceAll(q, "{least}", d.least)
	q = strings.Join(strings.Fields(q), " ")
	if !d.dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lockColumns are read back by Fetch, FetchAll, Release and the sweep, with
// NULLs (never written by upstream or us, but allowed by the schema) as zero.
// clock is the database's "now" for the expires-in column.
func lockColumns(clock string) string {
	return `path, COALESCE(owner, ''), COALESCE(value, ''), COALESCE(type, ''),
	COALESCE(ttl, 0), COALESCE(modified_index, 0), COALESCE(modified_id, ''),
	COALESCE(fencing_token, 0), COALESCE(acquired_at, 0), COALESCE(acquired_by, ''), COALESCE(expires_at - ` + clock + `, 0)`
}

// fetchAllColumns are what FetchAll answers with: the fields of a Resource.
// Reading only these cut a 10,000-row read from 13.8 to 8.7 ms on MariaDB
// (BenchmarkFetchAll). NULLs come through as such (EachLock reads them as
// empty or zero): COALESCE per column cost Postgres a tenth of the read.
const fetchAllColumns = `path, owner, value, type, fencing_token, acquired_at, expires_at - {clock}`

// selectLocks reads lockColumns with now read once per statement.
var selectLocks = `SELECT ` + lockColumns("{clock}") + ` FROM locks {clockJoin}`

// eventColumns are read back by History and the change feed (scanEvent).
const eventColumns = `id, at, event, path, type, owner, previous_owner, value, fencing_token, server, request_id, identity`

// upsertSQL is the one-statement acquire or renew of Postgres and SQLite
// over n rows (9 arguments each: key, owner, value, type, a fresh GUID as
// modified_id, ttl three times, the identity to bind), followed by
// returning. A row whose key exists is renewed only if it is the caller's.
func upsertSQL(n int, returning string) string {
	const row = `(?, ?, ?, ?, 1, ?, CAST(? AS BIGINT), {now} + CAST(? AS BIGINT) * 1000000,
		{now} + CAST(? AS BIGINT) * 1000000, 1, ?, {now})`
	return `INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl, expires_at, sweep_at,
		expires_index, acquired_by, acquired_at)
		VALUES ` + row + strings.Repeat(", "+row, n-1) + `
		ON CONFLICT (path) DO UPDATE SET
		value = excluded.value, type = excluded.type, ttl = excluded.ttl,
		expires_at = {written} + excluded.ttl * 1000000,
		sweep_at = {least}(locks.sweep_at, {now} + excluded.ttl * 1000000),
		modified_index = locks.modified_index + 1, expires_index = locks.modified_index + 1
		WHERE locks.owner = excluded.owner AND (COALESCE(locks.acquired_by, '') = '' OR excluded.acquired_by = ''
			OR locks.acquired_by = excluded.acquired_by)
		` + returning
}

// queries are the statements of one dialect, expanded once.
type queries struct {
	lock          string // the one-statement acquire (or renew)
	renew         string // MySQL's renewal: an UPDATE of the caller's own row
	holder        string // who holds a key, read without a row lock
	deleteUnowned string
	fetch         string
	fetchAll      string
	fetchAllTyped string
	exists        string
	count         string

	newestHeartbeat string
	heartbeat       string
	removeServer    string
	pruneServers    string
	grace           string
	adoptCandidates string
	adopt           string
	pushSweep       string
	expired         string
	deleteExpired   string

	// Fencing and history (fence.go, history.go).
	fenceRead     string
	fenceInsert   string
	fenceUpdate   string
	setToken      string
	insertEvent   string
	feed          string
	maxEventID    string
	pruneHistory  string
	releaseRead   string // the row to release, under a row lock where there are any
	releaseDelete string
}

func newQueries(d dialect) queries {
	q := queries{
		deleteUnowned: `DELETE FROM locks WHERE path = ? AND (owner = '' OR owner IS NULL)`,
		fetch:         selectLocks + ` WHERE path = ?`,
		// Unowned rows are skipped in Go (FetchAll): comparing owner with ''
		// under the column's collation costs more per row than the scan.
		fetchAll:      `SELECT ` + fetchAllColumns + ` FROM locks {clockJoin}`,
		fetchAllTyped: `SELECT ` + fetchAllColumns + ` FROM locks {clockJoin} WHERE type = ?`,
		exists:        `SELECT COUNT(*) FROM locks WHERE path = ?`,
		holder:        `SELECT COALESCE(owner, ''), COALESCE(acquired_by, '') FROM locks WHERE path = ?`,
		count:         `SELECT COALESCE(type, ''), COUNT(*) FROM locks WHERE owner <> '' GROUP BY type`,

		newestHeartbeat: `SELECT COALESCE(MAX(heartbeat_at), 0), {now} FROM locket_servers`,
		removeServer:    `DELETE FROM locket_servers WHERE id = ?`,
		pruneServers:    `DELETE FROM locket_servers WHERE heartbeat_at < {now} - ?`,
		// Grace never shortens a deadline; the WHERE makes the row count
		// mean "rows extended" on every database.
		grace: `UPDATE locks SET expires_at = {greatest}(COALESCE(expires_at, 0), {now} + COALESCE(ttl, 0) * 1000000)
			WHERE expires_at IS NULL OR expires_at < {now} + COALESCE(ttl, 0) * 1000000`,
		// Rows whose last write was not ours (an upstream server's renewal or
		// creation): modified_index moved past the index our deadline is for.
		// adopt re-checks that under the row lock, so a row renewed again
		// since the read (by us: skipped; by upstream: adopted at that
		// write) comes out right.
		adoptCandidates: `SELECT path FROM locks
			WHERE expires_index IS NULL OR expires_index <> modified_index`,
		adopt: `UPDATE locks SET expires_at = {now} + COALESCE(ttl, 0) * 1000000, expires_index = modified_index
			WHERE path IN (?` + strings.Repeat(", ?", adoptBatch-1) + `) AND (expires_index IS NULL OR expires_index <> modified_index)`,
		// sweep_at is a lower bound of expires_at kept in the index
		// locks_sweep_at, so that a renewal, which moves expires_at, leaves
		// the index alone. The sweep first moves sweep_at of rows that came
		// due but were renewed since up to their deadline (one index range
		// scan, batched), then reads the rows that are due and expired.
		// NULL (rows written by upstream or older servers) is due. Writers
		// compute sweep_at from {now}, the statement's start, so it never
		// lands after the expires_at they write from {written}.
		pushSweep: `UPDATE locks SET sweep_at = expires_at
			WHERE (sweep_at IS NULL OR sweep_at <= {now}) AND expires_at > {now}`,
		// Only deadlines written for the current modified_index count:
		// anything else is adopted first.
		expired: selectLocks + `
			WHERE (sweep_at IS NULL OR sweep_at <= {now}) AND expires_at <= {now} AND expires_index = modified_index
			ORDER BY expires_at LIMIT 5000`,
		// Deletes only if nothing renewed the row since it was read.
		deleteExpired: `DELETE FROM locks WHERE path = ? AND modified_index = ? AND COALESCE(modified_id, '') = ?
			AND expires_index = modified_index AND expires_at <= {now}`,

		fenceRead:   `SELECT token, owner FROM locket_fences WHERE path = ?`,
		fenceInsert: `INSERT INTO locket_fences (path, token, owner) VALUES (?, 1, ?)`,
		fenceUpdate: `UPDATE locket_fences SET token = token + 1, owner = ? WHERE path = ? AND token = ?`,
		// Only a holding without a token gets one: a concurrent repair of the
		// same holding (see assignToken) cannot assign two.
		setToken: `UPDATE locks SET fencing_token = ? WHERE path = ? AND owner = ? AND fencing_token IS NULL`,
		insertEvent: `INSERT INTO locket_history (at, event, path, type, owner, previous_owner, value, fencing_token,
			server, request_id, identity) VALUES ({now}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		feed:          `SELECT ` + eventColumns + `, {now} FROM locket_history WHERE id > ? ORDER BY id LIMIT 1000`,
		maxEventID:    `SELECT COALESCE(MAX(id), 0) FROM locket_history`,
		pruneHistory:  `DELETE FROM locket_history WHERE at < {now} - ?`,
		releaseRead:   `SELECT ` + lockColumns("{now}") + ` FROM locks WHERE path = ?`,
		releaseDelete: `DELETE FROM locks WHERE path = ? AND owner = ?`,
	}
	if d.name != "sqlite" {
		// SQLite has one connection and no FOR UPDATE; its transactions
		// are serial anyway.
		q.fenceRead += ` FOR UPDATE`
		q.releaseRead += ` FOR UPDATE`
	}
	if d.name == "postgres" {
		// Rows locked in key order, byte by byte (COLLATE "C", whatever the
		// database's collation), as renewal batches lock theirs
		// (writeRenewals): locked in index order, the sweep and a batch
		// renewing some of the same rows deadlocked, and Postgres finds a
		// deadlock only after deadlock_timeout (1 s), all that time holding
		// up the batch's renewals. MySQL finds deadlocks at once.
		// ARRAY(...): the rows are then found by primary key; a join or
		// IN (...) read the whole table every sweep.
		q.pushSweep = `WITH due AS (SELECT path FROM locks
			WHERE (sweep_at IS NULL OR sweep_at <= {now}) AND expires_at > {now}
			ORDER BY path COLLATE "C" FOR UPDATE)
			UPDATE locks SET sweep_at = expires_at WHERE path = ANY (ARRAY(SELECT path FROM due))`
	}
	if d.mysql {
		// By key, as mysqlRenewalSQL: a scan of a small table would lock
		// (and wait for) rows of other keys.
		q.adopt = strings.Replace(q.adopt, "UPDATE locks", "UPDATE locks FORCE INDEX (PRIMARY)", 1)
		// Every assignment is conditional on the stored owner being the
		// caller (byte-exact, like upstream's Go comparison; the column's
		// collation would ignore case and trailing spaces). Affected rows:
		// 1 inserted, 2 renewed, 0 someone else's row. expires_index comes
		// before modified_index and both read the old modified_index, so the
		// result does not depend on assignment order. LAST_INSERT_ID(expr)
		// hands the new modified_index back in the OK packet.
		//
		// A renewal hands back the fencing token instead of modified_index:
		// LEAST(0, LAST_INSERT_ID(token)) adds nothing (tokens are >= 0) and
		// puts the token in the OK packet, so renewals stay one round trip.
		// When both the stored acquirer identity and the caller's are set,
		// they must match too (authorization rules on).
		const same = `(CAST(owner AS BINARY) = CAST(VALUES(owner) AS BINARY)
			AND (COALESCE(acquired_by, '') = '' OR VALUES(acquired_by) = ''
			OR CAST(acquired_by AS BINARY) = CAST(VALUES(acquired_by) AS BINARY)))`
		q.lock = `INSERT INTO locks (path, owner, value, type, modified_index, modified_id, ttl, expires_at, sweep_at,
			expires_index, acquired_by, acquired_at)
			VALUES (?, ?, ?, ?, 1, ?, ?, {now} + ? * 1000000, {now} + ? * 1000000, 1, ?, {now})
			ON DUPLICATE KEY UPDATE
			value = IF(` + same + `, VALUES(value), value),
			type = IF(` + same + `, VALUES(type), type),
			ttl = IF(` + same + `, VALUES(ttl), ttl),
			expires_at = IF(` + same + `, {written} + VALUES(ttl) * 1000000, expires_at),
			sweep_at = IF(` + same + `, LEAST(sweep_at, {now} + VALUES(ttl) * 1000000), sweep_at),
			expires_index = IF(` + same + `, modified_index + 1, expires_index),
			modified_index = IF(` + same + `, modified_index + 1 + LEAST(0, LAST_INSERT_ID(COALESCE(fencing_token, 0))), modified_index)`
		// The renewal: the same assignments as the upsert's renewing branch,
		// on the caller's own row only. Affected rows: 1 renewed, 0 not
		// (the row is gone or someone else's). Assignments run left to
		// right, so expires_index reads the old modified_index.
		// sweep_at only ever moves down here (a shorter TTL), so with the
		// usual unchanged TTL the index is not touched. (It reads the new
		// expires_at; under MariaDB's SIMULTANEOUS_ASSIGNMENT the old one,
		// which is still a lower bound.)
		q.renew = `UPDATE locks SET value = ?, type = ?, ttl = ?, expires_at = {written} + ? * 1000000,
			sweep_at = LEAST(sweep_at, expires_at),
			expires_index = modified_index + 1,
			modified_index = modified_index + 1 + LEAST(0, LAST_INSERT_ID(COALESCE(fencing_token, 0)))
			WHERE path = ? AND CAST(owner AS BINARY) = CAST(? AS BINARY)
			AND (COALESCE(acquired_by, '') = '' OR ? = '' OR CAST(acquired_by AS BINARY) = CAST(? AS BINARY))`
		q.heartbeat = `INSERT INTO locket_servers (id, address, heartbeat_at) VALUES (?, ?, {now})
			ON DUPLICATE KEY UPDATE address = VALUES(address), heartbeat_at = VALUES(heartbeat_at)`
	} else {
		// No row back = the row belongs to someone else. modified_id equal to
		// the fresh GUID sent = inserted.
		q.lock = upsertSQL(1, `RETURNING modified_id, modified_index, COALESCE(locks.fencing_token, 0)`)
		q.heartbeat = `INSERT INTO locket_servers (id, address, heartbeat_at) VALUES (?, ?, {now})
			ON CONFLICT (id) DO UPDATE SET address = excluded.address, heartbeat_at = excluded.heartbeat_at`
	}
	for _, p := range []*string{
		&q.lock, &q.renew, &q.holder, &q.deleteUnowned, &q.fetch, &q.fetchAll, &q.fetchAllTyped,
		&q.exists, &q.count, &q.newestHeartbeat, &q.heartbeat, &q.removeServer, &q.pruneServers, &q.grace,
		&q.adoptCandidates, &q.adopt, &q.pushSweep, &q.expired, &q.deleteExpired,
		&q.fenceRead, &q.fenceInsert, &q.fenceUpdate, &q.setToken, &q.insertEvent, &q.feed, &q.maxEventID,
		&q.pruneHistory, &q.releaseRead, &q.releaseDelete,
	} {
		*p = d.sql(*p)
	}
	return q
}
