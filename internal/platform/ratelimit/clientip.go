package ratelimit

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/rightsize/rightsize/internal/platform/httpx"
)

// Proxies says which proxies in front of the service are believed when they
// name the client in X-Forwarded-For: TRUSTED_PROXY_COUNT and
// TRUSTED_PROXY_CIDRS. The zero Proxies believes none.
type Proxies struct {
	// Count is how many proxies append to X-Forwarded-For. Without CIDRs the
	// client is the Count-th entry from the right, whoever the TCP peer is;
	// with CIDRs it caps how many entries are read.
	Count int
	// CIDRs are the proxies' addresses. When set, the header is read only
	// if the TCP peer is in one of them, and entries in them are skipped as
	// further proxies.
	CIDRs []netip.Prefix
}

// maxHops bounds the walk through X-Forwarded-For when CIDRs are given
// without a Count: no real chain of proxies is longer, and the bound keeps
// the work per request small whatever the header holds.
const maxHops = 10

// ClientIP returns the address of the client that sent r, as seen by the
// outermost proxy we trust. The result is never an IPv4-mapped IPv6 address
// (::ffff:203.0.113.7 becomes 203.0.113.7) and has no zone. Entries of
// X-Forwarded-For may carry a port ("203.0.113.7:41234",
// "[2001:db8::1]:443"), surrounding spaces, and may be spread over several
// header lines; empty entries are skipped.
//
// With the zero Proxies the service is reached directly and the client is
// the TCP peer, r.RemoteAddr; X-Forwarded-For is ignored, since anyone can
// send it.
//
// With CIDRs, X-Forwarded-For counts only if the TCP peer is in one of
// them: a client that reaches the service without passing through a proxy
// of ours is the peer, whatever it wrote in the header. From a trusted peer
// the header is walked from the right, each entry having been appended by
// the hop to its right: an entry in CIDRs is another proxy of ours, and the
// first entry outside them is the client. The walk stops at Count entries
// (maxHops when Count is 0), the last one read being the client; and at an
// entry that is not an IP address, which a proxy of ours did not write, the
// client being the last trusted hop. This is what makes a proxy list robust
// to a client that bypasses an outer proxy (a CDN) to reach an inner one
// directly: the inner proxy's entry, the client's real address, is outside
// CIDRs and ends the walk, however many entries the client forged to its left.
//
// Without CIDRs (Count > 0: Cloud Run, where the platform's proxy is the only
// way in and its addresses are not published), every peer is believed and
// the client is the Count-th entry from the right: entries further left were
// written by the client and are ignored, however many there are. If the
// header has fewer than Count entries, or that entry is not an IP address,
// the header did not come through the proxies as configured, and ClientIP
// falls back to r.RemoteAddr rather than believe anything it says: behind a
// proxy that means the proxy's address, so such requests share one limit; a
// misconfiguration shows up as too much limiting, never as a header that
// lets clients choose their own key.
//
// ClientIP returns an error only when it needs r.RemoteAddr and that is not
// an IP address (a Unix socket listener, a hand-made request), or Count is
// negative.
func ClientIP(r *http.Request, p Proxies) (netip.Addr, error) {
	if p.Count < 0 {
		return netip.Addr{}, errors.New("client IP: proxy count must not be negative")
	}
	if len(p.CIDRs) == 0 && p.Count > 0 {
		if entry, ok := nthFromRight(r.Header.Values("X-Forwarded-For"), p.Count); ok {
			if a, ok := parseHost(entry); ok {
				return a, nil
			}
		}
	}
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, fmt.Errorf("client IP: remote address %q is not an IP address", r.RemoteAddr)
	}
	if len(p.CIDRs) == 0 || !p.trusts(peer) {
		return peer, nil
	}
	hops := p.Count
	if hops == 0 {
		hops = maxHops
	}
	client := peer
	for n := 1; n <= hops && p.trusts(client); n++ {
		entry, ok := nthFromRight(r.Header.Values("X-Forwarded-For"), n)
		if !ok {
			break
		}
		a, ok := parseHost(entry)
		if !ok {
			break
		}
		client = a
	}
	return client, nil
}

// trusts reports whether a is one of p's proxies.
func (p Proxies) trusts(a netip.Addr) bool {
	for _, c := range p.CIDRs {
		if c.Contains(a) {
			return true
		}
	}
	return false
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
// IP: [IPKey] of the client address the request's chain recorded
// ([ResolveClientIP], with the process's whole proxy settings), or, in a
// chain without it, of [ClientIP] with trustedProxies as the only setting. A
// request whose client IP cannot be known is not limited; that happens only
// when r.RemoteAddr is not an IP address, which a client cannot cause.
func ByIP(trustedProxies int) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		a, resolved := httpx.ClientIPFrom(r.Context())
		if !resolved {
			var err error
			if a, err = ClientIP(r, Proxies{Count: trustedProxies}); err != nil {
				return "", false
			}
		}
		if !a.IsValid() {
			return "", false
		}
		return IPKey(a), true
	}
}

// ResolveClientIP returns a middleware that works out each request's client
// address once, with [ClientIP] and p, and records it with
// httpx.SetClientIP, where the access log, the request's logger and [ByIP]
// find it: rate limits and logs then name the same client. Mount it inside
// httpx.RequestID and outside everything that logs or limits by IP.
func ResolveClientIP(p Proxies) httpx.Middleware {
	p.CIDRs = slices.Clone(p.CIDRs)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, _ := ClientIP(r, p) // the zero Addr when it cannot be known
			httpx.SetClientIP(r.Context(), a)
			next.ServeHTTP(w, r)
		})
	}
}
