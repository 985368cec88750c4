package bench

import (
	"slices"
	"sync"
	"time"
)

// Latencies collects call durations. Each caller goroutine appends to its own
// Latencies and the workload merges them, so the hot path takes no lock.
type Latencies []time.Duration

// Percentile returns the p-th percentile (0 < p <= 100) by nearest rank; 0
// when there are no samples.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Median of xs (the mean of the middle two for an even count); 0 when empty.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Recorder is a Latencies shared by many goroutines (the fleet's runners),
// with an on/off switch for the measurement window.
type Recorder struct {
	mu      sync.Mutex
	on      bool
	start   time.Time
	samples Latencies
	ends    []time.Duration // when each sample's call ended, after start
	errors  int
}

// Start begins recording.
func (r *Recorder) Start() {
	r.mu.Lock()
	r.on = true
	r.start = time.Now()
	r.mu.Unlock()
}

// Stop ends recording.
func (r *Recorder) Stop() {
	r.mu.Lock()
	r.on = false
	r.mu.Unlock()
}

// Add records one call while recording is on.
func (r *Recorder) Add(d time.Duration, failed bool) {
	r.mu.Lock()
	if r.on {
		r.samples = append(r.samples, d)
		r.ends = append(r.ends, time.Since(r.start))
		if failed {
			r.errors++
		}
	}
	r.mu.Unlock()
}

// Snapshot returns the samples and the failure count so far.
func (r *Recorder) Snapshot() (Latencies, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples), r.errors
}

// Buckets splits the samples so far by when their calls ended, into
// consecutive periods of width: a latency percentile per period shows
// whether slow calls are spread out or bunched (a backlog, a stall).
func (r *Recorder) Buckets(width time.Duration) []Latencies {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Latencies
	for i, d := range r.samples {
		b := int(r.ends[i] / width)
		for len(out) <= b {
			out = append(out, nil)
		}
		out[b] = append(out[b], d)
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
