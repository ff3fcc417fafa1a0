package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/resilience"
)

// metricValue reads metric{name=name} from reg the way a scrape would.
func metricValue(t testing.TB, reg *prometheus.Registry, metric, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != metric {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == name {
					if g := m.GetGauge(); g != nil {
						return g.GetValue()
					}
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{name=%q} in registry", metric, name)
	return 0
}

// waitForState polls, because the breaker leaves the open state on its own
// clock; a fixed sleep would be either slow or flaky.
func waitForState(t testing.TB, b *resilience.Breaker, want resilience.State) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("breaker state: got %s, want %s", b.State(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flakyServer answers 500 while failing is true, else 200, and counts requests.
type flakyServer struct {
	*httptest.Server
	failing atomic.Bool
	hits    atomic.Int64
}

func newFlakyServer(t testing.TB) *flakyServer {
	t.Helper()
	s := &flakyServer{}
	s.failing.Store(true)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func get(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestHTTPClientOpensAfterFailuresThenFailsFast(t *testing.T) {
	t.Parallel()
	srv := newFlakyServer(t)
	reg := prometheus.NewRegistry()
	b := resilience.NewBreaker("api", resilience.Settings{MaxFailures: 3, OpenFor: time.Hour}, resilience.NewMetrics(reg))
	client := resilience.NewHTTPClient(b)
	ctx := t.Context()

	for i := range 3 {
		status, err := get(ctx, client, srv.URL)
		if err != nil {
			t.Fatalf("request %d: got error %v, want a 500 response", i, err)
		}
		if status != http.StatusInternalServerError {
			t.Fatalf("request %d: got status %d, want 500", i, status)
		}
	}

	_, err := get(ctx, client, srv.URL)
	if !errors.Is(err, resilience.ErrOpen) {
		t.Fatalf("request after %d failures: got error %v, want ErrOpen", 3, err)
	}
	if !errors.Is(err, apperr.ErrUnavailable) {
		t.Errorf("got error %v, want it to wrap apperr.ErrUnavailable", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Errorf("server saw %d requests, want 3", got)
	}
	if got := metricValue(t, reg, "circuit_breaker_state", "api"); got != 2 {
		t.Errorf("circuit_breaker_state: got %v, want 2", got)
	}
	if got := metricValue(t, reg, "circuit_breaker_rejected_total", "api"); got != 1 {
		t.Errorf("circuit_breaker_rejected_total: got %v, want 1", got)
	}
}

func TestHTTPClientClosesAfterOpenForOnSuccess(t *testing.T) {
	t.Parallel()
	srv := newFlakyServer(t)
	reg := prometheus.NewRegistry()
	b := resilience.NewBreaker("api", resilience.Settings{MaxFailures: 2, OpenFor: 500 * time.Millisecond}, resilience.NewMetrics(reg))
	client := resilience.NewHTTPClient(b)
	ctx := t.Context()

	for range 2 {
		if _, err := get(ctx, client, srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.State(); got != resilience.StateOpen {
		t.Fatalf("after 2 failures: got state %s, want open", got)
	}

	srv.failing.Store(false)
	waitForState(t, b, resilience.StateHalfOpen)
	if got := metricValue(t, reg, "circuit_breaker_state", "api"); got != 1 {
		t.Errorf("circuit_breaker_state while half-open: got %v, want 1", got)
	}

	status, err := get(ctx, client, srv.URL)
	if err != nil || status != http.StatusOK {
		t.Fatalf("probe request: got (%d, %v), want (200, nil)", status, err)
	}
	if got := b.State(); got != resilience.StateClosed {
		t.Errorf("after a successful probe: got state %s, want closed", got)
	}
	if got := metricValue(t, reg, "circuit_breaker_state", "api"); got != 0 {
		t.Errorf("circuit_breaker_state: got %v, want 0", got)
	}
}

func TestHTTPClientFailedProbeReopens(t *testing.T) {
	t.Parallel()
	srv := newFlakyServer(t)
	b := resilience.NewBreaker("api", resilience.Settings{MaxFailures: 1, OpenFor: 500 * time.Millisecond}, nil)
	client := resilience.NewHTTPClient(b)

	if _, err := get(t.Context(), client, srv.URL); err != nil {
		t.Fatal(err)
	}
	waitForState(t, b, resilience.StateHalfOpen)
	if _, err := get(t.Context(), client, srv.URL); err != nil {
		t.Fatalf("probe: got error %v, want a 500 response", err)
	}
	if got := b.State(); got != resilience.StateOpen {
		t.Errorf("after a failed probe: got state %s, want open", got)
	}
}

func TestHTTPClientTransportErrorIsFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens on url now: every dial is refused

	b := resilience.NewBreaker("api", resilience.Settings{MaxFailures: 2, OpenFor: time.Hour}, nil)
	client := resilience.NewHTTPClient(b)
	for i := range 2 {
		_, err := get(t.Context(), client, url)
		if err == nil || errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("request %d: got error %v, want a dial error", i, err)
		}
	}
	if _, err := get(t.Context(), client, url); !errors.Is(err, resilience.ErrOpen) {
		t.Errorf("got error %v, want ErrOpen", err)
	}
}

func TestHTTPClient4xxIsNotFailure(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	b := resilience.NewBreaker("api", resilience.Settings{MaxFailures: 1}, nil)
	client := resilience.NewHTTPClient(b)
	for range 3 {
		status, err := get(t.Context(), client, srv.URL)
		if err != nil || status != http.StatusNotFound {
			t.Fatalf("got (%d, %v), want (404, nil)", status, err)
		}
	}
	if got := b.State(); got != resilience.StateClosed {
		t.Errorf("got state %s, want closed", got)
	}
}

func TestHTTPClientTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close does not wait on a hung handler

	b := resilience.NewBreaker("api", resilience.Settings{Timeout: 50 * time.Millisecond, MaxFailures: 1, OpenFor: time.Hour}, nil)
	_, err := get(t.Context(), resilience.NewHTTPClient(b), srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want context.DeadlineExceeded", err)
	}
	if got := b.State(); got != resilience.StateOpen {
		t.Errorf("a timeout should count as a failure: got state %s, want open", got)
	}
}

func TestHTTPClientTimeoutCoversBody(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	b := resilience.NewBreaker("api", resilience.Settings{Timeout: 50 * time.Millisecond}, nil)
	_, err := get(t.Context(), resilience.NewHTTPClient(b), srv.URL)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got error %v, want context.DeadlineExceeded while reading the body", err)
	}
}

// TestDoOutcomes shows which results of fn count against the dependency.
func TestDoOutcomes(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	tests := []struct {
		name      string
		fn        func(ctx context.Context, cancel context.CancelFunc) error
		wantErr   error
		wantState resilience.State
	}{
		{
			name:      "success",
			fn:        func(context.Context, context.CancelFunc) error { return nil },
			wantState: resilience.StateClosed,
		},
		{
			name:      "error",
			fn:        func(context.Context, context.CancelFunc) error { return boom },
			wantErr:   boom,
			wantState: resilience.StateOpen,
		},
		{
			name: "invalid request is the caller's fault",
			fn: func(context.Context, context.CancelFunc) error {
				return fmt.Errorf("recipient rejected: %w", apperr.ErrInvalid)
			},
			wantErr:   apperr.ErrInvalid,
			wantState: resilience.StateClosed,
		},
		{
			name: "breaker's own timeout",
			fn: func(ctx context.Context, _ context.CancelFunc) error {
				<-ctx.Done()
				return ctx.Err()
			},
			wantErr:   context.DeadlineExceeded,
			wantState: resilience.StateOpen,
		},
		{
			name: "caller cancels",
			fn: func(ctx context.Context, cancel context.CancelFunc) error {
				cancel()
				<-ctx.Done()
				return ctx.Err()
			},
			wantErr:   context.Canceled,
			wantState: resilience.StateClosed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := resilience.NewBreaker("dep", resilience.Settings{Timeout: 20 * time.Millisecond, MaxFailures: 1, OpenFor: time.Hour}, nil)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			err := b.Do(ctx, func(ctx context.Context) error { return tt.fn(ctx, cancel) })
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if got := b.State(); got != tt.wantState {
				t.Errorf("got state %s, want %s", got, tt.wantState)
			}
		})
	}
}

func TestDoPanicIsFailure(t *testing.T) {
	t.Parallel()
	b := resilience.NewBreaker("dep", resilience.Settings{MaxFailures: 1, OpenFor: time.Hour}, nil)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("got no panic, want Do to let it continue")
			}
		}()
		b.Do(t.Context(), func(context.Context) error { panic("bug") })
	}()
	if got := b.State(); got != resilience.StateOpen {
		t.Errorf("got state %s, want open", got)
	}
}

func TestDoDoneContextDoesNotCall(t *testing.T) {
	t.Parallel()
	b := resilience.NewBreaker("dep", resilience.Settings{}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	err := b.Do(ctx, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("got (error %v, called %v), want (context.Canceled, false)", err, called)
	}
}

func TestDoAppliesDefaultTimeout(t *testing.T) {
	t.Parallel()
	b := resilience.NewBreaker("dep", resilience.Settings{}, nil)
	before := time.Now()
	b.Do(t.Context(), func(ctx context.Context) error {
		deadline, ok := ctx.Deadline()
		if !ok {
			t.Fatal("fn got a context without a deadline")
		}
		if got := deadline.Sub(before); got < resilience.DefaultTimeout || got > resilience.DefaultTimeout+time.Second {
			t.Errorf("deadline: got now+%v, want now+%v", got, resilience.DefaultTimeout)
		}
		return nil
	})
}

func TestNewBreakerDuplicateNamePanics(t *testing.T) {
	t.Parallel()
	m := resilience.NewMetrics(prometheus.NewRegistry())
	resilience.NewBreaker("smtp", resilience.Settings{}, m)
	defer func() {
		if recover() == nil {
			t.Error("got no panic for a second breaker named smtp, want one")
		}
	}()
	resilience.NewBreaker("smtp", resilience.Settings{}, m)
}
