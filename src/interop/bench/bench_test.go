package bench

import (
	"strings"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.0001, time.Millisecond}} {
		if got := Percentile(ds, c.p); got != c.want {
			t.Errorf("p%g = %s, want %s", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %s, want 0", got)
	}
	if got := Percentile([]time.Duration{-5 * time.Millisecond, 3 * time.Millisecond}, 0.0001); got != -5*time.Millisecond {
		t.Errorf("min = %s, want -5ms (negative lags must survive)", got)
	}
}

func TestMedian(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median = %g, want 2", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %g, want 2.5", got)
	}
}

func TestErrorLines(t *testing.T) {
	s := &Server{lines: []string{
		`{"timestamp":"2026-01-01T00:00:00Z","level":"info","source":"locket","message":"locket.started","data":{}}`,
		`{"timestamp":"2026-01-01T00:00:00Z","level":"error","source":"locket","message":"locket.lock.failed","data":{}}`,
		`{"timestamp":"1700000000.1","source":"locket","message":"locket.x","log_level":2,"data":{}}`,
		`{"timestamp":"1700000000.1","source":"locket","message":"locket.y","log_level":1,"data":{}}`,
		`panic: boom`,
	}}
	got := s.ErrorLines(0)
	if len(got) != 3 || !strings.Contains(got[0], "locket.lock.failed") || !strings.Contains(got[1], "locket.x") || got[2] != "panic: boom" {
		t.Errorf("ErrorLines = %q, want the error line, the log_level 2 line and the panic", got)
	}
	if got := s.ErrorLines(2); len(got) != 2 {
		t.Errorf("ErrorLines(2) = %q, want 2 lines after the mark", got)
	}
	if n := s.CountMessages(0, "failed"); n != 1 {
		t.Errorf("CountMessages(failed) = %d, want 1", n)
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := procCPU("self"); err != nil {
		t.Fatal(err)
	}
}

func TestCompare(t *testing.T) {
	row := compare("w", "m", "%.0f", 300, 100, ">= 3x", func(x float64) bool { return x >= 3 })
	if row.Ratio != "3.00x" || row.Met != "yes" {
		t.Errorf("row = %+v, want ratio 3.00x met", row)
	}
	row = compare("w", "m", "%.0f", 1, 0, "", nil)
	if row.Ratio != "" || row.Met != "" {
		t.Errorf("row = %+v, want no ratio against zero", row)
	}
}

// TestFetchAllCeiling: upstream's whole cost per call over ours without
// the server's share, medians over the rounds.
func TestFetchAllCeiling(t *testing.T) {
	round := func(calls int, server, client, db time.Duration) LoopResult {
		return LoopResult{Calls: calls, CPU: server, SelfCPU: client, DBCPU: db}
	}
	ours := []LoopResult{
		round(100, 900*time.Millisecond, 800*time.Millisecond, 400*time.Millisecond), // 12 ms without the server
		round(100, 900*time.Millisecond, 700*time.Millisecond, 300*time.Millisecond), // 10 ms
		round(50, 0, 800*time.Millisecond, 0),                                        // 16 ms
	}
	upstream := []LoopResult{
		round(50, 1250*time.Millisecond, 450*time.Millisecond, 300*time.Millisecond), // 40 ms
		round(50, 1500*time.Millisecond, 450*time.Millisecond, 250*time.Millisecond), // 44 ms
		round(40, 1000*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond), // 40 ms
	}
	row := fetchAllCeiling("mysql", ours, upstream)
	if row.Ours != "3.33x" { // 40 / 12
		t.Errorf("ceiling = %q, want 3.33x", row.Ours)
	}
	if row := fetchAllCeiling("mysql", nil, upstream); row.Ours != "" {
		t.Errorf("ceiling without rounds of ours = %q, want none", row.Ours)
	}
}

// TestCPUTimesSince: shares come from the differences of the counters, steal
// within busy.
func TestCPUTimesSince(t *testing.T) {
	t0 := cpuTimes{busy: 100, steal: 10, total: 1000}
	t1 := cpuTimes{busy: 160, steal: 30, total: 1200}
	busy, steal, ok := t1.since(t0)
	if !ok || busy != 30 || steal != 10 {
		t.Fatalf("since = %.1f%% busy, %.1f%% steal, %v; want 30, 10, true", busy, steal, ok)
	}
	if _, _, ok := t0.since(t0); ok {
		t.Fatal("no time passed, yet ok")
	}
	now, ok := readCPUTimes()
	if !ok || now.total <= 0 || now.busy > now.total || now.steal > now.busy {
		t.Fatalf("readCPUTimes = %+v, %v", now, ok)
	}
}
