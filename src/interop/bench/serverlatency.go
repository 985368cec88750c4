package bench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// LatencyHistogram is our server's RequestLatency histogram of one RPC as
// its metrics endpoint serves it: cumulative counts per upper bound (s),
// the last bound +Inf. It is the server's own share of a request's latency
// (handler start to answer), beside what the benchmark client measures
// around the call.
type LatencyHistogram struct {
	Bounds []float64
	Counts []uint64
}

// Count is how many requests the histogram holds.
func (h LatencyHistogram) Count() uint64 {
	if len(h.Counts) == 0 {
		return 0
	}
	return h.Counts[len(h.Counts)-1]
}

// Since is what h observed after earlier, a scrape of the same series.
func (h LatencyHistogram) Since(earlier LatencyHistogram) (LatencyHistogram, error) {
	if len(earlier.Bounds) != len(h.Bounds) {
		return LatencyHistogram{}, fmt.Errorf("the histogram's buckets changed between scrapes")
	}
	d := LatencyHistogram{Bounds: h.Bounds, Counts: make([]uint64, len(h.Counts))}
	for i := range h.Counts {
		if h.Bounds[i] != earlier.Bounds[i] || h.Counts[i] < earlier.Counts[i] {
			return LatencyHistogram{}, fmt.Errorf("the histogram was reset between scrapes")
		}
		d.Counts[i] = h.Counts[i] - earlier.Counts[i]
	}
	return d, nil
}

// Quantile estimates the q-quantile as Prometheus's histogram_quantile
// does: linearly within the bucket the rank falls in (from 0 in the first);
// a rank in the +Inf bucket gives the highest finite bound. False when the
// histogram is empty.
func (h LatencyHistogram) Quantile(q float64) (time.Duration, bool) {
	n := h.Count()
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	lower, below := 0.0, uint64(0)
	for i, c := range h.Counts {
		upper := h.Bounds[i]
		if float64(c) >= rank {
			if math.IsInf(upper, 1) {
				return seconds(lower), true
			}
			in := float64(c - below)
			return seconds(lower + (upper-lower)*(rank-float64(below))/in), true
		}
		lower, below = upper, c
	}
	return seconds(lower), true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

var latencyBucketLine = regexp.MustCompile(`^RequestLatency_bucket\{request_type="([A-Za-z]+)",le="([^"]+)"\} (\d+)$`)

// RequestLatency scrapes the server's RequestLatency histogram of rpc
// (our server only: upstream has none).
func (s *Server) RequestLatency(ctx context.Context, rpc string) (LatencyHistogram, error) {
	if s.metricsAddress == "" {
		return LatencyHistogram{}, fmt.Errorf("the %s server serves no metrics", s.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddress+"/metrics", nil)
	if err != nil {
		return LatencyHistogram{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return LatencyHistogram{}, fmt.Errorf("scrape %s server metrics: %w", s.Kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return LatencyHistogram{}, fmt.Errorf("scrape %s server metrics: %s", s.Kind, resp.Status)
	}
	var h LatencyHistogram
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := latencyBucketLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != rpc {
			continue
		}
		le, err := strconv.ParseFloat(m[2], 64) // "+Inf" parses as +Inf
		if err != nil {
			return LatencyHistogram{}, fmt.Errorf("bucket bound %q: %w", m[2], err)
		}
		c, err := strconv.ParseUint(m[3], 10, 64)
		if err != nil {
			return LatencyHistogram{}, fmt.Errorf("bucket count %q: %w", m[3], err)
		}
		h.Bounds, h.Counts = append(h.Bounds, le), append(h.Counts, c)
	}
	if err := sc.Err(); err != nil {
		return LatencyHistogram{}, fmt.Errorf("scrape %s server metrics: %w", s.Kind, err)
	}
	if len(h.Bounds) == 0 || !math.IsInf(h.Bounds[len(h.Bounds)-1], 1) {
		return LatencyHistogram{}, fmt.Errorf("the %s server's metrics hold no RequestLatency histogram of %s", s.Kind, rpc)
	}
	return h, nil
}
