// Package resilience is the one way to call something outside the process:
// every outbound call (Stripe, SMTP, any HTTP API) goes through a [Breaker],
// which bounds it with a timeout and fails fast while the dependency is down.
//
//	m := resilience.NewMetrics(reg)
//	stripe := resilience.NewBreaker("stripe", resilience.Settings{}, m)
//	client := resilience.NewHTTPClient(stripe)
//
// A breaker opens after Settings.MaxFailures consecutive failures; while open,
// calls return an error wrapping [ErrOpen] and apperr.ErrUnavailable without
// touching the dependency. After Settings.OpenFor it lets one probe call
// through: success closes it, failure opens it again. Its state is exported as
// the Prometheus gauge circuit_breaker_state{name} (0 closed, 1 half-open,
// 2 open), and calls it refused are counted in
// circuit_breaker_rejected_total{name}.
package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/rightsize/rightsize/internal/platform/apperr"
)

// ErrOpen is wrapped by the error a [Breaker] returns when it refuses a call
// because the dependency is failing. That error also wraps
// apperr.ErrUnavailable, so the HTTP layer answers 503 without knowing about
// breakers.
var ErrOpen = errors.New("circuit breaker open")

// Defaults for the zero fields of [Settings].
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxFailures = 5
	DefaultOpenFor     = 30 * time.Second
)

// Settings configures a [Breaker]. The zero value is ready to use: each zero
// field takes its default.
type Settings struct {
	// Timeout bounds every call made through the breaker (DefaultTimeout).
	Timeout time.Duration
	// MaxFailures is how many consecutive failures open the breaker
	// (DefaultMaxFailures).
	MaxFailures uint32
	// OpenFor is how long the breaker stays open before it lets a probe call
	// through (DefaultOpenFor).
	OpenFor time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxFailures == 0 {
		s.MaxFailures = DefaultMaxFailures
	}
	if s.OpenFor <= 0 {
		s.OpenFor = DefaultOpenFor
	}
	return s
}

// State is where a [Breaker] is in its cycle. Its numeric value is the value of
// the circuit_breaker_state gauge.
type State int

// The states of a [Breaker].
const (
	StateClosed   State = 0 // calls go through
	StateHalfOpen State = 1 // one probe call goes through; the rest are refused
	StateOpen     State = 2 // every call is refused
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Metrics holds the breaker metrics of one Prometheus registry. Create it once
// per registry with [NewMetrics] and pass it to every [NewBreaker].
type Metrics struct {
	rejected *prometheus.CounterVec

	mu       sync.Mutex
	breakers map[string]*Breaker
}

var stateDesc = prometheus.NewDesc(
	"circuit_breaker_state",
	"State of the circuit breaker in front of an outbound dependency: 0 closed, 1 half-open, 2 open.",
	[]string{"name"}, nil,
)

// NewMetrics registers the breaker metrics with reg and returns them. It panics
// if they are already registered with reg, as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "circuit_breaker_rejected_total",
			Help: "Calls a circuit breaker refused without calling its dependency.",
		}, []string{"name"}),
		breakers: make(map[string]*Breaker),
	}
	reg.MustRegister(m.rejected, stateCollector{m})
	return m
}

// stateCollector reads each breaker's state at scrape time rather than caching
// it in a gauge: gobreaker moves from open to half-open lazily, so a gauge set
// on state changes would read "open" long after the breaker stopped being open.
type stateCollector struct{ m *Metrics }

func (c stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- stateDesc }

func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for name, b := range c.m.breakers {
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, float64(b.State()), name)
	}
}

// Breaker guards calls to one outbound dependency. It is safe for concurrent
// use; share one Breaker among all callers of the same dependency.
type Breaker struct {
	name     string
	timeout  time.Duration
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	rejected prometheus.Counter // nil without Metrics
}

// errCallerGone marks an outcome the breaker must not count: the caller's own
// context ended, which says nothing about the dependency's health.
var errCallerGone = errors.New("caller's context ended")

// NewBreaker returns a closed breaker for the dependency called name (a short,
// constant label such as "stripe" or "smtp"). Zero fields of s take their
// defaults. m may be nil, in which case nothing is recorded; otherwise
// NewBreaker panics if m already has a breaker with the same name, since two
// breakers would report conflicting states under one label.
func NewBreaker(name string, s Settings, m *Metrics) *Breaker {
	s = s.withDefaults()
	b := &Breaker{
		name:    name,
		timeout: s.Timeout,
		cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:    name,
			Timeout: s.OpenFor,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				return c.ConsecutiveFailures >= s.MaxFailures
			},
			IsExcluded: func(err error) bool { return errors.Is(err, errCallerGone) },
		}),
	}
	if m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, dup := m.breakers[name]; dup {
			panic(fmt.Sprintf("resilience: a breaker named %q already exists in these Metrics", name))
		}
		m.breakers[name] = b
		b.rejected = m.rejected.WithLabelValues(name)
	}
	return b
}

// State returns the breaker's current state. An open breaker whose OpenFor has
// passed reports StateHalfOpen.
func (b *Breaker) State() State {
	switch b.cb.State() {
	case gobreaker.StateHalfOpen:
		return StateHalfOpen
	case gobreaker.StateOpen:
		return StateOpen
	}
	return StateClosed
}

// Do calls fn with a context bounded by the breaker's timeout, and returns
// fn's error unchanged. fn must honour that context: Do does not abandon a
// call that ignores it.
//
// If the breaker refuses the call, fn is not called and Do returns an error
// wrapping ErrOpen and apperr.ErrUnavailable. If ctx is already done, Do
// returns ctx.Err() without calling fn.
//
// An error from fn counts as a failure of the dependency (a panic too, which
// Do lets continue), except:
//   - an error wrapping apperr.ErrInvalid: the dependency answered, the
//     request was bad, so it counts as a success;
//   - any error once ctx itself is done: the caller gave up or ran out of
//     time, which does not count either way. Only the breaker's own timeout
//     firing counts as the dependency being slow.
func (b *Breaker) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	done, err := b.allow(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()

	returned := false
	defer func() {
		if !returned {
			// Without a report the half-open probe slot would stay taken
			// and the breaker would refuse every call from then on.
			done(errors.New("panic"))
		}
	}()
	err = fn(ctx)
	returned = true
	done(err)
	return err
}

// allow asks the breaker for permission to make one call under ctx. On
// success the caller must report the call's outcome exactly once to done.
func (b *Breaker) allow(ctx context.Context) (done func(error), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	report, err := b.cb.Allow()
	if err != nil {
		if b.rejected != nil {
			b.rejected.Inc()
		}
		return nil, fmt.Errorf("%s: %w: %w", b.name, ErrOpen, apperr.ErrUnavailable)
	}
	return func(err error) {
		switch {
		case err == nil, errors.Is(err, apperr.ErrInvalid):
			report(nil)
		case ctx.Err() != nil:
			report(errCallerGone)
		default:
			report(err)
		}
	}, nil
}
