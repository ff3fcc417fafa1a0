package ratelimit_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

// t0 is an arbitrary instant: the Limiter only cares about differences.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestAllow(t *testing.T) {
	t.Parallel()
	type step struct {
		at    time.Duration // since t0
		ok    bool
		retry time.Duration
	}
	// burst(n) is n allowed events at t0.
	burst := func(n int) []step {
		s := make([]step, n)
		for i := range s {
			s[i] = step{0, true, 0}
		}
		return s
	}
	tests := []struct {
		name  string
		rate  ratelimit.Rate
		steps []step
	}{
		{
			name: "burst then blocked",
			rate: ratelimit.Rate{Events: 10, Per: time.Minute},
			steps: append(burst(10),
				step{0, false, 6 * time.Second},
				step{time.Second, false, 5 * time.Second},
				step{5999 * time.Millisecond, false, time.Millisecond},
			),
		},
		{
			name: "refills one token per interval",
			rate: ratelimit.Rate{Events: 10, Per: time.Minute},
			steps: append(burst(10),
				step{6 * time.Second, true, 0},
				step{6 * time.Second, false, 6 * time.Second},
				step{12 * time.Second, true, 0},
				step{12 * time.Second, false, 6 * time.Second},
			),
		},
		{
			name: "refills up to the burst, no further",
			rate: ratelimit.Rate{Events: 3, Per: time.Second},
			steps: append(burst(3),
				step{time.Hour, true, 0},
				step{time.Hour, true, 0},
				step{time.Hour, true, 0},
				step{time.Hour, false, time.Second / 3},
			),
		},
		{
			name: "blocked attempts use nothing up",
			rate: ratelimit.Rate{Events: 1, Per: time.Minute},
			steps: []step{
				{0, true, 0},
				{30 * time.Second, false, 30 * time.Second},
				{59 * time.Second, false, time.Second},
				{time.Minute, true, 0},
			},
		},
		{
			name: "partial refill",
			rate: ratelimit.Rate{Events: 2, Per: 10 * time.Second},
			steps: []step{
				{0, true, 0},
				{0, true, 0},
				{7 * time.Second, true, 0}, // one token back at 5 s
				{7 * time.Second, false, 3 * time.Second},
				{10 * time.Second, true, 0},
			},
		},
		{
			name: "time going backwards blocks no more than now",
			rate: ratelimit.Rate{Events: 1, Per: time.Minute},
			steps: []step{
				{time.Minute, true, 0},
				{0, false, 2 * time.Minute},
				{2 * time.Minute, true, 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := ratelimit.New(tt.rate, 100)
			for i, s := range tt.steps {
				ok, retry := l.Allow("k", t0.Add(s.at))
				if ok != s.ok || retry != s.retry {
					t.Errorf("step %d at +%v: got %v, %v, want %v, %v", i, s.at, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

func TestKeysAreIndependent(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(ratelimit.Rate{Events: 2, Per: time.Minute}, 100)
	long := strings.Repeat("x", 1000) // stored hashed: must still be told apart
	keys := []string{"a", "b", "203.0.113.7", "2001:db8::/64", long + "1", long + "2"}
	for _, k := range keys {
		for i := range 2 {
			if ok, _ := l.Allow(k, t0); !ok {
				t.Errorf("key %.10q event %d: got blocked, want allowed", k, i)
			}
		}
	}
	for _, k := range keys {
		if ok, _ := l.Allow(k, t0); ok {
			t.Errorf("key %.10q event 3: got allowed, want blocked", k)
		}
	}
	if got := l.Len(); got != len(keys) {
		t.Errorf("Len: got %d, want %d", got, len(keys))
	}
}

func TestEvictionOnlyLoosens(t *testing.T) {
	t.Parallel()
	one := ratelimit.Rate{Events: 1, Per: time.Hour}
	l := ratelimit.New(one, 2)
	mustAllow := func(key string, want bool) {
		t.Helper()
		if ok, _ := l.Allow(key, t0); ok != want {
			t.Fatalf("Allow(%q): got %v, want %v", key, ok, want)
		}
	}
	mustAllow("a", true)
	mustAllow("b", true)
	mustAllow("a", false) // a is now the most recently used
	mustAllow("c", true)  // evicts b, the least recently used
	mustAllow("a", false) // a was kept, so still limited
	mustAllow("b", true)  // b was forgotten: allowed again, never wrongly blocked
	if got := l.Len(); got != 2 {
		t.Errorf("Len: got %d, want 2", got)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(ratelimit.Rate{Events: 1, Per: time.Hour}, 10)
	if err := l.Check("login:a@example.com"); err != nil {
		t.Fatalf("first Check: got %v, want nil", err)
	}
	err := l.Check("login:a@example.com")
	if !errors.Is(err, apperr.ErrRateLimited) {
		t.Fatalf("second Check: got %v, want an apperr.ErrRateLimited", err)
	}
	if d := apperr.RetryAfter(err); d <= 59*time.Minute || d > time.Hour {
		t.Errorf("RetryAfter: got %v, want just under 1h", d)
	}
	if got, want := apperr.Message(err), "too many requests: try again in 3600 s"; got != want {
		t.Errorf("Message: got %q, want %q", got, want)
	}
	if got := httpx.StatusOf(err); got != 429 {
		t.Errorf("StatusOf: got %d, want 429", got)
	}
}

// Wait and Blocked look without touching: a limit on failures asks them
// before the work and spends only when the work failed.
func TestWaitAndBlocked(t *testing.T) {
	t.Parallel()
	l := ratelimit.New(ratelimit.Rate{Events: 2, Per: time.Minute}, 10)
	now := time.Now()
	for range 5 {
		if d := l.Wait("ip", now); d != 0 {
			t.Fatalf("Wait of an unknown key: got %v, want 0", d)
		}
	}
	if err := l.Blocked("ip"); err != nil {
		t.Fatalf("Blocked of an unknown key: got %v, want nil", err)
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len after only looking: got %d, want 0", n)
	}
	l.Allow("ip", now)
	if d := l.Wait("ip", now); d != 0 {
		t.Errorf("Wait with one event left: got %v, want 0", d)
	}
	l.Allow("ip", now)
	if d := l.Wait("ip", now); d != 30*time.Second {
		t.Errorf("Wait with none left: got %v, want 30s", d)
	}
	if d := l.Wait("ip", now.Add(10*time.Second)); d != 20*time.Second {
		t.Errorf("Wait 10s later: got %v, want 20s", d)
	}
	if d := l.Wait("ip", now.Add(30*time.Second)); d != 0 {
		t.Errorf("Wait 30s later: got %v, want 0", d)
	}
	err := l.Blocked("ip")
	if !errors.Is(err, apperr.ErrRateLimited) || apperr.RetryAfter(err) <= 0 {
		t.Errorf("Blocked with none left: got %v, want an apperr.ErrRateLimited with a RetryAfter", err)
	}
	if d := l.Wait("other", now); d != 0 {
		t.Errorf("Wait of another key: got %v, want 0", d)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ratelimit.Rate
		wantErr bool
	}{
		{in: "10/min", want: ratelimit.Rate{Events: 10, Per: time.Minute}},
		{in: "600/m", want: ratelimit.Rate{Events: 600, Per: time.Minute}},
		{in: "5/s", want: ratelimit.Rate{Events: 5, Per: time.Second}},
		{in: "100/h", want: ratelimit.Rate{Events: 100, Per: time.Hour}},
		{in: "1000/day", want: ratelimit.Rate{Events: 1000, Per: 24 * time.Hour}},
		{in: " 3 / Minute ", want: ratelimit.Rate{Events: 3, Per: time.Minute}},
		{in: "10/30s", want: ratelimit.Rate{Events: 10, Per: 30 * time.Second}},
		{in: "5/1m30s", want: ratelimit.Rate{Events: 5, Per: 90 * time.Second}},
		{in: "", wantErr: true},
		{in: "10", wantErr: true},
		{in: "10/", wantErr: true},
		{in: "/min", wantErr: true},
		{in: "ten/min", wantErr: true},
		{in: "0/min", wantErr: true},
		{in: "-1/min", wantErr: true},
		{in: "10/fortnight", wantErr: true},
		{in: "10/-1s", wantErr: true},
		{in: "10/0s", wantErr: true},
		{in: "2/1ns", wantErr: true},
		{in: "1.5/s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ratelimit.ParseRate(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseRate(%q): got %v, %v, want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err == nil {
				// String must read back as the same rate, for config echoes.
				if back, err := ratelimit.ParseRate(got.String()); err != nil || back != got {
					t.Errorf("ParseRate(%q.String() = %q): got %v, %v, want %v", tt.in, got.String(), back, err, got)
				}
			}
		})
	}
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rate    ratelimit.Rate
		maxKeys int
	}{
		{"zero rate", ratelimit.Rate{}, 10},
		{"negative events", ratelimit.Rate{Events: -1, Per: time.Second}, 10},
		{"zero keys", ratelimit.Rate{Events: 1, Per: time.Second}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("New(%v, %d): got no panic, want one", tt.rate, tt.maxKeys)
				}
			}()
			ratelimit.New(tt.rate, tt.maxKeys)
		})
	}
}

// TestConcurrentAllow has many goroutines share a few keys at one instant:
// exactly the burst of each key must get through, no more, no less. Run it
// with -race.
func TestConcurrentAllow(t *testing.T) {
	t.Parallel()
	const (
		burst      = 50
		keys       = 8
		goroutines = 32
		perG       = 100
	)
	l := ratelimit.New(ratelimit.Rate{Events: burst, Per: time.Hour}, 1000)
	var allowed [keys]atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				k := (g + i) % keys
				if ok, _ := l.Allow(fmt.Sprint("key-", k), t0); ok {
					allowed[k].Add(1)
				}
				_ = l.Len()
			}
		})
	}
	wg.Wait()
	for k := range allowed {
		if got := allowed[k].Load(); got != burst {
			t.Errorf("key %d: got %d allowed, want %d", k, got, burst)
		}
	}
}

