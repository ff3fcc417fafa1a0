package ratelimit_test

import (
	"fmt"
	"net/netip"
	"time"

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
