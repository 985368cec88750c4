// Package metrics keeps counters, gauges and histograms and serves them in the Prometheus
// text exposition format (version 0.0.4). It is deliberately small: the
// server has a fixed set of metrics with upstream Locket's names, so a
// client library would be a dependency for little gain.
package metrics

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kinds of metric.
const (
	KindCounter   = "counter"
	KindGauge     = "gauge"
	KindHistogram = "histogram"
)

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []*family
	byName   map[string]*family
}

type family struct {
	name, help, kind string
	bounds           []float64 // a histogram's bucket upper bounds
	series           []*series
	byLabels         map[string]*series
}

type series struct {
	labels string // rendered {a="b"} or ""
	bits   atomic.Uint64
	// A histogram's observations per bucket (the last: above every
	// bound); bits is then their sum.
	buckets []atomic.Uint64
}

func (s *series) load() float64 { return math.Float64frombits(s.bits.Load()) }

func (s *series) add(d float64) {
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{byName: map[string]*family{}} }

// Counter is a value that only goes up.
type Counter struct{ s *series }

// Inc adds one.
func (c *Counter) Inc() { c.s.add(1) }

// Add adds d, which must not be negative (negative values are ignored).
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.s.add(d)
	}
}

// Value returns the current value.
func (c *Counter) Value() float64 { return c.s.load() }

// Gauge is a value that goes up and down.
type Gauge struct{ s *series }

// Set sets the value.
func (g *Gauge) Set(v float64) { g.s.bits.Store(math.Float64bits(v)) }

// Add adds d (negative to subtract).
func (g *Gauge) Add(d float64) { g.s.add(d) }

// Value returns the current value.
func (g *Gauge) Value() float64 { return g.s.load() }

// Counter returns the counter series name{labels...}, creating it at first
// use. labels are name, value pairs. Registering one name as two kinds is a
// programming error and panics.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	return &Counter{r.series(name, help, KindCounter, labels)}
}

// Gauge returns the gauge series name{labels...}, creating it at first use.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	return &Gauge{r.series(name, help, KindGauge, labels)}
}

// Histogram counts observations in buckets, as a Prometheus histogram:
// a quantile of what it observed can be estimated from it over any span
// between two scrapes.
type Histogram struct {
	s      *series
	bounds []float64
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	h.s.buckets[sort.SearchFloat64s(h.bounds, v)].Add(1)
	h.s.add(v)
}

// Histogram returns the histogram series name{labels}; bounds are the
// buckets' upper bounds, ascending, the same for every series of name.
func (r *Registry) Histogram(name, help string, bounds []float64, labels ...string) *Histogram {
	if !sort.Float64sAreSorted(bounds) || len(bounds) == 0 || math.IsInf(bounds[len(bounds)-1], 1) {
		panic(fmt.Sprintf("metrics: %s: bucket bounds must be finite and ascending", name))
	}
	return &Histogram{r.seriesOf(name, help, KindHistogram, bounds, labels), bounds}
}

func (r *Registry) series(name, help, kind string, labels []string) *series {
	return r.seriesOf(name, help, kind, nil, labels)
}

func (r *Registry) seriesOf(name, help, kind string, bounds []float64, labels []string) *series {
	if !validName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	rendered := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.byName[name]
	if f == nil {
		f = &family{name: name, help: help, kind: kind, bounds: bounds, byLabels: map[string]*series{}}
		r.byName[name] = f
		r.families = append(r.families, f)
	}
	if f.kind != kind {
		panic(fmt.Sprintf("metrics: %s registered as %s and %s", name, f.kind, kind))
	}
	if !slices.Equal(f.bounds, bounds) {
		panic(fmt.Sprintf("metrics: %s registered with two sets of buckets", name))
	}
	s := f.byLabels[rendered]
	if s == nil {
		s = &series{labels: rendered}
		if kind == KindHistogram {
			s.buckets = make([]atomic.Uint64, len(bounds)+1)
		}
		f.byLabels[rendered] = s
		f.series = append(f.series, s)
	}
	return s
}

func renderLabels(labels []string) string {
	if len(labels) == 0 {
		return ""
	}
	if len(labels)%2 != 0 {
		panic("metrics: labels must be name, value pairs")
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, len(labels)/2)
	for i := 0; i < len(labels); i += 2 {
		if !validLabel(labels[i]) {
			panic(fmt.Sprintf("metrics: invalid label name %q", labels[i]))
		}
		pairs = append(pairs, pair{labels[i], labels[i+1]})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].k < pairs[j].k })
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.k)
		b.WriteString(`="`)
		b.WriteString(escape(p.v, true))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// WriteText writes every metric in the Prometheus text format.
func (r *Registry) WriteText(w io.Writer) error {
	r.mu.Lock()
	fams := append([]*family(nil), r.families...)
	seriesOf := make([][]*series, len(fams))
	for i, f := range fams {
		seriesOf[i] = append([]*series(nil), f.series...)
	}
	r.mu.Unlock()

	bw := bufio.NewWriter(w)
	for i, f := range fams {
		if f.help != "" {
			fmt.Fprintf(bw, "# HELP %s %s\n", f.name, escape(f.help, false))
		}
		fmt.Fprintf(bw, "# TYPE %s %s\n", f.name, f.kind)
		for _, s := range seriesOf[i] {
			if f.kind == KindHistogram {
				writeHistogram(bw, f, s)
				continue
			}
			fmt.Fprintf(bw, "%s%s %s\n", f.name, s.labels, formatValue(s.load()))
		}
	}
	return bw.Flush()
}

// writeHistogram writes a histogram series: cumulative buckets, sum and
// count. The count is the buckets' total as read, so the two agree even
// while observations land.
func writeHistogram(w io.Writer, f *family, s *series) {
	withLE := func(le string) string {
		if s.labels == "" {
			return `{le="` + le + `"}`
		}
		return s.labels[:len(s.labels)-1] + `,le="` + le + `"}`
	}
	var n uint64
	for i := range s.buckets {
		n += s.buckets[i].Load()
		le := "+Inf"
		if i < len(f.bounds) {
			le = formatValue(f.bounds[i])
		}
		fmt.Fprintf(w, "%s_bucket%s %d\n", f.name, withLE(le), n)
	}
	fmt.Fprintf(w, "%s_sum%s %s\n", f.name, s.labels, formatValue(s.load()))
	fmt.Fprintf(w, "%s_count%s %d\n", f.name, s.labels, n)
}

// ContentType is the media type of the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Handler serves the registry (GET /metrics).
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		_ = r.WriteText(w)
	})
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// escape escapes backslashes and newlines (and, in label values, quotes).
func escape(s string, quotes bool) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	if quotes {
		r = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	}
	return r.Replace(s)
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func validLabel(s string) bool {
	return validName(s) && !strings.Contains(s, ":")
}
