package httpx

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics returns a middleware that records, in reg:
//
//   - http_request_duration_seconds, a histogram labelled route (the pattern,
//     or "unmatched"), method (the standard methods, else "OTHER") and status
//     ("2xx" ... "5xx"): every label has a bounded set of values, whatever
//     clients send;
//   - http_requests_in_flight, a gauge.
//
// The collectors are created per call, so each server (and each test) can
// have its own registry; calling Metrics twice with the same registry shares
// the collectors. It panics if reg holds a different collector under either
// name, a wiring mistake to catch at start-up. Mount it inside [RequestID] and
// outside [Routes].
func Metrics(reg prometheus.Registerer) Middleware {
	duration := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern, method and status class.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "method", "status"}))
	inFlight := register(reg, prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "http_requests_in_flight",
		Help: "HTTP requests being served.",
	}))
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			inFlight.Inc()
			info := InfoFrom(r.Context())
			rec := recorderFor(w)
			returned := false
			defer func() {
				inFlight.Dec()
				duration.WithLabelValues(routeLabel(info), methodLabel(r.Method), statusClass(rec.statusAfter(returned))).
					Observe(time.Since(start).Seconds())
			}()
			next.ServeHTTP(rec, r)
			returned = true
		})
	}
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status/100) + "xx"
}
