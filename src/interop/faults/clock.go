package faults

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Mono is CLOCK_MONOTONIC in nanoseconds. Unlike time.Now's monotonic
// reading, which Go keeps relative to the process start, it is one clock for
// every process on the machine (and in every network namespace), so agents'
// histories can be merged.
func Mono() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_MONOTONIC): %v", err)) // cannot happen on Linux
	}
	return ts.Nano()
}

// sleepUntil sleeps until the monotonic time at (ns), or returns false early
// when done is closed.
func sleepUntil(done <-chan struct{}, at int64) bool {
	d := time.Duration(at - Mono())
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-done:
		return false
	case <-timer.C:
		return true
	}
}

// ms formats a duration in nanoseconds as milliseconds.
func ms(ns int64) string { return fmt.Sprintf("%d ms", ns/int64(time.Millisecond)) }
