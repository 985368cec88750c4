package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// bucketLine is a histogram bucket of the text format: name, the other
// labels (each followed by a comma), le, count.
var bucketLine = regexp.MustCompile(`^([A-Za-z_:][A-Za-z0-9_:]*)_bucket\{((?:[a-z_]+="[^"]*",)*)le="([^"]+)"\} (\d+)$`)

// Latencies scrapes our server's metrics endpoint once for its own
// latency of rpc (RequestLatency) and its database round trips
// (DBQueryDuration). Upstream serves neither.
func (s *Server) Latencies(ctx context.Context, rpc string) (requests, db LatencyHistogram, err error) {
	if s.metricsAddress == "" {
		return requests, db, fmt.Errorf("the %s server serves no metrics", s.Kind)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.metricsAddress+"/metrics", nil)
	if err != nil {
		return requests, db, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return requests, db, fmt.Errorf("scrape %s server metrics: %w", s.Kind, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return requests, db, fmt.Errorf("scrape %s server metrics: %s", s.Kind, resp.Status)
	}
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		return requests, db, fmt.Errorf("scrape %s server metrics: %w", s.Kind, err)
	}
	if requests, err = parseHistogram(bytes.NewReader(text), "RequestLatency", `request_type="`+rpc+`",`); err != nil {
		return requests, db, fmt.Errorf("%s server metrics: %w", s.Kind, err)
	}
	if db, err = parseHistogram(bytes.NewReader(text), "DBQueryDuration", ""); err != nil {
		return requests, db, fmt.Errorf("%s server metrics: %w", s.Kind, err)
	}
	return requests, db, nil
}

// parseHistogram reads the buckets of name{labels} from the text format.
func parseHistogram(r io.Reader, name, labels string) (LatencyHistogram, error) {
	var h LatencyHistogram
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := bucketLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != name || m[2] != labels {
			continue
		}
		le, err := strconv.ParseFloat(m[3], 64) // "+Inf" parses as +Inf
		if err != nil {
			return LatencyHistogram{}, fmt.Errorf("%s bucket bound %q: %w", name, m[3], err)
		}
		c, err := strconv.ParseUint(m[4], 10, 64)
		if err != nil {
			return LatencyHistogram{}, fmt.Errorf("%s bucket count %q: %w", name, m[4], err)
		}
		h.Bounds, h.Counts = append(h.Bounds, le), append(h.Counts, c)
	}
	if err := sc.Err(); err != nil {
		return LatencyHistogram{}, err
	}
	if len(h.Bounds) == 0 || !math.IsInf(h.Bounds[len(h.Bounds)-1], 1) {
		return LatencyHistogram{}, fmt.Errorf("no histogram %s{%s}", name, labels)
	}
	return h, nil
}
