package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestTextFormat(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("Things", "Things counted.\nSecond line \\ with a backslash.")
	c.Inc()
	c.Add(2.5)
	c.Add(-7) // ignored: counters do not go down
	g := r.Gauge("Level", "")
	g.Set(-3)
	g.Add(1)
	r.Counter("Calls", "Calls.", "kind", `a"b\c`+"\n", "name", "x").Inc()
	r.Counter("Calls", "Calls.", "name", "y", "kind", "k").Add(2)

	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP Things Things counted.\nSecond line \\ with a backslash.
# TYPE Things counter
Things 3.5
# TYPE Level gauge
Level -2
# HELP Calls Calls.
# TYPE Calls counter
Calls{kind="a\"b\\c\n",name="x"} 1
Calls{kind="k",name="y"} 2
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHistogram(t *testing.T) {
	r := NewRegistry()
	h := r.Histogram("Latency", "Latency (s).", []float64{0.01, 0.1, 1}, "rpc", "Lock")
	for _, v := range []float64{0.005, 0.01, 0.05, 0.5, 3} {
		h.Observe(v)
	}
	r.Histogram("Latency", "Latency (s).", []float64{0.01, 0.1, 1}, "rpc", "Fetch")
	r.Histogram("Bare", "", []float64{1}).Observe(0.25)

	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	// Buckets are cumulative; a value on a bound is in that bound's bucket.
	want := `# HELP Latency Latency (s).
# TYPE Latency histogram
Latency_bucket{rpc="Lock",le="0.01"} 2
Latency_bucket{rpc="Lock",le="0.1"} 3
Latency_bucket{rpc="Lock",le="1"} 4
Latency_bucket{rpc="Lock",le="+Inf"} 5
Latency_sum{rpc="Lock"} 3.565
Latency_count{rpc="Lock"} 5
Latency_bucket{rpc="Fetch",le="0.01"} 0
Latency_bucket{rpc="Fetch",le="0.1"} 0
Latency_bucket{rpc="Fetch",le="1"} 0
Latency_bucket{rpc="Fetch",le="+Inf"} 0
Latency_sum{rpc="Fetch"} 0
Latency_count{rpc="Fetch"} 0
# TYPE Bare histogram
Bare_bucket{le="1"} 1
Bare_bucket{le="+Inf"} 1
Bare_sum 0.25
Bare_count 1
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHistogramBucketsMustAgree(t *testing.T) {
	for name, register := range map[string]func(r *Registry){
		"other bounds": func(r *Registry) { r.Histogram("H", "", []float64{1, 2}, "a", "2") },
		"unsorted":     func(r *Registry) { r.Histogram("U", "", []float64{2, 1}) },
		"infinite":     func(r *Registry) { r.Histogram("I", "", []float64{1, math.Inf(1)}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			r := NewRegistry()
			r.Histogram("H", "", []float64{1}, "a", "1")
			register(r)
		})
	}
}

func TestSameSeriesIsShared(t *testing.T) {
	r := NewRegistry()
	r.Counter("C", "", "a", "1").Inc()
	r.Counter("C", "", "a", "1").Inc()
	if v := r.Counter("C", "", "a", "1").Value(); v != 2 {
		t.Fatalf("value %v", v)
	}
}

func TestKindClashPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	r := NewRegistry()
	r.Counter("X", "")
	r.Gauge("X", "")
}

func TestSetTotal(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("Total", "")
	c.SetTotal(10)
	c.SetTotal(4) // lower: ignored
	if c.Value() != 10 {
		t.Fatalf("value %v", c.Value())
	}
}

func TestLocketSet(t *testing.T) {
	r := NewRegistry()
	m := NewLocket(r)
	q := m.Requests("Lock")
	q.ObserveLatency(30 * time.Millisecond)
	q.ObserveLatency(10 * time.Millisecond)
	m.Roll()
	if v := q.LatencyMax.Value(); v != 0.03 {
		t.Fatalf("RequestLatencyMax %v, want 0.03", v)
	}
	m.Roll() // a new interval without requests
	if v := q.LatencyMax.Value(); v != 0 {
		t.Fatalf("RequestLatencyMax after an idle interval %v", v)
	}
	m.SetDB(DBStats{OpenConnections: 3, WaitCount: 2, WaitDuration: 1500 * time.Millisecond, QueriesTotal: 9, QueryDurationMax: time.Second})
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"DBOpenConnections 3", "DBWaitCount 2", "DBWaitDuration 1.5", "DBQueriesTotal 9", "DBQueryDurationMax 1",
		`RequestsStarted{request_type="FetchAll"} 0`, "# TYPE ActiveLocks gauge", "# TYPE LocksExpired counter",
		// The two latencies observed above, 10 and 30 ms.
		`RequestLatency_bucket{request_type="Lock",le="0.0075"} 0`, `RequestLatency_bucket{request_type="Lock",le="0.01"} 1`,
		`RequestLatency_bucket{request_type="Lock",le="0.03"} 2`, `RequestLatency_count{request_type="Lock"} 2`,
		"# TYPE DBQueryDuration histogram", "DBQueryDuration_count 0",
	} {
		if !strings.Contains(b.String(), line+"\n") {
			t.Errorf("missing %q in:\n%s", line, b.String())
		}
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.Gauge("G", "").Set(1)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != ContentType || string(body) != "# TYPE G gauge\nG 1\n" {
		t.Fatalf("%s %q", resp.Header.Get("Content-Type"), body)
	}
	resp, err = http.Post(srv.URL, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
}
