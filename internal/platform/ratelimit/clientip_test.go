package ratelimit_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"

	"github.com/rightsize/rightsize/internal/platform/httpx"
	"github.com/rightsize/rightsize/internal/platform/ratelimit"
	"github.com/rightsize/rightsize/internal/platform/testkit"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	const peer = "10.0.0.2:51234" // the load balancer, when there is one
	tests := []struct {
		name    string
		remote  string
		xff     []string // one element per header line
		proxies int
		want    string // "" means an error
	}{
		// No proxy: the TCP peer, whatever the headers say.
		{"direct", "203.0.113.7:41234", nil, 0, "203.0.113.7"},
		{"direct ignores XFF", "203.0.113.7:41234", []string{"198.51.100.1"}, 0, "203.0.113.7"},
		{"direct IPv6", "[2001:db8::7]:443", nil, 0, "2001:db8::7"},
		{"direct IPv4-mapped", "[::ffff:203.0.113.7]:443", nil, 0, "203.0.113.7"},
		{"direct zone dropped", "[fe80::1%eth0]:443", nil, 0, "fe80::1"},
		{"direct without port", "203.0.113.7", nil, 0, "203.0.113.7"},
		{"direct garbage remote", "not-an-ip", nil, 0, ""},
		{"direct empty remote", "", nil, 0, ""},
		{"direct unix socket", "@", []string{"198.51.100.1"}, 0, ""},

		// One proxy: the rightmost entry, which it appended.
		{"one proxy", peer, []string{"203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spoofed entries ignored", peer, []string{"1.1.1.1, 8.8.8.8, 203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spoof on its own header line", peer, []string{"1.1.1.1", "203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, spaces", peer, []string{"  1.1.1.1 ,\t203.0.113.7  "}, 1, "203.0.113.7"},
		{"one proxy, no spaces", peer, []string{"1.1.1.1,203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, empty entries skipped", peer, []string{"1.1.1.1,, 203.0.113.7, ,"}, 1, "203.0.113.7"},
		{"one proxy, IPv4 with port", peer, []string{"203.0.113.7:41234"}, 1, "203.0.113.7"},
		{"one proxy, IPv6", peer, []string{"2001:db8::7"}, 1, "2001:db8::7"},
		{"one proxy, IPv6 bracketed", peer, []string{"[2001:db8::7]"}, 1, "2001:db8::7"},
		{"one proxy, IPv6 with port", peer, []string{"[2001:db8::7]:443"}, 1, "2001:db8::7"},
		{"one proxy, IPv4-mapped", peer, []string{"::ffff:203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, no header", peer, nil, 1, "10.0.0.2"},
		{"one proxy, empty header", peer, []string{""}, 1, "10.0.0.2"},
		{"one proxy, only commas", peer, []string{" , ,"}, 1, "10.0.0.2"},
		{"one proxy, garbage at its position", peer, []string{"203.0.113.7, unknown"}, 1, "10.0.0.2"},
		{"one proxy, garbage left of it ignored", peer, []string{"<script>, 203.0.113.7"}, 1, "203.0.113.7"},
		{"one proxy, hostname", peer, []string{"evil.example"}, 1, "10.0.0.2"},
		{"one proxy, bad port", peer, []string{"203.0.113.7:http"}, 1, "10.0.0.2"},
		{"one proxy, empty brackets", peer, []string{"[]"}, 1, "10.0.0.2"},
		{"one proxy, CIDR", peer, []string{"203.0.113.0/24"}, 1, "10.0.0.2"},
		{"one proxy, garbage header and remote", "garbage", []string{"junk"}, 1, ""},
		{"one proxy, header saves bad remote", "garbage", []string{"203.0.113.7"}, 1, "203.0.113.7"},

		// Two proxies (a CDN in front of the load balancer): second from the right.
		{"two proxies", peer, []string{"203.0.113.7, 172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, spoofed entries ignored", peer, []string{"6.6.6.6, 7.7.7.7, 203.0.113.7, 172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, across header lines", peer, []string{"6.6.6.6, 203.0.113.7", "172.16.0.9"}, 2, "203.0.113.7"},
		{"two proxies, too few entries", peer, []string{"203.0.113.7"}, 2, "10.0.0.2"},
		{"two proxies, IPv6 with port", peer, []string{"[2001:db8::7]:5555, 172.16.0.9"}, 2, "2001:db8::7"},

		{"negative proxies", peer, nil, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := ratelimit.ClientIP(r, ratelimit.Proxies{Count: tt.proxies})
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("got %v, want an error", got)
			case tt.want != "" && err != nil:
				t.Errorf("got error %v, want %s", err, tt.want)
			case tt.want != "" && got != netip.MustParseAddr(tt.want):
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

func TestIPKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   netip.Addr
		want string
	}{
		{netip.MustParseAddr("203.0.113.7"), "203.0.113.7"},
		{netip.MustParseAddr("::ffff:203.0.113.7"), "203.0.113.7"},
		{netip.MustParseAddr("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64"},
		{netip.MustParseAddr("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64"},
		{netip.MustParseAddr("2001:db8:1:3::1"), "2001:db8:1:3::/64"},
		{netip.MustParseAddr("fe80::1%eth0"), "fe80::/64"},
		{netip.Addr{}, ""},
	}
	for _, tt := range tests {
		if got := ratelimit.IPKey(tt.in); got != tt.want {
			t.Errorf("IPKey(%v): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzClientIP checks that no header or remote address makes ClientIP panic,
// and that whatever it returns without error is a normalized address.
func FuzzClientIP(f *testing.F) {
	seeds := []struct {
		xff, remote string
		proxies     uint8
	}{
		{"", "203.0.113.7:41234", 0},
		{"203.0.113.7", "10.0.0.2:80", 1},
		{"1.1.1.1, 203.0.113.7, 172.16.0.9", "10.0.0.2:80", 2},
		{"[2001:db8::7]:443", "[::1]:80", 1},
		{"::ffff:1.2.3.4", "[fe80::1%eth0]:80", 1},
		{",,, ,", "garbage", 3},
		{"[", "[", 1},
		{"[]:", "]:[", 1},
		{"1.2.3.4:99999", "1.2.3.4:-1", 1},
	}
	for _, s := range seeds {
		f.Add(s.xff, s.remote, s.proxies)
	}
	f.Fuzz(func(t *testing.T, xff, remote string, proxies uint8) {
		r := &http.Request{Header: http.Header{"X-Forwarded-For": {xff}}, RemoteAddr: remote}
		a, err := ratelimit.ClientIP(r, ratelimit.Proxies{Count: int(proxies % 8)})
		if err != nil {
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientIP(xff %q, remote %q, %d): got %v, want a valid, unmapped, zoneless address", xff, remote, proxies%8, a)
		}
		if ratelimit.IPKey(a) == "" {
			t.Fatalf("IPKey(%v): got empty, want a key", a)
		}
	})
}

// X-Forwarded-For is believed only from the proxies in CIDRs: the attack is
// a client that writes the header itself, directly or through our proxies,
// to be counted as someone else.
func TestClientIPWithCIDRs(t *testing.T) {
	t.Parallel()
	vpc := netip.MustParsePrefix("10.0.0.0/16")
	cdn := netip.MustParsePrefix("198.51.100.0/24")
	const lb = "10.0.0.2:51234" // our load balancer
	tests := []struct {
		name   string
		remote string
		xff    []string
		cidrs  []netip.Prefix
		count  int
		want   string
	}{
		// A peer outside CIDRs is the client, whatever it claims.
		{"direct, spoofed", "203.0.113.7:41234", []string{"1.2.3.4"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"direct, spoofed with a count", "203.0.113.7:41234", []string{"1.2.3.4"}, []netip.Prefix{vpc}, 1, "203.0.113.7"},
		{"direct, spoofing a proxy", "203.0.113.7:41234", []string{"1.2.3.4, 10.0.0.9"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"direct IPv6, spoofed", "[2001:db8::7]:443", []string{"1.2.3.4"}, []netip.Prefix{vpc}, 0, "2001:db8::7"},
		{"direct IPv4-mapped peer, spoofed", "[::ffff:203.0.113.7]:443", []string{"10.0.0.9"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},

		// Through the load balancer: the first entry from the right outside CIDRs.
		{"through the LB", lb, []string{"203.0.113.7"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"through the LB, spoofed entries ignored", lb, []string{"1.1.1.1, 8.8.8.8, 203.0.113.7"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"through the LB, spoofed proxy entries ignored", lb, []string{"10.0.0.5, 203.0.113.7"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"through the LB, IPv4-mapped peer", "[::ffff:10.0.0.2]:80", []string{"203.0.113.7"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"through the LB, no header", lb, nil, []netip.Prefix{vpc}, 0, "10.0.0.2"},
		{"through the LB, garbage", lb, []string{"203.0.113.7, unknown"}, []netip.Prefix{vpc}, 0, "10.0.0.2"},
		{"through the LB, garbage left of the client", lb, []string{"<script>, 203.0.113.7"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},
		{"an internal client through the LB", lb, []string{"10.0.3.3"}, []netip.Prefix{vpc}, 0, "10.0.3.3"},
		{"internal entries then the client", lb, []string{"6.6.6.6, 203.0.113.7, 10.0.9.9, 10.0.8.8"}, []netip.Prefix{vpc}, 0, "203.0.113.7"},

		// A count caps the walk: an internal client's own entries are not read.
		{"count 1, internal client spoofing", lb, []string{"6.6.6.6, 10.0.3.3"}, []netip.Prefix{vpc}, 1, "10.0.3.3"},
		{"count 1", lb, []string{"6.6.6.6, 203.0.113.7"}, []netip.Prefix{vpc}, 1, "203.0.113.7"},
		{"count 2, too few entries", lb, []string{"203.0.113.7"}, []netip.Prefix{vpc}, 2, "203.0.113.7"},
		{"walk bounded at 10 hops", lb, []string{"6.6.6.6, 10.0.0.10, 10.0.0.9, 10.0.0.8, 10.0.0.7, 10.0.0.6, 10.0.0.5, 10.0.0.4, 10.0.0.3, 10.0.0.2, 10.0.0.1"}, []netip.Prefix{vpc}, 0, "10.0.0.10"},

		// A CDN in front of the LB: its entry is skipped as a proxy.
		{"through the CDN and the LB", lb, []string{"203.0.113.7, 198.51.100.4"}, []netip.Prefix{vpc, cdn}, 0, "203.0.113.7"},
		{"through the CDN, spoofed", lb, []string{"1.1.1.1, 203.0.113.7, 198.51.100.4"}, []netip.Prefix{vpc, cdn}, 0, "203.0.113.7"},
		// Bypassing the CDN to reach the LB: the LB's entry is the attacker,
		// who cannot hide behind a forged CDN address. A count of 2 alone
		// would believe the forged 1.1.1.1.
		{"bypassing the CDN", lb, []string{"1.1.1.1, 203.0.113.66"}, []netip.Prefix{vpc, cdn}, 0, "203.0.113.66"},
		{"bypassing the CDN, forging its entry", lb, []string{"1.1.1.1, 198.51.100.4, 203.0.113.66"}, []netip.Prefix{vpc, cdn}, 0, "203.0.113.66"},

		{"trusted peer, bad remote", "garbage", []string{"203.0.113.7"}, []netip.Prefix{vpc}, 0, ""},
		{"everyone trusted, count 1 is today's count 1", "203.0.113.9:1", []string{"6.6.6.6, 203.0.113.7"}, []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, 1, "203.0.113.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, err := ratelimit.ClientIP(r, ratelimit.Proxies{Count: tt.count, CIDRs: tt.cidrs})
			switch {
			case tt.want == "" && err == nil:
				t.Errorf("got %v, want an error", got)
			case tt.want != "" && err != nil:
				t.Errorf("got error %v, want %s", err, tt.want)
			case tt.want != "" && got != netip.MustParseAddr(tt.want):
				t.Errorf("got %v, want %s", got, tt.want)
			}
		})
	}
}

// FuzzClientIPWithCIDRs checks that whatever a client writes in
// X-Forwarded-For, a peer outside the trusted CIDRs is its own client IP,
// and that a trusted peer yields a normalized address.
func FuzzClientIPWithCIDRs(f *testing.F) {
	f.Add("1.2.3.4", "203.0.113.7:1", uint8(0))
	f.Add("1.2.3.4, 10.0.0.9", "10.0.0.2:1", uint8(1))
	f.Add("[::ffff:10.0.0.1]:80, ,,", "[::ffff:10.0.0.2]:80", uint8(2))
	f.Add("10.0.0.1,10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5,10.0.0.6,10.0.0.7,10.0.0.8,10.0.0.9,10.0.0.10,10.0.0.11", "10.0.0.2:1", uint8(0))
	f.Add("[", "[fe80::1%eth0]:80", uint8(3))
	p := ratelimit.Proxies{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("fd00::/8")}}
	f.Fuzz(func(t *testing.T, xff, remote string, count uint8) {
		r := &http.Request{Header: http.Header{"X-Forwarded-For": {xff}}, RemoteAddr: remote}
		p := p
		p.Count = int(count % 12)
		a, err := ratelimit.ClientIP(r, p)
		if err != nil {
			return
		}
		if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
			t.Fatalf("ClientIP(xff %q, remote %q): got %v, want a valid, unmapped, zoneless address", xff, remote, a)
		}
		peer, perr := ratelimit.ClientIP(&http.Request{RemoteAddr: remote}, ratelimit.Proxies{})
		if perr == nil && !p.CIDRs[0].Contains(peer) && !p.CIDRs[1].Contains(peer) && a != peer {
			t.Fatalf("ClientIP(xff %q, remote %q): got %v from an untrusted peer, want the peer %v", xff, remote, a, peer)
		}
	})
}

// The chain resolves the client IP once; ByIP and the access log use it.
func TestResolveClientIP(t *testing.T) {
	t.Parallel()
	p := ratelimit.Proxies{Count: 1, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}}
	for _, tt := range []struct{ remote, xff, want string }{
		{"10.0.0.2:1", "6.6.6.6, 7.7.7.7, 203.0.113.7", "203.0.113.7"},
		{"203.0.113.9:1", "6.6.6.6, 7.7.7.7, 203.0.113.7", "203.0.113.9"},
	} {
		logs := &testkit.Logs{}
		var key string
		h := httpx.Chain(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				// ByIP's own count (3) would pick another entry: the chain's answer wins.
				key, _ = ratelimit.ByIP(3)(r)
				httpx.Logger(r.Context()).Warn("suspicious")
			}),
			httpx.RequestID(),
			ratelimit.ResolveClientIP(p),
			httpx.AccessLog(slog.New(slog.NewJSONHandler(logs, nil))),
		)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		r.Header.Set("X-Forwarded-For", tt.xff)
		h.ServeHTTP(httptest.NewRecorder(), r)
		if key != tt.want {
			t.Errorf("remote %s: ByIP key got %q, want %q", tt.remote, key, tt.want)
		}
		recs := logs.Records(t)
		for _, msg := range []string{"suspicious", "request"} {
			i := slices.IndexFunc(recs, func(l map[string]any) bool { return l["msg"] == msg })
			if i < 0 {
				t.Errorf("remote %s: no %q line in %s", tt.remote, msg, logs)
			} else if recs[i]["client_ip"] != tt.want {
				t.Errorf("remote %s: %q line got client_ip %v, want %s", tt.remote, msg, recs[i]["client_ip"], tt.want)
			}
		}
	}
}
