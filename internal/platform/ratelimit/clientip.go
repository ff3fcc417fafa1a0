package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the address of the client that sent r, as seen by the
// outermost proxy we trust.
//
// With trustedProxies == 0 the service is reached directly and the client is
// the TCP peer, r.RemoteAddr; X-Forwarded-For is ignored, since anyone can
// send it. With trustedProxies == N, the service sits behind N proxies (load
// balancers) that each append the address they received the request from to
// X-Forwarded-For. The client is then the Nth entry from the right: entries
// further left were written by the client and are ignored, however many
// there are.
//
// If X-Forwarded-For has fewer than N entries, or the Nth one is not an IP
// address, the header did not come through the proxies as configured (a
// request that bypassed them, or a wrong trustedProxies), and ClientIP falls
// back to r.RemoteAddr rather than believe anything the header says. Behind a
// proxy that means the proxy's address, so such requests share one limit:
// a misconfiguration shows up as too much limiting, never as a header
// that lets clients choose their own key.
//
// Entries may carry a port ("203.0.113.7:41234", "[2001:db8::1]:443"),
// surrounding spaces, and may be spread over several X-Forwarded-For header
// lines; empty entries are skipped. The result is never an IPv4-mapped IPv6
// address (::ffff:203.0.113.7 becomes 203.0.113.7) and has no zone. ClientIP
// returns an error only when it needs r.RemoteAddr and that is not an IP
// address (a Unix socket listener, a hand-made request), or trustedProxies
// is negative.
func ClientIP(r *http.Request, trustedProxies int) (netip.Addr, error) {
	if trustedProxies < 0 {
		return netip.Addr{}, errors.New("client IP: trustedProxies must not be negative")
	}
	if trustedProxies > 0 {
		if entry, ok := nthFromRight(r.Header.Values("X-Forwarded-For"), trustedProxies); ok {
			if a, ok := parseHost(entry); ok {
				return a, nil
			}
		}
	}
	a, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("client IP: remote address %q is not an IP address", r.RemoteAddr)
	}
	return a, nil
}

// nthFromRight returns the nth non-empty entry, counting from 1 at the right,
// of the comma-separated lists in values taken as one list. It scans from the
// right without splitting, since the header is client-controlled and may be
// as long as the server's header limit while only the last n entries matter.
func nthFromRight(values []string, n int) (string, bool) {
	for i := len(values) - 1; i >= 0; i-- {
		v := values[i]
		for {
			j := strings.LastIndexByte(v, ',')
			if e := strings.TrimSpace(v[j+1:]); e != "" {
				if n--; n == 0 {
					return e, true
				}
			}
			if j < 0 {
				break
			}
			v = v[:j]
		}
	}
	return "", false
}

// parseHost reads an IP address with or without a port, IPv6 with or without
// brackets, and normalizes it.
func parseHost(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		switch {
		case err == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		default:
			return netip.Addr{}, false
		}
	}
	// A zone names an interface on the peer's host: it says nothing about
	// who the client is, and would let one client appear as many keys.
	return a.Unmap().WithZone(""), true
}

// IPKey returns the rate-limit key for client address a: the address itself
// for IPv4, and its /64 prefix for IPv6 ("2001:db8:1:2::/64"), because a
// single subscriber is usually given a whole /64 and can use any of its 2^64
// addresses; keying by the full address would let one client evade any limit
// and fill the Limiter with keys. It returns "" for the zero Addr.
func IPKey(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.Is4():
		return a.String()
	case a.Is6():
		return netip.PrefixFrom(a.WithZone(""), 64).Masked().String()
	}
	return ""
}

// ByIP returns a key function for [Limiter.Middleware] that limits by client
// IP: [IPKey] of [ClientIP] with the given number of trusted proxies. A
// request whose client IP cannot be known is not limited; that happens only
// when r.RemoteAddr is not an IP address, which a client cannot cause.
func ByIP(trustedProxies int) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		a, err := ClientIP(r, trustedProxies)
		if err != nil {
			return "", false
		}
		return IPKey(a), true
	}
}
