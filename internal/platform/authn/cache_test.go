package authn_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rightsize/rightsize/internal/platform/apperr"
	"github.com/rightsize/rightsize/internal/platform/authn"
)

// clock is an Authenticator's injected time, set by the test between calls.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func bearerRequest(token string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func authenticate(a *authn.Authenticator, token string) (authn.Principal, error) {
	return a.Authenticate(bearerRequest(token))
}

func wantCached(tb testing.TB, a *authn.Authenticator, want int) {
	tb.Helper()
	if got := authn.CachedTokens(a); got != want {
		tb.Errorf("cached tokens: got %d, want %d", got, want)
	}
}

// A token that verified is cached and keeps authenticating as the same
// principal; a hit allocates next to nothing, which tells it from a
// verification.
//
// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestAuthenticateCachesVerifiedToken(t *testing.T) {
	k := mustKeys(t, seed(1))
	a := authn.NewAuthenticator(k, nil, (&clock{t0}).now)
	tok := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	want := authn.Principal{UserID: "user-1", SessionID: "sess-1"}
	for i := range 3 {
		p, err := authenticate(a, tok)
		if err != nil || p != want {
			t.Fatalf("call %d: got %+v, %v; want %+v", i+1, p, err, want)
		}
	}
	wantCached(t, a, 1)

	r := bearerRequest(tok)
	hit := testing.AllocsPerRun(100, func() { _, _ = a.Authenticate(r) })
	if hit > 1 { // the token's bytes, to hash them
		t.Errorf("allocations per cached Authenticate: got %v, want at most 1", hit)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = k.Verify(tok, t0) }); n < 10*max(hit, 1) {
		t.Errorf("allocations per Verify: got %v, want many more than a hit's %v, or the test above proves nothing", n, hit)
	}
}

// A token that fails verification is never cached, even when it differs
// from a cached one by a single byte: it is rejected every time.
func TestAuthenticateTamperedTokenNotCached(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	tok := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	seg := segments(t, tok)
	var claims map[string]any
	decodeSeg(t, seg[1], &claims)
	claims["sub"] = "user-2"

	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	// The last character of a 64-byte signature carries 4 unused bits: a
	// lenient decoder would read it with its lowest bit flipped as the same
	// signature.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	sibling := string(alphabet[strings.IndexByte(alphabet, seg[2][len(seg[2])-1])^1])

	tampered := map[string]string{
		"signature byte":      seg[0] + "." + seg[1] + "." + flip(seg[2], 10),
		"signature encoding":  seg[0] + "." + seg[1] + "." + seg[2][:len(seg[2])-1] + sibling,
		"claims changed":      seg[0] + "." + b64(claims) + "." + seg[2],
		"header byte":         flip(seg[0], 5) + "." + seg[1] + "." + seg[2],
		"appended byte":       tok + "A",
		"signature truncated": tok[:len(tok)-1],
		"signed by another":   mustIssue(t, mustKeys(t, seed(2)), "user-1", "sess-1", 15*time.Minute, t0),
	}
	for name, bad := range tampered {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := authn.NewAuthenticator(k, nil, (&clock{t0}).now)
			// Before and after the genuine token is cached, twice each.
			for _, warm := range []bool{false, true} {
				if warm {
					if _, err := authenticate(a, tok); err != nil {
						t.Fatalf("genuine token: %v", err)
					}
				}
				for range 2 {
					p, err := authenticate(a, bad)
					if err == nil {
						t.Fatalf("warm=%v: got %+v, want an error", warm, p)
					}
					if got := apperr.Message(err); got != "invalid token" {
						t.Errorf("warm=%v: got message %q, want %q", warm, got, "invalid token")
					}
				}
			}
			wantCached(t, a, 1) // the genuine one only
		})
	}
}

// A cached token gets the verdict Verify gives at every time around its
// window: it expires at exp (plus the clock skew) and is then dropped, and
// a clock stepped back before iat rejects it as Verify would.
func TestAuthenticateCachedTokenExpires(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	tok := mustIssue(t, k, "user-1", "sess-1", 15*time.Minute, t0)
	exp := t0.Add(15 * time.Minute)
	tests := []struct {
		name    string
		at      time.Time
		wantErr string // "" for success
	}{
		{"just before expiry", exp.Add(-time.Second), ""},
		{"at expiry", exp, ""},
		{"last instant of the clock skew", exp.Add(5*time.Second - time.Nanosecond), ""},
		{"end of the clock skew", exp.Add(5 * time.Second), "token expired"},
		{"long expired", exp.Add(24 * time.Hour), "token expired"},
		{"clock back within skew of iat", t0.Add(-5 * time.Second), ""},
		{"clock back past skew of iat", t0.Add(-5*time.Second - time.Nanosecond), "token not yet valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := &clock{t0}
			a := authn.NewAuthenticator(k, nil, c.now)
			if _, err := authenticate(a, tok); err != nil {
				t.Fatalf("at issue: %v", err)
			}
			c.t = tt.at
			_, verr := k.Verify(tok, tt.at)
			checkVerifyErr(t, verr, tt.wantErr) // the reference the cache must agree with
			for i := range 2 {
				_, err := authenticate(a, tok)
				checkVerifyErr(t, err, tt.wantErr)
				if i == 0 && tt.wantErr != "" {
					wantCached(t, a, 0)
				}
			}
		})
	}
}

