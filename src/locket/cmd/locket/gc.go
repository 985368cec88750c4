package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the server's GOGC when the environment sets none. The
// live heap is small (about 10 MB under renewal load, 15-22 MB while
// answering FetchAll over 10,000 presences) and nearly everything a request
// allocates is garbage when it answers, so at Go's default of 100 the
// collector runs every 10-20 MB allocated: about a tenth of the server's CPU
// under renewal load. 200 halves the collections for 20-30 MB more RSS
// (docs/benchmarks.md, "What changed in the sixth session").
const defaultGCPercent = 200

// applyGCPercent sets defaultGCPercent unless GOGC is set, and returns the
// percentage in force (-1: GOGC=off).
func applyGCPercent() int {
	if os.Getenv("GOGC") != "" {
		p := debug.SetGCPercent(100) // read it...
		debug.SetGCPercent(p)        // ...and put it back
		return p
	}
	debug.SetGCPercent(defaultGCPercent)
	return defaultGCPercent
}
