// Package metrics keeps counters and gauges and serves them in the Prometheus
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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kinds of metric.
const (
	KindCounter = "counter"
	KindGauge   = "gauge"
)

// Registry holds metric families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []*family
	byName   map[string]*family
}

type family struct {
	name, help, kind string
	series           []*series
	byLabels         map[string]*series
}

type series struct {
	labels string // rendered {a="b"} or ""
	bits   atomic.Uint64
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

func (r *Registry) series(name, help, kind string, labels []string) *series {
	if !validName(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	rendered := renderLabels(labels)
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.byName[name]
	if f == nil {
		f = &family{name: name, help: help, kind: kind, byLabels: map[string]*series{}}
		r.byName[name] = f
		r.families = append(r.families, f)
	}
	if f.kind != kind {
		panic(fmt.Sprintf("metrics: %s registered as %s and %s", name, f.kind, kind))
	}
	s := f.byLabels[rendered]
	if s == nil {
		s = &series{labels: rendered}
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
			fmt.Fprintf(bw, "%s%s %s\n", f.name, s.labels, formatValue(s.load()))
		}
	}
	return bw.Flush()
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