// A token with an nbf later than its iat (we issue none, but Verify checks
// one) is not accepted from the cache before its nbf either.
func TestAuthenticateCachedTokenHonoursNotBefore(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	nbf := t0.Add(time.Minute)
	tok := handToken(edHeader(1), with(validClaims(), "nbf", nbf.Unix()), edSigner(1))
	c := &clock{nbf}
	a := authn.NewAuthenticator(k, nil, c.now)
	if _, err := authenticate(a, tok); err != nil {
		t.Fatalf("at nbf: got %v, want success", err)
	}
	wantCached(t, a, 1)
	c.t = nbf.Add(-6 * time.Second) // past the clock skew, though after iat
	_, err := authenticate(a, tok)
	checkVerifyErr(t, err, "token not yet valid")
}

// However many distinct tokens verify, the cache holds at most its
// capacity, and every token still authenticates as its own principal.
func TestAuthenticateCacheBounded(t *testing.T) {
	t.Parallel()
	const capacity, tokens = 64, 1000
	k := mustKeys(t, seed(1))
	a := authn.NewAuthenticator(k, nil, (&clock{t0}).now)
	authn.SetTokenCacheSize(a, capacity)
	toks := make([]string, tokens)
	for i := range toks {
		toks[i] = mustIssue(t, k, fmt.Sprintf("user-%d", i), fmt.Sprintf("sess-%d", i), 15*time.Minute, t0)
	}
	for round := range 2 { // the second round finds each token evicted
		for i, tok := range toks {
			p, err := authenticate(a, tok)
			if want := fmt.Sprintf("user-%d", i); err != nil || p.UserID != want {
				t.Fatalf("round %d, token %d: got %+v, %v; want user %s", round, i, p, err, want)
			}
			if n := authn.CachedTokens(a); n > capacity {
				t.Fatalf("round %d, after %d tokens: got %d cached, want at most %d", round, i+1, n, capacity)
			}
		}
	}
	wantCached(t, a, capacity)
}

// Concurrent requests with shared and distinct tokens, valid and not, all
// get their own verdict (run with -race).
func TestAuthenticateCacheConcurrent(t *testing.T) {
	t.Parallel()
	k := mustKeys(t, seed(1))
	a := authn.NewAuthenticator(k, nil, (&clock{t0}).now)
	authn.SetTokenCacheSize(a, 300) // a few shards, each full soon
	const goroutines, distinct = 8, 400
	toks := make([]string, distinct)
	for i := range toks {
		toks[i] = mustIssue(t, k, fmt.Sprintf("user-%d", i), "sess", 15*time.Minute, t0)
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for j := range 2 * distinct {
				i := (j*7 + g*13) % distinct
				tok := toks[i]
				bad := j%5 == 0
				if bad {
					tok = strings.TrimSuffix(tok, tok[len(tok)-2:]) + "xx"
				}
				p, err := authenticate(a, tok)
				switch {
				case bad && err == nil:
					errs <- fmt.Errorf("tampered token %d: got %+v, want an error", i, p)
					return
				case !bad && (err != nil || p.UserID != fmt.Sprintf("user-%d", i)):
					errs <- fmt.Errorf("token %d: got %+v, %v; want user-%d", i, p, err, i)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := authn.CachedTokens(a); n > 300 {
		t.Errorf("cached tokens: got %d, want at most 300", n)
	}
}

// BenchmarkAuthenticate compares a token seen for the first time (cold: the
// Ed25519 verification, plus the cache's hashing and insertion) with one seen
// before (warm: a cache hit).
func BenchmarkAuthenticate(b *testing.B) {
	k := mustKeys(b, seed(2)+","+seed(1))
	const user, session = "usr_01KAB3K8Q4W5E6R7T8Y9V0J1P2", "ses_01KAB3K8Q4W5E6R7T8Y9V0J1P3"
	b.Run("cold", func(b *testing.B) {
		// A cache of one shard cycled through with four times its capacity
		// in tokens: least-recently-used eviction makes every call a miss.
		const capacity = 256
		a := authn.NewAuthenticator(k, nil, func() time.Time { return t0 })
		authn.SetTokenCacheSize(a, capacity)
		reqs := make([]*http.Request, 4*capacity)
		for i := range reqs {
			reqs[i] = bearerRequest(mustIssue(b, k, user, fmt.Sprintf("ses_%026d", i), 15*time.Minute, t0))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := a.Authenticate(reqs[i%len(reqs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("warm", func(b *testing.B) {
		a := authn.NewAuthenticator(k, nil, func() time.Time { return t0 })
		r := bearerRequest(mustIssue(b, k, user, session, 15*time.Minute, t0))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := a.Authenticate(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm parallel", func(b *testing.B) {
		// Many clients at once, each with its own token: the shards' locks.
		a := authn.NewAuthenticator(k, nil, func() time.Time { return t0 })
		reqs := make([]*http.Request, runtime.GOMAXPROCS(0)) // RunParallel's goroutines
		for i := range reqs {
			reqs[i] = bearerRequest(mustIssue(b, k, user, fmt.Sprintf("ses_%026d", i), 15*time.Minute, t0))
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			r := reqs[int(next.Add(1)-1)%len(reqs)]
			for pb.Next() {
				if _, err := a.Authenticate(r); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