// TestBoundedMemory feeds a million distinct client IPs to a Limiter that may
// remember 10,000 and checks both the key count and the heap.
//
// It is deliberately not parallel: it measures the heap, and parallel tests
// wait until the sequential ones are done, so nothing else allocates
// meanwhile.
func TestBoundedMemory(t *testing.T) {
	const (
		maxKeys = 10_000
		clients = 1_000_000
	)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	l := ratelimit.New(ratelimit.Rate{Events: 5, Per: time.Minute}, maxKeys)
	now := t0
	for i := range clients {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.Allow(ratelimit.IPKey(ip), now); !ok {
			t.Fatalf("client %d (%v): got blocked on its first request, want allowed", i, ip)
		}
		now = now.Add(time.Microsecond)
		if i%100 == 0 || i == clients-1 {
			if n := l.Len(); n > maxKeys {
				t.Fatalf("after %d clients: got %d buckets, want at most %d", i+1, n, maxKeys)
			}
		}
	}
	if n := l.Len(); n != maxKeys {
		t.Errorf("Len at the end: got %d, want %d (full)", n, maxKeys)
	}

	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(l)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after %d distinct keys into %d buckets: %.2f MiB (%d bytes per bucket)",
		clients, maxKeys, float64(growth)/(1<<20), growth/maxKeys)
	if limit := int64(20 << 20); growth > limit {
		t.Errorf("heap growth: got %d bytes, want under %d", growth, limit)
	}
}

func BenchmarkAllow(b *testing.B) {
	rate := ratelimit.Rate{Events: 1000, Per: time.Second}
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = ratelimit.IPKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	}
	// "known keys": a steady population of clients, all of them remembered.
	// "churn": every call a key the Limiter has to make room for, as under a
	// flood of distinct IPs.
	for _, bc := range []struct {
		name    string
		maxKeys int
	}{
		{"known keys", 100_000},
		{"churn", 10_000},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := ratelimit.New(rate, bc.maxKeys)
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := rand.IntN(len(keys)) // so goroutines do not walk in step
				for pb.Next() {
					l.Allow(keys[i%len(keys)], now)
					i++
				}
			})
		})
	}
}
