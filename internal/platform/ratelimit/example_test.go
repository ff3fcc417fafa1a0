package ratelimit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
)

func ExampleLimiter_Allow() {
	rate, err := ratelimit.ParseRate("3/min") // e.g. from LOGIN_RATE
	if err != nil {
		panic(err)
	}
	l := ratelimit.New(rate, 100_000)
	now := time.Now()
	for range 4 {
		ok, retryAfter := l.Allow("203.0.113.7", now)
		fmt.Println(ok, retryAfter)
	}
	ok, _ := l.Allow("203.0.113.7", now.Add(20*time.Second))
	fmt.Println(ok)
	// Output:
	// true 0s
	// true 0s
	// true 0s
	// false 20s
	// true
}

func ExampleIPKey() {
	for _, s := range []string{"203.0.113.7", "::ffff:203.0.113.7", "2001:db8:1:2:aaaa::1", "2001:db8:1:2:bbbb::2"} {
		fmt.Println(ratelimit.IPKey(netip.MustParseAddr(s)))
	}
	// Output:
	// 203.0.113.7
	// 203.0.113.7
	// 2001:db8:1:2::/64
	// 2001:db8:1:2::/64
}

func Example_login() {
	ipLimit := ratelimit.New(ratelimit.Rate{Events: 3, Per: time.Minute}, 100_000)
	acctLimit := ratelimit.New(ratelimit.Rate{Events: 2, Per: time.Hour}, 100_000)

	type loginRequest struct {
		Email string `json:"email"`
	}
	login := httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in, err := httpx.Decode[loginRequest](r)
		if err != nil {
			return err
		}
		if err := acctLimit.Check(in.Email); err != nil {
			return err // 429 with Retry-After
		}
		// ... check the password, issue tokens ...
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	trustedProxies := 0 // cfg.TrustedProxyCount
	mux := http.NewServeMux()
	mux.Handle("POST /v1/auth/login", ipLimit.Middleware(ratelimit.ByIP(trustedProxies))(login))
	h := httpx.Chain(httpx.Routes(mux), httpx.RequestID())

	// All from one IP, httptest's 192.0.2.1: the third try for ada hits the
	// account limit, and bob's then hits the IP limit.
	for _, email := range []string{"ada@example.com", "ada@example.com", "ada@example.com", "bob@example.com"} {
		r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", strings.NewReader(`{"email":"`+email+`"}`))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(email, w.Code, w.Header().Values("Retry-After"))
	}
	// Output:
	// ada@example.com 204 []
	// ada@example.com 204 []
	// ada@example.com 429 [1800]
	// bob@example.com 429 [20]
}
