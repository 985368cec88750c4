package main

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/locket-release/locket/internal/testenv"
)

func TestApplyGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for env, want := range map[string]int{"": defaultGCPercent, "50": 50, "off": -1} {
		t.Run("GOGC="+env, func(t *testing.T) {
			// What the runtime read from the environment at start.
			debug.SetGCPercent(map[string]int{"": 100, "50": 50, "off": -1}[env])
			t.Setenv("GOGC", env)
			if got := applyGCPercent(); got != want {
				t.Errorf("applyGCPercent() = %d, want %d", got, want)
			}
			if got := debug.SetGCPercent(100); got != want {
				t.Errorf("GC percent in force = %d, want %d", got, want)
			}
		})
	}
}

// TestStartingLineNamesGCPercent: the server logs the GC percentage it runs
// with, so an operator who set GOGC can see that it took.
func TestStartingLineNamesGCPercent(t *testing.T) {
	db := testenv.NewDatabase(t, "sqlite")
	for env, want := range map[string]string{"": "200", "400": "400"} {
		t.Run("GOGC="+env, func(t *testing.T) {
			srv := testenv.StartServer(t, db, nil, testenv.WithEnv("GOGC="+env))
			l := srv.WaitForMessage(5*time.Second, "locket.starting")
			if got := fmt.Sprint(l.Data["gc-percent"]); got != want {
				t.Errorf("locket.starting data gc-percent = %v, want %v: %s", l.Data["gc-percent"], want, l.Raw)
			}
		})
	}
}
