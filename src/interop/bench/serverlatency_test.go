package bench

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLatencyHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	bounds := []float64{0.01, 0.05, 0.1, inf}
	earlier := LatencyHistogram{Bounds: bounds, Counts: []uint64{10, 10, 10, 10}}
	later := LatencyHistogram{Bounds: bounds, Counts: []uint64{60, 150, 158, 160}}
	h, err := later.Since(earlier)
	if err != nil {
		t.Fatal(err)
	}
	// 150 requests: 50 up to 10 ms, 90 from 10 to 50 ms, 8 to 100 ms, 2 above.
	if h.Count() != 150 {
		t.Fatalf("count %d", h.Count())
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{
		{0.25, 7500 * time.Microsecond},  // rank 37.5 of the first 50
		{0.5, 21111 * time.Microsecond},  // rank 75: 25 of 90 into 10-50 ms
		{0.98, 93750 * time.Microsecond}, // rank 147: 7 of 8 into 50-100 ms
		{0.99, 100 * time.Millisecond},   // rank 148.5: above every bound, so the highest
	} {
		got, ok := h.Quantile(c.q)
		if d := got - c.want; !ok || d < -10*time.Microsecond || d > 10*time.Microsecond {
			t.Errorf("q%v = %v (%v), want %v", c.q, got, ok, c.want)
		}
	}
	if _, err := earlier.Since(later); err == nil {
		t.Error("a histogram that went down was taken for a delta")
	}
	if _, ok := (LatencyHistogram{}).Quantile(0.99); ok {
		t.Error("an empty histogram gave a quantile")
	}
}

func TestParseHistogram(t *testing.T) {
	text := `# TYPE RequestLatency histogram
RequestLatency_bucket{request_type="Fetch",le="0.01"} 7
RequestLatency_bucket{request_type="Fetch",le="+Inf"} 7
RequestLatency_bucket{request_type="Lock",le="0.01"} 3
RequestLatency_bucket{request_type="Lock",le="+Inf"} 4
RequestLatency_sum{request_type="Lock"} 2.5
RequestLatency_count{request_type="Lock"} 4
# TYPE DBQueryDuration histogram
DBQueryDuration_bucket{le="0.001"} 1
DBQueryDuration_bucket{le="+Inf"} 2
`
	h, err := parseHistogram(strings.NewReader(text), "RequestLatency", `request_type="Lock",`)
	if err != nil || !slices.Equal(h.Bounds, []float64{0.01, math.Inf(1)}) || !slices.Equal(h.Counts, []uint64{3, 4}) {
		t.Fatalf("Lock: %+v, %v", h, err)
	}
	h, err = parseHistogram(strings.NewReader(text), "DBQueryDuration", "")
	if err != nil || !slices.Equal(h.Counts, []uint64{1, 2}) {
		t.Fatalf("DBQueryDuration: %+v, %v", h, err)
	}
	if _, err := parseHistogram(strings.NewReader(text), "RequestLatency", `request_type="Release",`); err == nil {
		t.Fatal("a missing series parsed")
	}
}
