package testenv

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; 100
// on every Linux architecture Go supports.
const ClockTicks = 100

// DatabaseCPU is the CPU time of every database server process on the
// machine (MariaDB's, and Postgres's postmaster and backends), children
// reaped included: a backend or autovacuum worker that exits in a window
// moves its time into the postmaster's, so differences across a window
// count it once. Benchmarks read it before and after what they measure:
// the database's share, on a machine that runs nothing else meanwhile.
func DatabaseCPU() time.Duration {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var total int64
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		if comm, ticks, ok := parseStat(string(b)); ok && databaseCommands[comm] {
			total += ticks
		}
	}
	return time.Duration(total) * time.Second / ClockTicks
}

var databaseCommands = map[string]bool{"mariadbd": true, "mysqld": true, "postgres": true}

// parseStat reads a /proc/<pid>/stat line: the command name and the
// process's CPU ticks with its reaped children's (utime, stime, cutime,
// cstime: fields 14-17). The name may hold spaces and parentheses.
func parseStat(s string) (comm string, ticks int64, ok bool) {
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 15 {
		return "", 0, false
	}
	for _, v := range f[11:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", 0, false
		}
		ticks += n
	}
	return s[open+1 : closing], ticks, true
}
