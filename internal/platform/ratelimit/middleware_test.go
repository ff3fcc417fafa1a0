package ratelimit_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

func TestMiddleware(t *testing.T) {
	t.Parallel()
	// Two per hour, behind one proxy; requests with X-Skip are not limited.
	l := ratelimit.New(ratelimit.Rate{Events: 2, Per: time.Hour}, 100)
	byIP := ratelimit.ByIP(1)
	key := func(r *http.Request) (string, bool) {
		if r.Header.Get("X-Skip") != "" {
			return "", false
		}
		return byIP(r)
	}
	var served int
	h := httpx.Chain(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			served++
			w.WriteHeader(http.StatusNoContent)
		}),
		httpx.RequestID(),
		l.Middleware(key),
	)
	do := func(xff string, skip bool) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
		r.RemoteAddr = "10.0.0.2:5000"
		r.Header.Set("X-Forwarded-For", xff)
		if skip {
			r.Header.Set("X-Skip", "1")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// The sequence shares one limiter, so it runs in order, not as subtests.
	steps := []struct {
		name   string
		xff    string
		skip   bool
		status int
	}{
		{"first", "203.0.113.7", false, 204},
		{"second", "6.6.6.6, 203.0.113.7", false, 204}, // a spoofed entry changes nothing
		{"over the limit", "203.0.113.7", false, 429},
		{"other client", "203.0.113.8", false, 204},
		{"same IPv6 /64 is one client", "2001:db8::1", false, 204},
		{"same IPv6 /64, other address", "[2001:db8::2]:443", false, 204},
		{"same IPv6 /64, third address", "2001:db8::3", false, 429},
		{"skipped", "203.0.113.7", true, 204},
	}
	for _, s := range steps {
		w := do(s.xff, s.skip)
		if w.Code != s.status {
			t.Fatalf("%s: status got %d, want %d (body %s)", s.name, w.Code, s.status, w.Body)
		}
		if s.status != 429 {
			continue
		}
		if got := w.Header().Get("Content-Type"); got != httpx.ContentTypeProblem {
			t.Errorf("%s: Content-Type got %q, want %q", s.name, got, httpx.ContentTypeProblem)
		}
		if got := w.Header().Get("Retry-After"); got != "1800" {
			t.Errorf("%s: Retry-After got %q, want 1800 (the next token is half an hour away)", s.name, got)
		}
		var p httpx.ProblemDetails
		if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
			t.Fatalf("%s: decoding %s: %v", s.name, w.Body, err)
		}
		if p.Status != 429 || !strings.Contains(p.Detail, "1800 s") {
			t.Errorf("%s: problem got status %d detail %q, want 429 and a detail naming 1800 s", s.name, p.Status, p.Detail)
		}
		if id := w.Header().Get(httpx.HeaderRequestID); p.CorrelationID == "" || p.CorrelationID != id {
			t.Errorf("%s: correlation_id got %q, want the X-Request-ID %q", s.name, p.CorrelationID, id)
		}
	}
	if want := 6; served != want {
		t.Errorf("handler ran %d times, want %d: a limited request must not reach it", served, want)
	}
}
