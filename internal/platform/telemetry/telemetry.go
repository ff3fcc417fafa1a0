// Package telemetry sets up the ways rightsize is observed: logs on stdout
// (JSON, or text for a person at a terminal), and Prometheus metrics and
// pprof profiles on an internal listener.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a logger writing JSON (or, if text, slog's key=value
// text) to w at level and above. When a
// record is logged with a context (InfoContext and the like), the attributes
// fromContext returns are added, unless the record has them already, so that a line logged deep in the database
// layer still carries its request's ID.
func NewLogger(w io.Writer, level slog.Leveler, text bool, fromContext func(context.Context) []slog.Attr) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if text {
		h = slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})
	}
	if fromContext == nil {
		return slog.New(h)
	}
	return slog.New(contextHandler{Handler: h, from: fromContext})
}

type contextHandler struct {
	slog.Handler
	from func(context.Context) []slog.Attr
	// preset holds the keys already attached with WithAttrs.
	preset map[string]bool
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		return h.Handler.Handle(ctx, r)
	}
	for _, a := range h.from(ctx) {
		if !h.preset[a.Key] && !hasAttr(r, a.Key) { // JSON keys must not repeat
			r.AddAttrs(a)
		}
	}
	return h.Handler.Handle(ctx, r)
}

// hasAttr reports whether r carries an attribute named key. Every log line
// passes here, so it scans rather than building a set.
func hasAttr(r slog.Record, key string) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	preset := make(map[string]bool, len(h.preset)+len(attrs))
	for k := range h.preset {
		preset[k] = true
	}
	for _, a := range attrs {
		preset[a.Key] = true
	}
	return contextHandler{Handler: h.Handler.WithAttrs(attrs), from: h.from, preset: preset}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{Handler: h.Handler.WithGroup(name), from: h.from, preset: h.preset}
}

// NewRegistry returns a metrics registry holding the Go runtime and process
// collectors (CPU, memory, file descriptors: how saturated the process is).
// Every other collector registers itself with it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// MetricsHandler serves reg in the Prometheus text format at GET /metrics,
// the runtime's profiles under /debug/pprof/ (go tool pprof
// http://127.0.0.1:9090/debug/pprof/profile), and 404 elsewhere. Mount it
// only on the internal metrics listener, never on the public port: a
// profile shows the program's internals and costs CPU to take.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol) // go tool pprof posts addresses
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}
